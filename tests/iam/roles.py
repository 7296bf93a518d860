"""Each function's role as the template defines it, after the SAM transform and
with every intrinsic resolved for one deployment (``Stack``): its inline
policies, the AWS::IAM::Policy resources attached to it and the template's own
managed policies. Nothing is restated: the statements are the template's."""

from __future__ import annotations

from typing import Any

from msk_privatelink_dev.local.stack import Stack
from tests.iam.policy import Statement

# AWS managed policies the roles attach. Their documents are AWS's, not the
# template's; the handlers make none of their calls (Lambda uploads traces
# with them), so they add no statement here.
AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"


def role_statements(stack: Stack, role_id: str) -> list[Statement]:
    """Every identity-policy statement that applies to ``role_id``."""
    resources = stack.resources
    role = resources[role_id]
    if role["Type"] != "AWS::IAM::Role":
        raise ValueError(f"{role_id} is a {role['Type']}, not a role")
    statements: list[Statement] = []
    props = role.get("Properties", {})
    for policy in props.get("Policies", []):
        statements += _statements(
            stack, f"{role_id}/{policy['PolicyName']}", policy["PolicyDocument"]
        )
    for arn in props.get("ManagedPolicyArns", []):
        resolved = stack.resolve(arn)
        if isinstance(resolved, str) and resolved.startswith(AWS_MANAGED_PREFIX):
            continue
        raise ValueError(f"{role_id}: managed policy {arn} is not modelled")
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Policy" or not stack.exists(logical_id):
            continue
        attached = [r.get("Ref") for r in resource["Properties"].get("Roles", [])]
        if role_id in attached:
            document = resource["Properties"]["PolicyDocument"]
            statements += _statements(stack, logical_id, document)
    return statements


def _statements(stack: Stack, owner: str, document: dict[str, Any]) -> list[Statement]:
    resolved = stack.resolve(document)
    body = resolved["Statement"]
    return [
        Statement(owner, str(s.get("Sid", index)), s)
        for index, s in enumerate(body if isinstance(body, list) else [body])
    ]
