"""Fault suite: every mutating onboarding step fails in turn (before its
writes, or after them as a crash would), and the compensation leaves the
provider side with nothing of the consumer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.workflow.harness import (
    OTHER_REGION,
    OTHER_REGION_ACCOUNT,
    SAME_REGION_ACCOUNT,
    Workflows,
)

pytestmark = [pytest.mark.workflow, pytest.mark.faults]


class InjectedFault(Exception):
    """A step's function failing (terminal: Step Functions does not retry it)."""


MUTATING_STEPS = [
    "register",
    "allow",
    "subscribe",
    "request_consumer",
    "accept",
    "activate",
    "announce_onboarded",
]


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("action", MUTATING_STEPS)
def test_a_failing_step_is_compensated_and_leaves_nothing(
    flows: Workflows, action: str, when: str, record_property: Callable[[str, object], None]
) -> None:
    record_property("compensated_fault", f"{action} fails {when} its writes")
    failed: list[str] = []

    def fail(event: dict[str, Any]) -> None:
        if event.get("action") == action:
            failed.append(action)
            raise InjectedFault(f"{action} failed ({when} its writes)")

    if action == "request_consumer" and when == "after":
        # The request went out, then the function died. The consumer would
        # act after the revocation, when AWS refuses its CreateVpcEndpoint;
        # moto does not check endpoint service allow-lists, so here the
        # consumer stays silent instead of getting endpoints AWS would refuse.
        flows.silent.add(OTHER_REGION_ACCOUNT)
    if when == "before":
        flows.invoke.fault = fail
    else:
        flows.invoke.fault_after = fail
    # Cross-Region: the Region on the services must go as well.
    document = flows.onboarding_input(OTHER_REGION_ACCOUNT)

    result = flows.run("onboarding", document)

    assert failed == [action]
    assert result["status"] == "FAILED"
    assert result["error"] == "OnboardingFailed", result.get("cause")
    assert "InjectedFault" in str(result["cause"])
    states = flows.entered(result["executionArn"])
    assert "Compensate" in states
    assert "CompensationFailed" not in states
    tenant = flows.tenant(OTHER_REGION_ACCOUNT)
    if action == "register" and when == "before":
        assert tenant is None
    else:
        assert tenant is not None
        assert tenant.state == "FAILED"
        assert "InjectedFault" in tenant.reason
    assert flows.is_clean(OTHER_REGION_ACCOUNT, OTHER_REGION), flows.provider_side(
        OTHER_REGION_ACCOUNT, OTHER_REGION
    )

    # And the same request succeeds once the fault is gone, including where the
    # compensation rejected the consumer's endpoints: the consumer stack
    # replaces them instead of reusing them.
    flows.silent.discard(OTHER_REGION_ACCOUNT)
    flows.invoke.fault = flows.invoke.fault_after = None
    again = flows.run("onboarding", document)
    assert again["status"] == "SUCCEEDED", again.get("cause")


def test_a_consumer_rejected_by_compensation_onboards_again_and_again(flows: Workflows) -> None:
    """Compensation rejects the consumer's endpoints; the retry, and every
    onboarding after an offboarding, gets live endpoints of its own (EC2
    would answer a reused client token with the rejected or deleted one)."""
    account = SAME_REGION_ACCOUNT
    document = flows.onboarding_input(account)
    offboarding = {"clusterArn": flows.w.cluster_arn, "consumerAccountId": account}

    def fail_accept(event: dict[str, Any]) -> None:
        if event.get("action") == "accept":
            raise InjectedFault("accept failed (after its writes)")

    flows.invoke.fault_after = fail_accept
    assert flows.run("onboarding", document)["error"] == "OnboardingFailed"
    ec2 = flows.stacks[account].consumer.client("ec2")

    def endpoints() -> dict[str, str]:
        return {
            e["VpcEndpointId"]: e["State"]
            for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
            if e["State"] not in ("deleting", "deleted")
        }

    assert set(endpoints().values()) == {"rejected"}, endpoints()
    flows.invoke.fault_after = None
    seen: set[str] = set()

    for cycle in range(3):
        result = flows.run("onboarding", document)

        assert result["status"] == "SUCCEEDED", (cycle, result.get("cause"))
        live = endpoints()
        assert set(live.values()) == {"available"}, live
        assert not set(live) & seen, "an endpoint of an earlier attempt came back"
        seen |= set(live)
        assert flows.provider_side(account, flows.w.aws.region)["live_connections"] == 3
        assert flows.run("offboarding", offboarding)["status"] == "SUCCEEDED"
        assert endpoints() == {}
