"""shared-nlb: desired resources, plan, guard (pure)."""

from __future__ import annotations

import dataclasses

import pytest
from msgspec.structs import replace

from msk_privatelink.kernel.errors import UnsupportedClusterError
from msk_privatelink.kernel.models import AuthScheme, Broker
from msk_privatelink.kernel.naming import (
    MAX_ELB_NAME,
    bootstrap_target_group_name,
    shared_load_balancer_name,
    shared_target_group_name,
)
from msk_privatelink.reconcile.desired import build_desired
from msk_privatelink.reconcile.guard import evaluate
from msk_privatelink.reconcile.plan import Step
from msk_privatelink.reconcile.planner import compute_plan
from msk_privatelink.reconcile.resources import (
    ActualState,
    AliasRecordState,
    DesiredState,
    HostedZoneState,
    Target,
)
from tests.factories import CLUSTER_ARN, actual_from, broker, config, inventory

SHARED = config(pattern="shared-nlb")
TWO = frozenset({AuthScheme.TLS, AuthScheme.SASL_IAM})
DOMAIN = "demo-cluster.abc123.c2.kafka.us-east-1.amazonaws.com"
LB = shared_load_balancer_name(CLUSTER_ARN)


def with_dns(actual: ActualState, desired: DesiredState, *, tagged: bool = True) -> ActualState:
    """``actual`` plus the provider zone exactly as desired."""
    assert desired.hosted_zone is not None
    dns = f"{LB}.elb"
    records = {
        name: AliasRecordState(name, "A", dns, spec.broker_id, {"Name": name, "Type": "A"})
        for name, spec in desired.records.items()
    }
    zone = HostedZoneState("Z1", desired.hosted_zone.name, tagged, records)
    # The zone id is recorded on the NLB once the zone is tagged.
    lbs = {
        name: replace(lb, zone_marker="Z1" if tagged else None)
        for name, lb in actual.load_balancers.items()
    }
    return replace(actual, hosted_zones=(zone,), load_balancers=lbs)


def steps(plan_changes: object) -> list[tuple[Step, str]]:
    return [(c.step, c.key) for c in plan_changes]  # type: ignore[attr-defined]


def test_desired_is_one_nlb_one_service_listeners_per_broker_and_bootstrap() -> None:
    desired = build_desired(SHARED, inventory(schemes=TWO))

    assert list(desired.load_balancers) == [LB]
    assert list(desired.endpoint_services) == [LB]
    assert desired.load_balancers[LB].broker_id is None
    ports = sorted(listener.port for listener in desired.listeners.values())
    assert ports == [8441, 8442, 8443, 9001, 9002, 9003, 9094, 9098]
    boot = desired.target_groups[bootstrap_target_group_name(CLUSTER_ARN, 9098)]
    assert boot.targets == frozenset(Target(broker(i).ip or "", 9098) for i in (1, 2, 3))
    own = desired.target_groups[shared_target_group_name(CLUSTER_ARN, 2, 9002)]
    assert own.targets == frozenset({Target(broker(2).ip or "", 9098)})
    assert all(len(name) <= MAX_ELB_NAME for name in desired.target_groups)
    assert desired.hosted_zone is not None
    assert desired.hosted_zone.name == DOMAIN
    assert sorted(desired.records) == [f"b-{i}.{DOMAIN}" for i in (1, 2, 3)]


def test_names_fit_the_elb_limit_for_high_broker_ids_and_ports() -> None:
    arn = CLUSTER_ARN.replace("demo-cluster", "a-very-long-cluster-name-indeed")
    assert len(shared_target_group_name(arn, 999, 65535)) <= MAX_ELB_NAME
    assert len(bootstrap_target_group_name(arn, 65535)) <= MAX_ELB_NAME
    assert len(shared_load_balancer_name(arn)) <= MAX_ELB_NAME


