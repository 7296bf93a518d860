"""shared-nlb beyond one load balancer's 50 listeners: shards (pure)."""

from __future__ import annotations

from collections import Counter

import pytest

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.models import AuthScheme, Broker
from msk_privatelink.kernel.naming import (
    MAX_ELB_NAME,
    shared_load_balancer_name,
    shared_shard_index,
)
from msk_privatelink.kernel.quotas import BY_KEY
from msk_privatelink.reconcile.config import ClusterConfig, parse_config
from msk_privatelink.reconcile.desired import build_desired
from msk_privatelink.reconcile.planner import compute_plan
from msk_privatelink.reconcile.resources import DesiredState
from msk_privatelink.reconcile.shards import (
    capacity_for,
    desired_placement,
    refuse_moves,
    shard_capacity,
    shard_of,
)
from tests.factories import CLUSTER_ARN, actual_from, broker, config, inventory

ALL = frozenset(AuthScheme)
# Bases 200 apart from 10000: every id up to 199 has its own port per scheme.
WIDE_PORTS = {
    "port_bases": {"plaintext": 10000, "tls": 10200, "sasl_scram": 10400, "sasl_iam": 10600}
}
LIMIT = BY_KEY["listeners_per_nlb"].default


def shared(**overrides: object) -> ClusterConfig:
    return config(pattern="shared-nlb", **overrides)


def load(**document: object) -> ClusterConfig:
    """As a document is loaded: refusals are ConfigErrors."""
    return parse_config({"cluster_arn": CLUSTER_ARN, "pattern": "shared-nlb", **document}, "t")


def brokers(count: int) -> tuple[Broker, ...]:
    return tuple(broker(i) for i in range(1, count + 1))


def listeners_per_lb(desired: DesiredState) -> Counter[str]:
    return Counter(spec.load_balancer for spec in desired.listeners.values())


@pytest.mark.parametrize(("schemes", "capacity"), [(1, 49), (2, 24), (3, 15), (4, 11)])
def test_a_shard_holds_as_many_brokers_as_50_listeners_allow(schemes: int, capacity: int) -> None:
    assert capacity_for(LIMIT, schemes) == capacity
    assert schemes * (capacity + 1) <= LIMIT < schemes * (capacity + 2)


@pytest.mark.parametrize(
    ("named", "count", "shards"),
    [((AuthScheme.SASL_IAM,), 180, 4), (tuple(AuthScheme), 180, 17), (None, 60, 6)],
)
def test_180_brokers_spread_over_shards_each_within_the_listener_limit(
    named: tuple[AuthScheme, ...] | None, count: int, shards: int
) -> None:
    cfg = shared(
        shared_nlb={**WIDE_PORTS, "max_brokers": 180},
        **({"auth_schemes": [s.value for s in named]} if named else {}),
    )
    enabled = frozenset(named) if named else ALL
    desired = build_desired(cfg, inventory(brokers(count), schemes=enabled))

    names = [shared_load_balancer_name(CLUSTER_ARN, i) for i in range(shards)]
    assert sorted(desired.load_balancers) == sorted(names)
    assert sorted(desired.endpoint_services) == sorted(names)
    per_lb = listeners_per_lb(desired)
    assert max(per_lb.values()) <= LIMIT
    assert sum(per_lb.values()) == len(enabled) * (count + 1)
    # Every listener of a broker sits on its shard's load balancer; the
    # bootstrap listeners (no broker) on shard 0; each name aliases its shard.
    capacity = shard_capacity(cfg.shared_nlb, cfg.auth_schemes)
    for spec in desired.listeners.values():
        shard = 0 if spec.broker_id is None else shard_of(spec.broker_id, capacity)
        assert spec.load_balancer == names[shard]
    for record in desired.records.values():
        assert record.load_balancer == names[shard_of(record.broker_id or 0, capacity)]
    assert all(len(name) <= MAX_ELB_NAME for name in names)


def test_a_scale_out_never_moves_a_broker() -> None:
    cfg = shared(auth_schemes=["tls", "sasl_iam"], shared_nlb={**WIDE_PORTS, "max_brokers": 180})
    two = frozenset({AuthScheme.TLS, AuthScheme.SASL_IAM})
    before = desired_placement(build_desired(cfg, inventory(brokers(3), schemes=two)))
    for count in (6, 24, 25, 60, 120, 180):
        after = desired_placement(build_desired(cfg, inventory(brokers(count), schemes=two)))
        assert {b: after[b] for b in before} == before, count
        before = after


