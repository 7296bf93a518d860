"""The connectivity canary's handler on the embedded AWS, wired as
consumer/template.yaml wires it: it finds the onboarded cluster's applied
view, creates the prober function in the consumer network, probes from it,
and reports on the consumer bus (forwarded to the provider)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from msk_privatelink.kernel.consumer_events import ConsumerConnectivityReport
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import parse
from msk_privatelink_dev.local.workflows import keep_sender
from tests.consumer.canary_wiring import SCHEDULED, Canary
from tests.consumer.support import events_of
from tests.consumer.wiring import (
    ConsumerStack,
    add_consumer_stack,
    provider_replies,
    provider_replies_queue,
    put_on_provider_bus,
)
from tests.integration.harness import World, world

pytestmark = pytest.mark.integration


@pytest.fixture
def onboarded() -> Iterator[tuple[World, ConsumerStack, BrokerEndpointsChanged, str]]:
    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, "111122223333")
        replies = provider_replies_queue(w)
        w.reconcile()
        view = events_of(w)[-1]
        stack.queued()
        put_on_provider_bus(w, stack.onboarding(view))
        (result,) = stack.deliver()
        assert result["status"] == "ready", result
        provider_replies(w, replies)  # the onboarding answer
        yield w, stack, view, replies


def reports(w: World, url: str) -> list[ConsumerConnectivityReport]:
    return [
        parse(ConsumerConnectivityReport, body["detail"])
        for body in provider_replies(w, url)
        if body["detail-type"] == "ConsumerConnectivityReport"
    ]


def test_the_first_run_creates_the_prober_in_the_consumer_network_and_reports_unchecked(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    w, stack, view, replies = onboarded
    canary = Canary(stack)
    canary.deploy()

    result = canary.handler()(SCHEDULED)

    assert result == {"clusters": {view.cluster_arn: "unchecked"}}
    (function,) = stack.infra().lambda_.list_functions()["Functions"]
    assert function["FunctionName"].startswith(canary.env["PROBER_NAME_PREFIX"] + "-")
    settings = stack.consumer.settings
    assert sorted(function["VpcConfig"]["SubnetIds"]) == sorted(settings.subnet_ids)
    assert function["VpcConfig"]["SecurityGroupIds"] == list(settings.security_group_ids)
    assert function["Role"] == canary.env["PROBER_ROLE_ARN"]
    (report,) = reports(w, replies)
    assert (report.state, report.generation, report.vpc_id) == (
        "unchecked",
        view.generation,
        settings.vpc_id,
    )
    assert "is starting" in report.problems[0]
    assert canary.invocations == []


def test_a_name_that_does_not_resolve_in_the_network_is_reported_per_broker_at_dns(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    w, stack, view, replies = onboarded
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)
    reports(w, replies)

    result = invoke(SCHEDULED)

    assert result == {"clusters": {view.cluster_arn: "unreachable"}}
    (call,) = canary.invocations
    probed = {(t["broker"], t["host"], t["port"]) for t in call["event"]["targets"]}
    assert probed == {
        (str(b.broker_id), h, p)
        for b in view.brokers
        for h in b.host_names
        for p in b.ports.values()
    }
    # Each name must resolve to this account's endpoint for its broker.
    assert all(t["expected"] for t in call["event"]["targets"])
    (report,) = reports(w, replies)
    assert report.state == "unreachable"
    assert report.failed == report.probes == len(probed)
    assert {f.step for f in report.failures} == {"dns"}
    assert {f.broker for f in report.failures} == {str(b.broker_id) for b in view.brokers}
    # The alarm's metric counts every unreachable broker; each broker has its own.
    documents = canary.metrics()
    totals = [d["UnreachableBrokersTotal"] for d in documents if "UnreachableBrokersTotal" in d]
    # EMF writes a metric's values as a list when the handler added several.
    assert totals[-1] in (len(view.brokers), [len(view.brokers)])
    per_broker = {d["Broker"] for d in documents if "BrokerUnreachable" in d}
    assert per_broker == {str(b.broker_id) for b in view.brokers}


def test_a_ready_answer_names_its_cluster_and_other_events_mean_every_cluster(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    _, stack, view, _ = onboarded
    canary = Canary(stack)
    canary.handler()
    assert canary.module is not None
    cluster_of = canary.module.cluster_of
    ready = {
        "version": "0",
        "id": "1b0c7a52-3f7e-4b44-9d0a-2f6c1e3d5a71",
        "detail-type": "ConsumerEndpointsReady",
        "source": "msk-privatelink.consumer",
        "account": "111122223333",
        "time": "2026-12-05T18:15:00Z",
        "region": "us-east-1",
        "resources": [view.cluster_arn],
        "detail": {"clusterArn": view.cluster_arn, "state": "ready"},
    }
    assert cluster_of(ready) == view.cluster_arn
    assert cluster_of({**ready, "detail": {**ready["detail"], "state": "failed"}}) is None
    assert cluster_of(SCHEDULED) is None


def test_offboarding_leaves_no_prober_behind(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    w, stack, view, replies = onboarded
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)
    assert stack.infra().lambda_.list_functions()["Functions"]
    assert len(reports(w, replies)) == 1

    put_on_provider_bus(w, stack.offboarding(view.generation, token="offboarding-token"))
    (result,) = stack.deliver()
    assert result["status"] == "removed"
    assert invoke(SCHEDULED) == {"clusters": {}}

    assert stack.infra().lambda_.list_functions()["Functions"] == []
    assert reports(w, replies) == []
