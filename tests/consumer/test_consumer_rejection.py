"""After the provider rejects a consumer's endpoints (compensation,
offboarding), the next onboarding request gets live endpoints: the rejected
ones are replaced, never handed back by a reused client token.

The embedded AWS models EC2's client-token idempotency
(dev/msk_privatelink_dev/embedded/ec2_client_tokens.py): plain moto would create a
new endpoint for any repeated token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.onboarding.aws.endpoint_connections import EndpointConnections
from msk_privatelink_dev.local.workflows import keep_sender
from tests.consumer.conftest import SAME_REGION_ACCOUNT
from tests.consumer.support import Consumer, assert_follows, events_of, reconcile_and_take_event
from tests.consumer.wiring import (
    ConsumerStack,
    add_consumer_stack,
    put_on_provider_bus,
)
from tests.integration.harness import World, world

pytestmark = pytest.mark.integration

LIVE = {"pendingacceptance", "pending", "available"}


@pytest.fixture
def onboarded() -> Iterator[tuple[World, ConsumerStack, list[str]]]:
    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, SAME_REGION_ACCOUNT)
        # The endpoints answered from a reused token, from here on.
        w.aws.client_tokens.clear()
        yield w, stack, w.aws.client_tokens.reused


def view_of(w: World) -> BrokerEndpointsChanged:
    w.reconcile()
    return events_of(w)[-1]


def request(stack: ConsumerStack, view: BrokerEndpointsChanged, token: str) -> dict[str, object]:
    stack.queued()
    put_on_provider_bus(stack.w, stack.onboarding(view, token=token))
    (result,) = stack.deliver()
    stack.replies()
    return result


def endpoint_states(stack: ConsumerStack) -> dict[str, str]:
    return {
        e["VpcEndpointId"]: e["State"].lower()
        for e in stack.consumer.client("ec2").describe_vpc_endpoints()["VpcEndpoints"]
        if e["State"].lower() not in ("deleted", "deleting")
    }


def reject_all(w: World, account: str) -> int:
    """What compensation and offboarding do on the provider side."""
    clients = AwsClients(w.aws.session(), region=w.aws.region)
    services = [
        s["ServiceId"]
        for s in clients.ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
    ]
    connections = EndpointConnections(clients.ec2)
    live = [c for c in connections.of_account(services, account) if c.state != "rejected"]
    return connections.reject(live)


def test_rejected_endpoints_are_replaced_on_the_next_request(
    onboarded: tuple[World, ConsumerStack, list[str]],
) -> None:
    w, stack, _ = onboarded
    view = view_of(w)
    assert request(stack, view, "first-attempt")["status"] == "ready"
    first = endpoint_states(stack)
    assert reject_all(w, SAME_REGION_ACCOUNT) == len(first)
    assert set(endpoint_states(stack).values()) == {"rejected"}

    result = request(stack, view, "second-attempt")

    assert result["status"] == "ready"
    states = endpoint_states(stack)
    assert len(states) == len(first)
    assert not set(states) & set(first), "a rejected endpoint was kept"
    assert set(states.values()) <= LIVE


def test_every_later_onboarding_gets_fresh_endpoints_after_rejections(
    onboarded: tuple[World, ConsumerStack, list[str]],
) -> None:
    """Onboard, reject, offboard, three times over: a client token of an
    earlier cycle names an endpoint that is rejected or deleted by now, and
    EC2 would hand exactly that one back."""
    w, stack, reused = onboarded
    view = view_of(w)
    seen: set[str] = set()

    for cycle in range(3):
        result = request(stack, view, f"onboarding-{cycle}")

        assert result["status"] == "ready", result
        states = endpoint_states(stack)
        assert states
        assert set(states.values()) <= LIVE, states
        assert not set(states) & seen, "an endpoint of an earlier cycle came back"
        assert set(result["endpoints"].values()) == set(states)  # type: ignore[union-attr]
        seen |= set(states)
        reject_all(w, SAME_REGION_ACCOUNT)
        put_on_provider_bus(w, stack.offboarding(view.generation, token=f"offboarding-{cycle}"))
        (removed,) = stack.deliver()
        assert removed["status"] == "removed"
        assert endpoint_states(stack) == {}
    # Every create of a cycle used a token of its own.
    assert reused == []


def test_the_same_event_recreates_endpoints_deleted_by_hand_again_and_again(
    accounts: tuple[World, Consumer],
) -> None:
    """A retried delivery repeats its client tokens; EC2 answers each with the
    endpoint it made first, deleted by now: a longer token is tried until a
    live endpoint comes back, however many were deleted before."""
    w, c = accounts
    event = reconcile_and_take_event(w)
    ec2 = c.client("ec2")
    reused = w.aws.client_tokens.reused
    reused.clear()
    seen: set[str] = set()
    for deleted_before in range(3):
        outcome = c.service().sync(event, attempt="one-request")

        assert outcome.status == "converged"
        live = {e for _, e, _ in c.state()["endpoints"]}
        assert len(live) == len(event.brokers)
        assert not live & seen
        # Each endpoint's chain of tokens: one dead endpoint per earlier round.
        assert len(reused) == deleted_before * (deleted_before + 1) // 2 * len(live)
        assert set(reused) <= seen
        assert_follows(c, event)
        seen |= live
        ec2.delete_vpc_endpoints(VpcEndpointIds=sorted(live))


def test_a_request_whose_tokens_all_name_dead_endpoints_fails_clearly(
    accounts: tuple[World, Consumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounded: past MAX_TOKEN_REUSES dead endpoints the request fails with a
    terminal error (the handler answers `failed`); a new request starts afresh."""
    from msk_privatelink.consumer.aws import applier as consumer_applier

    monkeypatch.setattr(consumer_applier, "MAX_TOKEN_REUSES", 1)
    w, c = accounts
    event = reconcile_and_take_event(w)
    ec2 = c.client("ec2")
    for _ in range(2):
        c.service().sync(event, attempt="one-request")
        live = sorted(e for _, e, _ in c.state()["endpoints"])
        ec2.delete_vpc_endpoints(VpcEndpointIds=live)

    with pytest.raises(consumer_applier.ClientTokensExhaustedError, match="2 client tokens"):
        c.service().sync(event, attempt="one-request")

    assert c.service().sync(event, attempt="another-request").status == "converged"
    assert_follows(c, event)