def test_the_scale_out_plan_adds_a_shard_and_keeps_the_first() -> None:
    cfg = shared(auth_schemes=["sasl_iam"], shared_nlb={"listener_quota": 4})  # 3 per shard
    small = build_desired(cfg, inventory(brokers(3)))
    grown = build_desired(cfg, inventory(brokers(5)))

    plan = compute_plan(grown, actual_from(small))

    assert {c.step.action for c in plan.changes} <= {
        "create",
        "register",
        "configure",
        "update",
        "upsert",
    }
    second = shared_load_balancer_name(CLUSTER_ARN, 1)
    assert {c.key for c in plan.changes if c.step.kind == "load-balancer"} >= {second}
    assert not [c for c in plan.changes if c.step.action == "delete"]


def test_shard_names_read_back_to_their_index() -> None:
    for shard in (0, 1, 9, 10, 99):
        assert shared_shard_index(CLUSTER_ARN, shared_load_balancer_name(CLUSTER_ARN, shard)) == (
            shard
        )
    stem = shared_load_balancer_name(CLUSTER_ARN)
    for other in (f"{stem}1", f"{stem}01", f"{stem}x", stem[:-1], "mpl-other-shared"):
        assert shared_shard_index(CLUSTER_ARN, other) is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"listener_quota": 51}, "listener_quota"),
        (
            {"brokers_per_load_balancer": 30, "listener_quota": 50},
            r"holding 30 broker\(s\) needs 62 listeners .* at most 24",
        ),
        (
            {"listener_quota": 3},
            r"listener_quota 3 leaves no listener for a broker .* 2 auth scheme",
        ),
    ],
)
def test_a_shard_that_cannot_fit_is_refused_when_loaded(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(auth_schemes=["tls", "sasl_iam"], shared_nlb=settings)


def test_ports_are_checked_for_every_broker_id_up_to_max_brokers() -> None:
    # The default sasl_iam base meets the bootstrap ports at broker 92.
    load(auth_schemes=["sasl_iam"], shared_nlb={"max_brokers": 97})
    with pytest.raises(ConfigError, match=r"port 9098: bootstrap_ports.sasl_iam and broker 98"):
        load(auth_schemes=["sasl_iam"], shared_nlb={"max_brokers": 180})


def test_a_capacity_change_that_would_move_brokers_is_refused_with_the_pin_that_keeps_them() -> (
    None
):
    before = shared(auth_schemes=["sasl_iam"], shared_nlb={"listener_quota": 4})  # 3 per shard
    actual = actual_from(build_desired(before, inventory(brokers(5))))
    after = shared(auth_schemes=["sasl_iam"])  # 49 per shard: brokers 4, 5 would move
    desired = build_desired(after, inventory(brokers(5)))

    with pytest.raises(ConfigError) as refused:
        refuse_moves(after, desired, actual)

    message = str(refused.value)
    assert "would move 2 broker(s)" in message
    assert f"broker 4 {shared_load_balancer_name(CLUSTER_ARN, 1)} -> " in message
    assert "brokers_per_load_balancer: 3" in message
    pinned = shared(auth_schemes=["sasl_iam"], shared_nlb={"brokers_per_load_balancer": 3})
    refuse_moves(pinned, build_desired(pinned, inventory(brokers(5))), actual)


def test_an_upgrade_from_one_load_balancer_names_the_schemes_to_keep_it() -> None:
    # Earlier versions put every broker on one load balancer; with auth_schemes
    # unset shards are sized for all four schemes (11 brokers).
    earlier = shared(auth_schemes=["sasl_iam"], shared_nlb={"brokers_per_load_balancer": 20})
    actual = actual_from(build_desired(earlier, inventory(brokers(20))))
    now = shared()
    desired = build_desired(now, inventory(brokers(20)))

    with pytest.raises(ConfigError, match=r"auth_schemes: \[sasl_iam\]\) and set .*: 49"):
        refuse_moves(now, desired, actual)
