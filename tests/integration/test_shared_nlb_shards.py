"""shared-nlb over several load balancers on the embedded AWS: brokers spread
over shards within the listener limit, a scale-out never moves a broker, and
the consumer account follows with one endpoint per shard."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.naming import shared_load_balancer_name
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.config import ClusterConfig
from tests.consumer.support import (
    Consumer,
    assert_follows,
    reconcile_and_take_event,
    two_accounts,
)
from tests.integration.harness import World

pytestmark = pytest.mark.integration

# Two schemes and six listeners per load balancer: two brokers per shard.
SHARDED: dict[str, Any] = {
    "pattern": "shared-nlb",
    "auth_schemes": ["tls", "sasl_iam"],
    "shared_nlb": {"listener_quota": 6},
}


@pytest.fixture
def pair() -> Iterator[tuple[World, Consumer]]:
    with two_accounts(auth=("tls", "iam"), config_overrides=SHARDED) as created:
        yield created


def listeners_by_lb(w: World) -> dict[str, list[int]]:
    elbv2 = w.aws.client("elbv2")
    out: dict[str, list[int]] = {}
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        ports = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        out[lb["LoadBalancerName"]] = sorted(p["Port"] for p in ports)
    return out


def service_of(event: BrokerEndpointsChanged) -> dict[int, str]:
    return {b.broker_id: b.endpoint_service_name for b in event.brokers}


def test_brokers_spread_over_shards_and_the_consumer_follows(
    pair: tuple[World, Consumer],
) -> None:
    w, c = pair
    arn = w.cluster_arn
    first, second = (shared_load_balancer_name(arn, i) for i in (0, 1))

    event = reconcile_and_take_event(w)

    # Brokers 1-2 and the bootstrap listeners on the first, broker 3 on the second.
    assert listeners_by_lb(w) == {first: [8441, 8442, 9001, 9002, 9094, 9098], second: [8443, 9003]}
    services = service_of(event)
    assert services[1] == services[2] == event.bootstrap.endpoint_service_name  # type: ignore[union-attr]
    assert services[3] != services[1]
    c.sync(event)
    assert_follows(c, event)
    assert len(c.state()["endpoints"]) == 2


def test_a_scale_out_opens_shards_and_never_moves_a_broker(pair: tuple[World, Consumer]) -> None:
    w, c = pair
    before = reconcile_and_take_event(w)
    c.sync(before)
    kept = set(c.state()["endpoints"])
    w.aws.msk.scale(w.cluster_arn, 6)
    w.counter.reset()

    after = reconcile_and_take_event(w)

    assert {b: s for b, s in service_of(after).items() if b <= 3} == service_of(before)
    assert len(set(service_of(after).values())) == 3
    per_lb = listeners_by_lb(w)
    assert len(per_lb) == 3
    assert max(len(ports) for ports in per_lb.values()) <= 6
    # Nothing of brokers 1-3 was touched but the bootstrap groups.
    assert not {
        "DeleteListener",
        "DeleteLoadBalancer",
        "DeleteVpcEndpointServiceConfigurations",
    } & set(w.counter.writes)
    c.counter.reset()
    c.sync(after)
    assert_follows(c, after)
    assert kept <= set(c.state()["endpoints"])
    assert c.counter.writes["CreateVpcEndpoint"] == 1
    assert c.counter.writes.get("DeleteVpcEndpoints", 0) == 0

    # Back to three: the emptied shard goes on both sides.
    w.aws.msk.scale(w.cluster_arn, 3)
    shrunk = reconcile_and_take_event(w)
    assert len(listeners_by_lb(w)) == 2
    c.sync(shrunk)
    assert_follows(c, shrunk)
    assert set(c.state()["endpoints"]) == kept


def test_a_capacity_change_that_would_move_brokers_writes_nothing(
    pair: tuple[World, Consumer],
) -> None:
    w, _ = pair
    w.reconcile()
    document = {
        "cluster_arn": w.cluster_arn,
        **SHARDED,
        "shared_nlb": {"listener_quota": 8},  # three per shard: broker 3 would move
    }
    w.counter.reset()

    with pytest.raises(
        ConfigError, match=r"would move 1 broker\(s\).*brokers_per_load_balancer: 2"
    ):
        w.reconcile(parse(ClusterConfig, document))

    assert w.counter.writes == Counter()
    pinned = {**document, "shared_nlb": {"listener_quota": 8, "brokers_per_load_balancer": 2}}
    assert w.reconcile(parse(ClusterConfig, pinned)).status == "unchanged"
