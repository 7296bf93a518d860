"""Onboarding and offboarding executed by Step Functions (moto's engine), with
the real task, callback and consumer-sync handlers, on three accounts."""

from __future__ import annotations

import json

import pytest

from tests.integration.harness import count_all_calls, is_mutating
from tests.workflow.harness import (
    OTHER_REGION,
    OTHER_REGION_ACCOUNT,
    SAME_REGION_ACCOUNT,
    Workflows,
    reconcile_now,
)

pytestmark = pytest.mark.workflow


def cause_of(result: dict[str, object]) -> str:
    return str(result.get("cause", ""))


def test_both_consumers_onboard_rerun_is_a_no_op_and_offboarding_leaves_nothing(
    flows: Workflows,
) -> None:
    region = flows.w.aws.region
    same = flows.onboarding_input(SAME_REGION_ACCOUNT)
    other = flows.onboarding_input(OTHER_REGION_ACCOUNT)

    # Same Region: principal on every service, connections accepted, ACTIVE.
    first = flows.run("onboarding", same)
    assert first["status"] == "SUCCEEDED", cause_of(first)
    side = flows.provider_side(SAME_REGION_ACCOUNT, region)
    assert len(side["allowed_on"]) == side["services"] == 3
    assert side["live_connections"] == 3
    assert side["rules"] == []  # no rule per tenant
    assert side["subscribed"]
    assert side["statements"]
    assert flows.stacks[SAME_REGION_ACCOUNT].consumer.state()["endpoints"]

    # Cross-Region: the Region is offered by every service while it is a tenant.
    second = flows.run("onboarding", other)
    assert second["status"] == "SUCCEEDED", cause_of(second)
    side = flows.provider_side(OTHER_REGION_ACCOUNT, OTHER_REGION)
    assert len(side["allowed_on"]) == len(side["region_on"]) == 3
    for account in (SAME_REGION_ACCOUNT, OTHER_REGION_ACCOUNT):
        tenant = flows.tenant(account)
        assert tenant is not None
        assert tenant.state == "ACTIVE"
        assert not tenant.token_hash

    # The same request again: a no-op success that writes nothing.
    with count_all_calls() as calls:
        again = flows.run("onboarding", same)
    assert again["status"] == "SUCCEEDED"
    assert "AlreadyOnboarded" in flows.entered(again["executionArn"])
    writes = {name for name in calls.calls if is_mutating(name)}
    assert writes <= {"Invoke", "StartExecution"}, writes

    # Offboarding the cross-Region consumer removes it everywhere.
    gone = flows.run(
        "offboarding",
        {"clusterArn": flows.w.cluster_arn, "consumerAccountId": OTHER_REGION_ACCOUNT},
    )
    assert gone["status"] == "SUCCEEDED", cause_of(gone)
    assert flows.is_clean(OTHER_REGION_ACCOUNT, OTHER_REGION)
    tenant = flows.tenant(OTHER_REGION_ACCOUNT)
    assert tenant is not None
    assert tenant.state == "OFFBOARDED"
    assert flows.stacks[OTHER_REGION_ACCOUNT].consumer.state()["endpoints"] == []
    # The other tenant is untouched.
    side = flows.provider_side(SAME_REGION_ACCOUNT, region)
    assert len(side["allowed_on"]) == 3
    assert side["live_connections"] == 3


def test_a_different_request_for_an_active_tenant_is_refused(flows: Workflows) -> None:
    assert flows.run("onboarding", flows.onboarding_input(SAME_REGION_ACCOUNT))["status"] == (
        "SUCCEEDED"
    )
    before = flows.tenant(SAME_REGION_ACCOUNT)

    other_vpc = flows.onboarding_input(SAME_REGION_ACCOUNT, vpcId="vpc-0123456789abcdef0")
    result = flows.run("onboarding", other_vpc)

    assert result["status"] == "FAILED"
    assert result["error"] == "OnboardingRejected"
    assert "TenantConflictError" in cause_of(result)
    assert "offboard it first" in cause_of(result)
    assert flows.tenant(SAME_REGION_ACCOUNT) == before
    assert len(flows.provider_side(SAME_REGION_ACCOUNT, flows.w.aws.region)["allowed_on"]) == 3


