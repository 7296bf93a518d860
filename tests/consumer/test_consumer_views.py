"""The applied-views table: what the connectivity canary reads. The real
consumer-sync handler on the embedded AWS, wired as consumer/template.yaml
wires it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from msk_privatelink.consumer.aws.registry import Tenancy
from msk_privatelink.consumer.aws.views import AppliedView, AppliedViews
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import replace
from msk_privatelink_dev.local.workflows import keep_sender
from tests.consumer.support import events_of
from tests.consumer.wiring import (
    ConsumerStack,
    add_consumer_stack,
    put_on_provider_bus,
)
from tests.integration.harness import World, world

pytestmark = pytest.mark.integration


@pytest.fixture
def onboarded() -> Iterator[tuple[World, ConsumerStack, BrokerEndpointsChanged]]:
    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, "111122223333")
        w.reconcile()
        view = events_of(w)[-1]
        stack.queued()
        put_on_provider_bus(w, stack.onboarding(view))
        (result,) = stack.deliver()
        assert result["status"] == "ready", result
        yield w, stack, view


def views(stack: ConsumerStack) -> AppliedViews:
    return AppliedViews(stack.infra().dynamodb, stack.env["APPLIED_VIEWS_TABLE"])


def test_onboarding_stores_the_view_with_its_endpoints_and_network(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged],
) -> None:
    _, stack, view = onboarded

    stored = views(stack).get(view.cluster_arn)

    assert stored is not None
    assert stored.generation == view.generation
    assert stored.view == view
    settings = stack.consumer.settings
    assert (stored.tenancy.vpc_id, stored.tenancy.subnet_ids) == (
        settings.vpc_id,
        settings.subnet_ids,
    )
    assert stored.tenancy.security_group_ids == settings.security_group_ids
    # The endpoints the consumer-sync answer named, by service.
    found = {service: endpoint for service, endpoint, _ in stack.consumer.state()["endpoints"]}
    assert stored.endpoints == found
    assert set(stored.endpoints) == {b.endpoint_service_name for b in view.brokers}
    assert [v.cluster_arn for v in views(stack).all()] == [view.cluster_arn]


def test_a_followed_change_replaces_the_view_and_an_older_one_never_does(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged],
) -> None:
    w, stack, first = onboarded
    w.aws.msk.scale(w.cluster_arn, 6)
    w.reconcile()
    newer = events_of(w)[-1]
    assert newer.generation > first.generation

    (result,) = stack.deliver()
    assert result["status"] == "synced", result
    stored = views(stack).get(first.cluster_arn)
    assert stored is not None
    assert (stored.generation, len(stored.view.brokers)) == (newer.generation, 6)

    # An older view (say, redelivered late) is dropped, and the table keeps the newer.
    put_on_provider_bus(w, first)
    (result,) = stack.deliver()
    assert result["status"] == "dropped"
    tenancy = stored.tenancy
    assert not views(stack).put(tenancy, first, first.generation, {})
    again = views(stack).get(first.cluster_arn)
    assert again is not None
    assert again.generation == newer.generation


def test_a_repeated_view_writes_nothing_and_a_changed_network_is_written(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged],
) -> None:
    _, stack, view = onboarded
    store = views(stack)
    stored = store.get(view.cluster_arn)
    assert stored is not None

    assert not store.put(stored.tenancy, stored.view, stored.generation, stored.endpoints)
    moved = replace(stored.tenancy, security_group_ids=())
    assert store.put(moved, stored.view, stored.generation, stored.endpoints)
    now = store.get(view.cluster_arn)
    assert now is not None
    assert now.tenancy == moved


def test_offboarding_removes_the_view(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged],
) -> None:
    w, stack, view = onboarded

    put_on_provider_bus(w, stack.offboarding(view.generation, token="offboarding-token"))
    (result,) = stack.deliver()

    assert result["status"] == "removed"
    assert views(stack).get(view.cluster_arn) is None
    assert list(views(stack).all()) == []


def test_an_item_that_is_not_a_view_is_refused_when_read(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged],
) -> None:
    _, stack, view = onboarded
    table = stack.env["APPLIED_VIEWS_TABLE"]
    dynamodb = stack.infra().dynamodb
    stored = views(stack).get(view.cluster_arn)
    assert isinstance(stored, AppliedView)
    assert isinstance(stored.tenancy, Tenancy)
    document = (
        '{"version":1,"clusterArn":"'
        + view.cluster_arn
        + '","generation":1,"tenancy":{},"view":{},"endpoints":{}}'
    )
    dynamodb.put_item(
        TableName=table,
        Item={"clusterArn": {"S": view.cluster_arn}, "document": {"S": document}},
    )

    with pytest.raises(ConfigError, match="not an applied view: tenancy"):
        views(stack).get(view.cluster_arn)
    dynamodb.put_item(TableName=table, Item={"clusterArn": {"S": view.cluster_arn}})
    with pytest.raises(ConfigError, match="has no document"):
        list(views(stack).all())