def test_plan_of_the_desired_state_against_itself_is_empty() -> None:
    desired = build_desired(SHARED, inventory(schemes=TWO))
    assert compute_plan(desired, with_dns(actual_from(desired), desired)).is_empty


def test_create_orders_dns_after_listeners_and_services() -> None:
    desired = build_desired(SHARED, inventory(schemes=TWO))
    plan = compute_plan(desired, ActualState(cluster_arn=CLUSTER_ARN))
    order = [c.step for c in plan.changes]
    assert order.index(Step.CREATE_HOSTED_ZONE) > order.index(Step.CREATE_ENDPOINT_SERVICE)
    assert order.index(Step.UPSERT_RECORD) > order.index(Step.CREATE_HOSTED_ZONE)
    assert max(s for s in order if s < Step.DEREGISTER_TARGETS) == Step.UPSERT_RECORD
    assert Step.DELETE_RECORD < Step.DELETE_HOSTED_ZONE < Step.DELETE_ENDPOINT_SERVICE


def test_a_scale_in_deletes_listeners_groups_and_records_of_the_gone_broker() -> None:
    before = build_desired(SHARED, inventory(schemes=TWO))
    actual = with_dns(actual_from(before), before)
    after = build_desired(SHARED, inventory((broker(1), broker(2)), schemes=TWO))

    plan = compute_plan(after, actual)

    gone = {c.broker_id for c in plan.changes if c.destructive and c.broker_id is not None}
    assert gone == {3}
    kinds = sorted(c.step.name for c in plan.changes if c.broker_id == 3)
    assert kinds == ["DELETE_LISTENER"] * 2 + ["DELETE_RECORD"] + ["DELETE_TARGET_GROUP"] * 2
    deregistered = {c.key for c in plan.changes if c.step is Step.DEREGISTER_TARGETS}
    assert deregistered == {
        bootstrap_target_group_name(CLUSTER_ARN, 9094),
        bootstrap_target_group_name(CLUSTER_ARN, 9098),
    }


def test_a_held_broker_keeps_its_address_in_the_bootstrap_group() -> None:
    before = build_desired(SHARED, inventory())
    actual = with_dns(actual_from(before), before)
    held = inventory((broker(1), broker(2), broker(3, ip=None)))

    plan = compute_plan(build_desired(SHARED, held), actual)

    assert plan.destructive() == ()
    assert plan.is_empty


def test_brokers_announced_by_the_operation_get_empty_groups_and_listeners() -> None:
    updating = dataclasses.replace(inventory(state="UPDATING"), target_broker_count=6)
    desired = build_desired(SHARED, updating)

    for broker_id in (4, 5, 6):
        tg = desired.target_groups[
            shared_target_group_name(CLUSTER_ARN, broker_id, 9000 + broker_id)
        ]
        assert tg.targets == frozenset()
        assert f"{LB}:{9000 + broker_id}" in desired.listeners
    # No host names yet: no records for them.
    assert len(desired.records) == 3


def test_prepared_brokers_get_their_shard_before_they_are_listed() -> None:
    cfg = config(pattern="shared-nlb", auth_schemes=["sasl_iam"], shared_nlb={"listener_quota": 5})
    assert len(build_desired(cfg, inventory()).load_balancers) == 1  # 4 brokers per shard
    growing = dataclasses.replace(inventory(state="UPDATING"), target_broker_count=6)
    desired = build_desired(cfg, growing)
    second = shared_load_balancer_name(CLUSTER_ARN, 1)
    assert sorted(desired.load_balancers) == sorted([LB, second])
    assert desired.listeners[f"{second}:{9000 + 5}"].broker_id == 5


def test_a_foreign_zone_for_the_domain_stops_every_dns_change() -> None:
    desired = build_desired(SHARED, inventory())
    actual = replace(actual_from(desired), foreign_zone_names=frozenset({DOMAIN}))
    plan = compute_plan(desired, actual)
    assert not [c for c in plan.changes if c.step.kind in ("hosted-zone", "record")]


