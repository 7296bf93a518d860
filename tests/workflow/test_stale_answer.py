"""A consumer's answer about a view older than the cluster's published one is
asked again with the current view before the tenant becomes ACTIVE.

The consumer ignores BrokerEndpointsChanged for a cluster it has not
onboarded yet. EventBridge keeps no order, so a change published just after
the request was built can reach the consumer first: it is ignored, the
request's older view is applied, and without a second request the consumer
would stay on it until the next change."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.reconcile.aws.publisher import EndpointsPublisher
from tests.integration.harness import BUS, TABLE
from tests.workflow.harness import SAME_REGION_ACCOUNT, Workflows, reconcile_now

pytestmark = pytest.mark.workflow

ACCOUNT = SAME_REGION_ACCOUNT


def published_generation(flows: Workflows) -> int:
    clients = AwsClients(flows.w.aws.session(), region=flows.w.aws.region)
    publisher = EndpointsPublisher(clients.events, clients.dynamodb, BUS, TABLE)
    return publisher.last_published(flows.w.cluster_arn)[0]


def endpoint_count(flows: Workflows) -> int:
    return len(flows.stacks[ACCOUNT].consumer.state()["endpoints"])


def test_an_answer_about_an_older_view_is_asked_again_with_the_current_one(
    flows: Workflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = flows.stacks[ACCOUNT]
    w = flows.w
    before = published_generation(flows)
    changed = threading.Event()
    requests: list[int] = []
    handled: list[dict[str, Any]] = []

    def scale_out_after_the_first_request(event: dict[str, Any]) -> None:
        if event.get("action") != "request_consumer":
            return
        requests.append(1)
        if len(requests) == 1:
            # The request (3 brokers) is on its way; the cluster grows to 6
            # and the provider publishes the new view.
            w.aws.msk.scale(w.cluster_arn, 6)
            reconcile_now(w)
            changed.set()

    def deliver_the_change_first(*hooks: Any) -> list[dict[str, Any]]:
        if not changed.is_set():
            return []  # the function is busy: events wait in its queue
        queued = sorted(stack.queued(), key=lambda e: e["detail-type"] != "BrokerEndpointsChanged")
        invoke = stack.handler(*hooks)
        results = [invoke(e) for e in queued]
        handled.extend(results)
        return results

    flows.invoke.fault_after = scale_out_after_the_first_request
    monkeypatch.setattr(stack, "deliver", deliver_the_change_first)

    result = flows.run("onboarding", flows.onboarding_input(ACCOUNT))

    assert result["status"] == "SUCCEEDED", result.get("cause")
    current = published_generation(flows)
    assert current == before + 1
    states = flows.entered(result["executionArn"])
    # Asked twice: the first answer named the request's older view.
    assert states.count("RequestConsumerEndpoints") == 2
    assert states.count("CheckAnswer") == 2
    # The change reached the consumer first and was ignored (not onboarded yet).
    assert [(r["kind"], r["status"]) for r in handled][:2] == [
        ("BrokerEndpointsChanged", "ignored"),
        ("ConsumerOnboardingRequested", "ready"),
    ]
    tenant = flows.tenant(ACCOUNT)
    assert tenant is not None
    assert tenant.state == "ACTIVE"
    assert tenant.generation == current
    # The consumer serves every broker of the current view, all accepted.
    assert endpoint_count(flows) == 6
    assert flows.provider_side(ACCOUNT, w.aws.region)["live_connections"] == 6


def test_a_consumer_that_keeps_answering_an_older_view_fails_the_onboarding(
    flows: Workflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounded: three requests answered with an older view fail the onboarding
    with the reason, and the compensation leaves nothing."""
    stack = flows.stacks[ACCOUNT]
    w = flows.w
    w.aws.msk.scale(w.cluster_arn, 6)
    reconcile_now(w)
    assert published_generation(flows) >= 2

    def deliver_an_old_view(*hooks: Any) -> list[dict[str, Any]]:
        # A consumer stuck on generation 1, whatever it is sent.
        queued = stack.queued()
        for event in queued:
            if event["detail-type"] == "ConsumerOnboardingRequested":
                event["detail"]["generation"] = 1
                event["detail"]["endpoints"]["generation"] = 1
        invoke = stack.handler(*hooks)
        return [invoke(e) for e in queued]

    monkeypatch.setattr(stack, "deliver", deliver_an_old_view)

    result = flows.run("onboarding", flows.onboarding_input(ACCOUNT))

    assert result["status"] == "FAILED"
    assert result["error"] == "OnboardingFailed"
    assert "StaleAnswerError" in str(result["cause"])
    assert "generation 1" in str(result["cause"])
    states = flows.entered(result["executionArn"])
    assert states.count("RequestConsumerEndpoints") == 3
    assert "MarkActive" not in states
    tenant = flows.tenant(ACCOUNT)
    assert tenant is not None
    assert tenant.state == "FAILED"
    assert flows.is_clean(ACCOUNT, w.aws.region), flows.provider_side(ACCOUNT, w.aws.region)