def test_a_consumer_that_never_answers_is_compensated(flows: Workflows) -> None:
    flows.silent.add(OTHER_REGION_ACCOUNT)

    result = flows.run(
        "onboarding", flows.onboarding_input(OTHER_REGION_ACCOUNT, callbackTimeoutSeconds=1)
    )

    assert result["status"] == "FAILED"
    assert result["error"] == "OnboardingFailed"
    assert "States.Timeout" in cause_of(result)
    assert "Compensate" in flows.entered(result["executionArn"])
    tenant = flows.tenant(OTHER_REGION_ACCOUNT)
    assert tenant is not None
    assert tenant.state == "FAILED"
    assert "States.Timeout" in tenant.reason
    assert flows.is_clean(OTHER_REGION_ACCOUNT, OTHER_REGION)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"consumerAccountId": "12345"}, "consumerAccountId"),
        ({"consumerAccountId": "123456789012"}, "consumerAccountId"),
        ({"consumerRegion": "moon-1"}, "consumerRegion"),
        ({"consumerRegion": "ap-south-2"}, "consumerRegion"),
        ({"vpcId": "vpc-nothex!"}, "vpcId"),
        ({"subnetIds": ["subnet-xyz"]}, "subnetIds"),
        ({"securityGroupIds": ["group-1"]}, "securityGroupIds"),
        ({"availabilityZoneIds": ["use1-az1", "use1-az9", "use1-az4"]}, "availabilityZoneIds"),
        ({"availabilityZoneIds": []}, "availabilityZoneIds"),
        (
            {"clusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/other/abc-1"},
            "clusterArn",
        ),
    ],
)
def test_invalid_input_fails_at_validation_with_zero_writes(
    flows: Workflows, overrides: dict[str, object], field: str
) -> None:
    document = flows.onboarding_input(SAME_REGION_ACCOUNT, **overrides)

    with count_all_calls() as calls:
        result = flows.run("onboarding", document)

    assert result["status"] == "FAILED"
    assert result["error"] == "OnboardingRejected"
    cause = json.loads(cause_of(result))
    assert cause["errorType"] == "InvalidRequestError"
    assert field in cause["errorMessage"]
    assert flows.entered(result["executionArn"]) == ["Validate", "Rejected"]
    writes = {name for name in calls.calls if is_mutating(name)}
    assert writes <= {"Invoke", "StartExecution"}, writes
    assert flows.tenant(SAME_REGION_ACCOUNT) is None


def test_a_scale_out_reaches_an_active_consumer_end_to_end(flows: Workflows) -> None:
    region = flows.w.aws.region
    assert flows.run("onboarding", flows.onboarding_input(SAME_REGION_ACCOUNT))["status"] == (
        "SUCCEEDED"
    )

    # When the cluster grows and the reconciler follows it
    flows.w.aws.msk.scale(flows.w.cluster_arn, 6)
    reconcile_now(flows.w)
    # the tenant rule carries BrokerEndpointsChanged to the consumer, whose
    # report (no token) makes the callback accept the new connections.
    flows.pump()
    flows.pump()

    side = flows.provider_side(SAME_REGION_ACCOUNT, region)
    assert side["services"] == len(side["allowed_on"]) == 6
    ec2 = flows.w.aws.client("ec2")
    states = [
        c["VpcEndpointState"]
        for c in ec2.describe_vpc_endpoint_connections()["VpcEndpointConnections"]
        if c["VpcEndpointOwner"] == SAME_REGION_ACCOUNT
    ]
    assert states == ["available"] * 6
    assert {"verdict": "accepted", "why": "3 connection(s)"} in flows.callbacks