def test_an_untagged_zone_of_ours_is_tagged_not_created_again() -> None:
    desired = build_desired(SHARED, inventory())
    actual = with_dns(actual_from(desired), desired, tagged=False)
    (change,) = compute_plan(desired, actual).changes
    assert change.step is Step.CREATE_HOSTED_ZONE
    assert change.resource_id == "Z1"


def test_a_zone_missing_from_the_nlb_marker_is_recorded_again() -> None:
    desired = build_desired(SHARED, inventory())
    actual = with_dns(actual_from(desired), desired)
    lbs = {n: replace(lb, zone_marker=None) for n, lb in actual.load_balancers.items()}
    (change,) = compute_plan(desired, replace(actual, load_balancers=lbs)).changes
    assert change.step is Step.CREATE_HOSTED_ZONE
    assert change.resource_id == "Z1"


def test_switching_the_zone_off_deletes_records_then_the_zone() -> None:
    desired = build_desired(SHARED, inventory())
    actual = with_dns(actual_from(desired), desired)
    off = build_desired(
        config(pattern="shared-nlb", shared_nlb={"provider_zone": False}), inventory()
    )

    plan = compute_plan(off, actual)

    assert [c.step for c in plan.changes] == [Step.DELETE_RECORD] * 3 + [Step.DELETE_HOSTED_ZONE]


def test_a_record_pointing_elsewhere_is_upserted() -> None:
    desired = build_desired(SHARED, inventory())
    actual = with_dns(actual_from(desired), desired)
    zone = actual.hosted_zones[0]
    name = f"b-2.{DOMAIN}"
    moved = {**zone.records, name: replace(zone.records[name], alias_dns_name="other.elb")}
    actual = replace(actual, hosted_zones=(replace(zone, records=moved),))
    assert steps(compute_plan(desired, actual).changes) == [(Step.UPSERT_RECORD, name)]


def test_the_cluster_wide_msk_domain_is_refused() -> None:
    shared_domain = tuple(
        Broker(i, f"10.0.0.{i}", None, None, (f"b-{i}.kafka.us-east-1.amazonaws.com",))
        for i in (1, 2, 3)
    )
    with pytest.raises(UnsupportedClusterError, match="shadow"):
        build_desired(SHARED, inventory(shared_domain))


def test_guard_counts_brokers_not_load_balancers_in_shared_nlb() -> None:
    six = inventory(tuple(broker(i) for i in range(1, 7)))
    actual = actual_from(build_desired(SHARED, six))
    two = inventory((broker(1), broker(2)))
    plan = compute_plan(build_desired(SHARED, two), actual)

    decision = evaluate(plan, actual, two, SHARED.guard, shared=True)

    assert decision.removed_broker_ids == {3, 4, 5, 6}
    assert any("removes 4 of 6 brokers" in r for r in decision.reasons)
    assert decision.allowed.destructive() == ()


def test_guard_allows_a_half_scale_in() -> None:
    six = inventory(tuple(broker(i) for i in range(1, 7)))
    actual = actual_from(build_desired(SHARED, six))
    three = inventory(tuple(broker(i) for i in (1, 2, 3)))
    plan = compute_plan(build_desired(SHARED, three), actual)

    decision = evaluate(plan, actual, three, SHARED.guard, shared=True)

    assert not decision.guarded
    assert decision.removed_broker_ids == {4, 5, 6}


def test_guard_never_empties_the_bootstrap_group() -> None:
    desired = build_desired(SHARED, inventory())
    actual = actual_from(desired)
    boot = bootstrap_target_group_name(CLUSTER_ARN, 9098)
    # Every address in the bootstrap group is wrong and none is registered.
    wrong = replace(desired.target_groups[boot], targets=frozenset())
    plan = compute_plan(
        replace(desired, target_groups={**desired.target_groups, boot: wrong}), actual
    )

    decision = evaluate(plan, actual, inventory(), SHARED.guard, shared=True)

    assert [c.key for c in decision.withheld] == [boot]
