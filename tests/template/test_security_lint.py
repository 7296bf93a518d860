"""Security lint of template.yaml: checkov (pinned), inline suppressions, IAM and principals.

checkov runs through scripts/checkov.sh, in its own virtualenv, on the
template as written and after the SAM transform. The IAM and principal checks
here read the transformed template too, so the roles, permissions and
policies SAM generates are held to the same rules as the ones written by
hand (tests/template/test_template.py checks the hand-written statements).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.template.support import (
    CHECKOV_SCRIPT,
    CHECKOV_VERSION,
    PROVIDER_TEMPLATE,
    REPO,
    as_list,
    assert_checkov_passes,
    grants_everyone,
    iam_action_catalogue,
    inline_skips,
    is_lambda_vpc_eni_grant,
    is_mutating,
    principals,
    resource_types,
    star_statements_explained,
)

pytestmark = pytest.mark.template

TEMPLATE = PROVIDER_TEMPLATE
CONFIG = REPO / ".checkov.yaml"

# The only AWS managed policy a function role may carry: X-Ray's write
# actions have no resource-level permissions (see the roles in template.yaml).
ALLOWED_MANAGED_POLICIES = {"AWSXRayDaemonWriteAccess"}
CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")
MIN_REASON_WORDS = 8


# ---------------------------------------------------------------------------
# checkov
# ---------------------------------------------------------------------------
def test_checkov_passes_and_every_suppression_is_inline_and_in_use(
    template: dict[str, Any], tmp_path: Path
) -> None:
    # Given the pinned checkov (installed on first use), scanning the
    # template as written and as transformed by SAM: nothing fails, nothing
    # failed to parse, every suppression comes from template.yaml and every
    # inline skip still suppresses something (no stale skips)
    scanned = assert_checkov_passes(TEMPLATE, template, tmp_path / "checkov.json")

    # And both files were scanned: the SAM-generated roles were checked
    assert "AWS::Serverless::Function.ReconcilerFunction" in scanned
    assert "AWS::Lambda::Function.ReconcilerFunction" in scanned


def test_checkov_configuration_has_no_global_suppressions() -> None:
    import yaml

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert config == {"framework": ["cloudformation"], "compact": True, "skip-download": True}
    script = CHECKOV_SCRIPT.read_text(encoding="utf-8")
    for option in ("--skip-check", "--soft-fail", "--check ", "--baseline", "--hard-fail-on"):
        assert option not in script, option
    pins = (REPO / "requirements" / "checkov.txt").read_text(encoding="utf-8")
    assert f"checkov=={CHECKOV_VERSION}\n" in pins
    requirements = [line for line in pins.splitlines() if line.strip() and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[^=\s]+", line) for line in requirements)


def test_every_inline_suppression_names_a_check_and_says_why(template: dict[str, Any]) -> None:
    skips = list(inline_skips(template))
    assert skips  # the template does suppress some checks: the test must see them

    for name, skip in skips:
        assert set(skip) == {"id", "comment"}, f"{name}: {skip}"
        assert CHECK_ID.match(skip["id"]), f"{name}: {skip['id']}"
        comment = str(skip["comment"]).strip()
        assert len(comment.split()) >= MIN_REASON_WORDS, f"{name}/{skip['id']}: {comment!r}"
    ids = [(name, skip["id"]) for name, skip in skips]
    assert len(ids) == len(set(ids)), "a check is skipped twice on one resource"


# ---------------------------------------------------------------------------
# IAM, as deployed (after the SAM transform)
# ---------------------------------------------------------------------------
def managed_policy_name(arn: Any) -> str:
    text = arn["Fn::Sub"] if isinstance(arn, dict) and "Fn::Sub" in arn else arn
    assert isinstance(text, str), f"unexpected managed policy ARN {arn!r}"
    return text.rsplit("/", 1)[-1]


def role_statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        yield from as_list(policy["PolicyDocument"]["Statement"])


def test_function_roles_carry_no_broad_managed_policies(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    resources = transformed["Resources"]
    functions = {n: r for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert functions

    for name, function in functions.items():
        # Each function's role is declared in template.yaml: SAM would
        # otherwise attach AWSLambdaBasicExecutionRole (logs on "*") and, for
        # SQS events, AWSLambdaSQSQueueExecutionRole (every queue).
        [role_name, attribute] = function["Properties"]["Role"]["Fn::GetAtt"]
        assert attribute == "Arn"
        assert template["Resources"][role_name]["Type"] == "AWS::IAM::Role", name
        role = resources[role_name]
        managed = {
            managed_policy_name(arn) for arn in role["Properties"].get("ManagedPolicyArns", [])
        }
        assert managed <= ALLOWED_MANAGED_POLICIES, f"{role_name}: {managed}"
        for statement in role_statements(role):
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement
            assert "NotResource" not in statement


def test_deployed_roles_mutate_nothing_on_star_without_a_tag_condition(
    transformed: dict[str, Any],
) -> None:
    roles = {n: r for n, r in transformed["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert roles
    catalogue = iam_action_catalogue()

    for name, role in roles.items():
        for statement in role_statements(role):
            if "*" not in as_list(statement.get("Resource", [])):
                continue
            if is_lambda_vpc_eni_grant(name, statement.get("Sid"), as_list(statement["Action"])):
                # Lambda's VPC network interfaces (checked in test_template.py).
                continue
            # Writes IAM cannot scope to any resource can only be granted on "*".
            mutating = [
                a
                for a in as_list(statement["Action"])
                if is_mutating(a) and resource_types(catalogue, a) != []
            ]
            tag_keys = [
                key
                for block in statement.get("Condition", {}).values()
                for key in block
                if key.startswith(("aws:ResourceTag/", "aws:RequestTag/"))
            ]
            assert not mutating or tag_keys, f"{name}/{statement.get('Sid')}: {mutating} on '*'"


def test_every_star_statement_says_why_in_a_comment(template: dict[str, Any]) -> None:
    # Given every statement granted on "*" in the parsed template, and the
    # source text read for the comment above each of them
    star_sids, explained = star_statements_explained(template, TEMPLATE)

    # Then each one has its reason right above it
    assert star_sids, "expected the Describe statement without resource-level permissions"
    assert star_sids <= explained


# ---------------------------------------------------------------------------
# Principals
# ---------------------------------------------------------------------------
def test_no_star_principal_anywhere_as_deployed(transformed: dict[str, Any]) -> None:
    found = list(principals(transformed["Resources"]))
    # The DLQ policy, the Lambda permissions and the roles' trust policies.
    assert len(found) >= 5

    for principal in found:
        assert not grants_everyone(principal), principal
    assert "NotPrincipal" not in json.dumps(transformed["Resources"])
