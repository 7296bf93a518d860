"""Security lint of template.yaml: checkov (pinned), inline suppressions, IAM and principals.

checkov runs through scripts/checkov.sh, in its own virtualenv, on the
template as written and after the SAM transform. The IAM and principal checks
here read the transformed template too, so the roles, permissions and
policies SAM generates are held to the same rules as the ones written by
hand (tests/template/test_template.py checks the hand-written statements).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.template.test_template import (
    iam_action_catalogue,
    is_lambda_vpc_eni_grant,
    resource_types,
)

pytestmark = pytest.mark.template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SCRIPT = REPO / "scripts" / "checkov.sh"
CONFIG = REPO / ".checkov.yaml"
CHECKOV_UNAVAILABLE = 3  # scripts/checkov.sh: checkov could not be installed
CHECKOV_VERSION = "3.3.30"

# The only AWS managed policy a function role may carry: X-Ray's write
# actions have no resource-level permissions (see the roles in template.yaml).
ALLOWED_MANAGED_POLICIES = {"AWSXRayDaemonWriteAccess"}
READ_ONLY_VERBS = ("Describe", "Get", "List")
CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")
MIN_REASON_WORDS = 8


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def load_template() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    # JSON round trip: plain dicts/lists/str.
    return dict(json.loads(json.dumps(yaml_parse(TEMPLATE.read_text(encoding="utf-8")))))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any], monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicyNames:
        def load(self) -> dict[str, str]:
            return {}

    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    source = json.loads(json.dumps(template))
    for name, resource in source["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://placeholder-bucket/{name}.zip"
    return dict(transform(source, {}, NoManagedPolicyNames()))


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def inline_skips(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in template["Resources"].items():
        checkov = (resource.get("Metadata") or {}).get("checkov") or {}
        for skip in checkov.get("skip", []):
            yield name, skip


# ---------------------------------------------------------------------------
# checkov
# ---------------------------------------------------------------------------
def run_checkov(report: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [
            str(SCRIPT),
            str(TEMPLATE.relative_to(REPO)),
            "--compact",
            "-o",
            "cli",
            "-o",
            "json",
            "--output-file-path",
            f"console,{report}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # the first run installs checkov
        check=False,
    )


def test_checkov_passes_and_every_suppression_is_inline_and_in_use(
    template: dict[str, Any], tmp_path: Path
) -> None:
    # Given the pinned checkov (installed on first use)
    report_path = tmp_path / "checkov.json"

    # When it scans the template as written and as transformed by SAM
    result = run_checkov(report_path)
    output = result.stdout[-20_000:] + result.stderr[-5_000:]
    if result.returncode == CHECKOV_UNAVAILABLE:
        message = f"checkov could not be installed:\n{output}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)

    # Then nothing fails and nothing failed to parse
    assert report_path.is_file(), output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    [report] = as_list(report)  # one framework: cloudformation
    assert report["summary"]["checkov_version"] == CHECKOV_VERSION
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]})"
        for c in report["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0, output
    assert result.returncode == 0, output
    assert report["summary"]["passed"] > 0

    # And both files were scanned: the SAM-generated roles were checked
    scanned = {c["resource"] for c in report["results"]["passed_checks"]}
    assert "AWS::Serverless::Function.ReconcilerFunction" in scanned
    assert "AWS::Lambda::Function.ReconcilerFunction" in scanned

    # And every suppression comes from template.yaml, with its reason, and
    # every inline skip still suppresses something (no stale skips)
    skipped = {
        (c["resource"].split(".", 1)[1], c["check_id"]): c["check_result"].get("suppress_comment")
        for c in report["results"]["skipped_checks"]
        if c["file_path"] == "/template.yaml"
    }
    declared = {(name, skip["id"]): skip["comment"] for name, skip in inline_skips(template)}
    assert skipped == declared


def test_checkov_configuration_has_no_global_suppressions() -> None:
    import yaml

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert config == {"framework": ["cloudformation"], "compact": True, "skip-download": True}
    script = SCRIPT.read_text(encoding="utf-8")
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
def policy_documents(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Identity-policy documents written in template.yaml itself."""
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            yield from (policy["PolicyDocument"] for policy in props.get("Policies", []))
        elif resource["Type"] == "AWS::Serverless::Function":
            yield from (p for p in props.get("Policies", []) if isinstance(p, dict))


def managed_policy_name(arn: Any) -> str:
    text = arn["Fn::Sub"] if isinstance(arn, dict) and "Fn::Sub" in arn else arn
    assert isinstance(text, str), f"unexpected managed policy ARN {arn!r}"
    return text.rsplit("/", 1)[-1]


def role_statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        yield from as_list(policy["PolicyDocument"]["Statement"])


def is_mutating(action: str) -> bool:
    verb = action.split(":", 1)[1]
    return not verb.startswith(READ_ONLY_VERBS)


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
    # Given every statement granted on "*" in the parsed template
    star_sids = {
        statement["Sid"]
        for document in policy_documents(template)
        for statement in as_list(document.get("Statement", []))
        if "*" in as_list(statement.get("Resource", []))
    }

    # When the source text is read for the comment above each of them
    lines = TEMPLATE.read_text(encoding="utf-8").splitlines()
    explained = set()
    for index, line in enumerate(lines):
        match = re.match(r"^\s*- Sid: (\w+)\s*$", line)
        if match and lines[index - 1].lstrip().startswith("#"):
            explained.add(match.group(1))

    # Then each one has its reason right above it
    assert star_sids, "expected the Describe statement without resource-level permissions"
    assert star_sids <= explained


# ---------------------------------------------------------------------------
# Principals
# ---------------------------------------------------------------------------
def principals(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Principal", "NotPrincipal", "AllowedPrincipals"):
                yield value
            yield from principals(value)
    elif isinstance(node, list):
        for item in node:
            yield from principals(item)


def grants_everyone(principal: Any) -> bool:
    if isinstance(principal, dict):
        return any("*" in as_list(value) for value in principal.values())
    return "*" in as_list(principal)


def test_no_star_principal_anywhere_as_deployed(transformed: dict[str, Any]) -> None:
    found = list(principals(transformed["Resources"]))
    # The DLQ policy, the Lambda permissions and the roles' trust policies.
    assert len(found) >= 5

    for principal in found:
        assert not grants_everyone(principal), principal
    assert "NotPrincipal" not in json.dumps(transformed["Resources"])
