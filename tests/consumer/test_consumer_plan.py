"""The consumer side's pure parts: zone name, desired resources, planner, generations."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msk_privatelink.consumer.sync import (
    MAX_BOOTSTRAP_ALIASES,
    AliasTarget,
    ConsumerActual,
    ConsumerDesired,
    ConsumerPlan,
    ConsumerSettings,
    ConsumerStep,
    EndpointState,
    RecordState,
    Verdict,
    ZoneState,
    build_consumer_desired,
    compute_consumer_plan,
    generation_verdict,
)
from msk_privatelink.kernel.dns import cluster_zone_name
from msk_privatelink.kernel.errors import InvalidEventError
from msk_privatelink.kernel.events import BootstrapEndpoint, BrokerEndpoint, BrokerEndpointsChanged
from msk_privatelink.kernel.records import replace as replace_record

ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
DOMAIN = "demo.abc123.c2.kafka.us-east-1.amazonaws.com"
SETTINGS = ConsumerSettings(
    vpc_id="vpc-0123456789abcdef0",
    subnet_ids=("subnet-0000000000000000a", "subnet-0000000000000000b"),
    security_group_ids=("sg-0000000000000000a",),
    region="us-east-1",
)


def service(broker_id: int) -> str:
    return f"com.amazonaws.vpce.us-east-1.vpce-svc-{broker_id:017x}"


def event(
    broker_ids: list[int], *, generation: int = 1, region: str = "us-east-1"
) -> BrokerEndpointsChanged:
    return BrokerEndpointsChanged(
        cluster_arn=ARN,
        cluster_name="demo",
        region=region,
        pattern="nlb-per-broker",
        generation=generation,
        brokers=tuple(
            BrokerEndpoint(
                broker_id=b,
                host_names=(f"b-{b}.{DOMAIN}",),
                endpoint_service_name=service(b),
                endpoint_service_id=service(b).rsplit(".", 1)[-1],
                ports={"sasl_iam": 9098},
            )
            for b in broker_ids
        ),
    )


def endpoint(broker_id: int, *, state: str = "available", suffix: str = "") -> EndpointState:
    endpoint_id = f"vpce-{broker_id:016x}{suffix}"
    return EndpointState(
        endpoint_id=endpoint_id,
        service_name=service(broker_id),
        state=state,
        subnet_ids=frozenset(SETTINGS.subnet_ids),
        security_group_ids=frozenset(SETTINGS.security_group_ids),
        dns=AliasTarget(f"{endpoint_id}.vpce-svc.us-east-1.vpce.amazonaws.com", "Z7HUB22UULQXV"),
        broker_id=broker_id,
    )


def records_for(desired: ConsumerDesired, endpoints: list[EndpointState]) -> dict:
    by_service = {e.service_name: e for e in endpoints}
    out = {}
    for key, spec in desired.records.items():
        dns = by_service[spec.service_name].dns
        out[key] = RecordState(spec.name, "A", spec.set_identifier, spec.weight, dns)
    return out


def in_place(broker_ids: list[int], *, generation: int | None = 1) -> ConsumerActual:
    desired = build_consumer_desired(event(broker_ids), SETTINGS)
    endpoints = [endpoint(b) for b in broker_ids]
    zone = ZoneState("Z1", DOMAIN, True, generation, records_for(desired, endpoints))
    return ConsumerActual(ARN, SETTINGS.vpc_id, tuple(endpoints), (zone,))


def steps(plan: ConsumerPlan) -> list[ConsumerStep]:
    return [c.step for c in plan.changes]


# -- zone name ---------------------------------------------------------------------


def test_zone_is_the_clusters_own_domain() -> None:
    hosts = [f"b-{i}.{DOMAIN}" for i in (1, 2, 3)]
    assert cluster_zone_name(hosts) == DOMAIN
    assert cluster_zone_name([f"B-1.{DOMAIN.upper()}."]) == DOMAIN
    assert cluster_zone_name(["b-1.kafka.example.com", "b-2.kafka.example.com"]) == (
        "kafka.example.com"
    )


@pytest.mark.parametrize(
    "hosts",
    [
        # Two clusters: the common zone would be shared by every cluster.
        [f"b-1.{DOMAIN}", "b-2.other.xyz789.c2.kafka.us-east-1.amazonaws.com"],
        [
            "b-1.one.abc.c1.kafka.eu-west-1.amazonaws.com",
            "b-1.two.abc.c2.kafka.eu-west-1.amazonaws.com",
        ],
        ["b-1.a.example.com", "b-2.b.example.com"],
        ["b-1.kafka.us-east-1.amazonaws.com"],
        ["b-1.com"],
        [],
    ],
)
def test_zone_that_would_shadow_other_clusters_is_refused(hosts: list[str]) -> None:
    with pytest.raises(InvalidEventError):
        cluster_zone_name(hosts)


# -- desired -----------------------------------------------------------------------


def test_desired_has_an_endpoint_per_service_and_alias_records() -> None:
    desired = build_consumer_desired(event([1, 2, 3]), SETTINGS)
    assert sorted(desired.endpoints) == [service(b) for b in (1, 2, 3)]
    assert desired.zone is not None
    assert desired.zone.name == DOMAIN
    assert desired.zone.vpc_id == SETTINGS.vpc_id
    names = sorted((name, set_id) for name, _, set_id in desired.records)
    assert names == [
        *[(f"b-{b}.{DOMAIN}", "") for b in (1, 2, 3)],
        *[(f"bootstrap.{DOMAIN}", f"b-{b}") for b in (1, 2, 3)],
    ]
    assert all(e.service_region is None for e in desired.endpoints.values())


def test_cross_region_endpoints_name_the_providers_region() -> None:
    desired = build_consumer_desired(
        event([1], region="eu-west-1"), replace_record(SETTINGS, region="eu-central-1")
    )
    assert desired.endpoints[service(1)].service_region == "eu-west-1"


def test_event_without_brokers_or_with_duplicates_is_refused() -> None:
    with pytest.raises(InvalidEventError, match="lists no broker"):
        build_consumer_desired(event([]), SETTINGS)
    twice = event([1, 2])
    dup = replace_record(twice, brokers=(twice.brokers[0], twice.brokers[0]))
    with pytest.raises(InvalidEventError, match="two brokers"):
        build_consumer_desired(dup, SETTINGS)


# -- planner -----------------------------------------------------------------------


def test_from_nothing_endpoints_then_zone_then_records() -> None:
    desired = build_consumer_desired(event([1, 2, 3]), SETTINGS)
    plan = compute_consumer_plan(desired, ConsumerActual(ARN, SETTINGS.vpc_id))
    assert (
        steps(plan)
        == [ConsumerStep.CREATE_ENDPOINT] * 3
        + [ConsumerStep.CREATE_ZONE]
        + [ConsumerStep.UPSERT_RECORD] * 6
    )
    # Targets of endpoints this run creates are known only once they exist.
    assert all(c.target is None for c in plan.changes if c.step is ConsumerStep.UPSERT_RECORD)
    assert not any(c.destructive for c in plan.changes)


def test_nothing_to_do_when_everything_is_in_place() -> None:
    desired = build_consumer_desired(event([1, 2, 3]), SETTINGS)
    assert compute_consumer_plan(desired, in_place([1, 2, 3])).is_empty


def test_scale_out_adds_only_the_new_brokers() -> None:
    desired = build_consumer_desired(event([1, 2, 3, 4, 5, 6]), SETTINGS)
    plan = compute_consumer_plan(desired, in_place([1, 2, 3]))
    assert {c.broker_id for c in plan.changes} == {4, 5, 6}
    assert steps(plan).count(ConsumerStep.CREATE_ENDPOINT) == 3
    assert steps(plan).count(ConsumerStep.UPSERT_RECORD) == 6


def test_scale_in_removes_records_before_endpoints() -> None:
    desired = build_consumer_desired(event([1, 2, 3]), SETTINGS)
    plan = compute_consumer_plan(desired, in_place([1, 2, 3, 4, 5, 6]))
    assert steps(plan) == [ConsumerStep.DELETE_RECORD] * 6 + [ConsumerStep.DELETE_ENDPOINT] * 3
    assert all(c.raw_record is not None for c in plan.changes[:6])
    assert {c.resource_id for c in plan.changes[6:]} == {endpoint(b).endpoint_id for b in (4, 5, 6)}


def test_failed_endpoint_is_replaced_in_one_run() -> None:
    actual = in_place([1, 2])
    failed = replace(actual.endpoints[1], state="failed")
    actual = replace(actual, endpoints=(actual.endpoints[0], failed))
    desired = build_consumer_desired(event([1, 2]), SETTINGS)
    plan = compute_consumer_plan(desired, actual)
    create, upsert_host, upsert_bootstrap, delete = plan.changes
    assert create.step is ConsumerStep.CREATE_ENDPOINT
    assert create.replaces == (failed.endpoint_id,)
    assert {upsert_host.step, upsert_bootstrap.step} == {ConsumerStep.UPSERT_RECORD}
    assert upsert_host.target is None
    assert delete.step is ConsumerStep.DELETE_ENDPOINT
    assert delete.resource_id == failed.endpoint_id


def test_duplicate_endpoint_left_by_a_crash_is_deleted() -> None:
    actual = in_place([1])
    actual = replace(actual, endpoints=(*actual.endpoints, endpoint(1, suffix="f")))
    plan = compute_consumer_plan(build_consumer_desired(event([1]), SETTINGS), actual)
    assert steps(plan) == [ConsumerStep.DELETE_ENDPOINT]
    assert plan.changes[0].resource_id == endpoint(1, suffix="f").endpoint_id


def test_changed_subnets_and_groups_modify_the_endpoint() -> None:
    moved = replace_record(
        SETTINGS,
        subnet_ids=("subnet-0000000000000000b", "subnet-0000000000000000c"),
        security_group_ids=("sg-0000000000000000b",),
    )
    plan = compute_consumer_plan(build_consumer_desired(event([1]), moved), in_place([1]))
    (change,) = plan.changes
    assert change.step is ConsumerStep.MODIFY_ENDPOINT
    assert change.add == {"subnet-0000000000000000c"}
    assert change.remove == {"subnet-0000000000000000a"}
    assert change.add_groups == {"sg-0000000000000000b"}
    assert change.remove_groups == {"sg-0000000000000000a"}


def test_no_groups_configured_leaves_the_default_group_alone() -> None:
    plain = replace_record(SETTINGS, security_group_ids=())
    plan = compute_consumer_plan(build_consumer_desired(event([1]), plain), in_place([1]))
    assert plan.is_empty


def test_untagged_zone_of_ours_is_tagged_and_a_duplicate_zone_removed() -> None:
    actual = in_place([1])
    ours = replace(actual.zones[0], tagged=False, generation=None)
    stray_record = RecordState(f"b-1.{DOMAIN}", "A", None, None, None, raw={"Name": "x"})
    duplicate = ZoneState("Z2", DOMAIN, True, None, {stray_record.key: stray_record})
    actual = replace(actual, zones=(ours, duplicate))
    plan = compute_consumer_plan(build_consumer_desired(event([1]), SETTINGS), actual)
    assert [(c.step, c.resource_id) for c in plan.changes] == [
        (ConsumerStep.TAG_ZONE, "Z1"),
        (ConsumerStep.DELETE_RECORD, "Z2"),
        (ConsumerStep.DELETE_ZONE, "Z2"),
    ]


def test_conflicting_simple_record_is_replaced_in_the_same_batch() -> None:
    actual = in_place([1])
    zone = actual.zones[0]
    simple = RecordState(f"bootstrap.{DOMAIN}", "A", None, None, endpoint(1).dns, raw={"n": 1})
    records = {k: v for k, v in zone.records.items() if k[0] != f"bootstrap.{DOMAIN}"}
    records[simple.key] = simple
    actual = replace(actual, zones=(replace(zone, records=records),))
    plan = compute_consumer_plan(build_consumer_desired(event([1]), SETTINGS), actual)
    assert steps(plan) == [ConsumerStep.REPLACE_RECORD, ConsumerStep.UPSERT_RECORD]


def test_alias_pointing_elsewhere_is_upserted() -> None:
    actual = in_place([1])
    zone = actual.zones[0]
    key = next(k for k in zone.records if k[0].startswith("b-1."))
    wrong = replace(zone.records[key], alias=AliasTarget("elsewhere.example.com", "Z9"))
    actual = replace(actual, zones=(replace(zone, records={**zone.records, key: wrong}),))
    plan = compute_consumer_plan(build_consumer_desired(event([1]), SETTINGS), actual)
    (change,) = plan.changes
    assert change.step is ConsumerStep.UPSERT_RECORD
    assert change.target == endpoint(1).dns


def test_alias_names_compare_without_case_or_final_dot() -> None:
    actual = in_place([1])
    zone = actual.zones[0]
    shouted = {
        k: replace(r, alias=AliasTarget(r.alias.dns_name.upper() + ".", r.alias.hosted_zone_id))
        for k, r in zone.records.items()
        if r.alias is not None
    }
    actual = replace(actual, zones=(replace(zone, records=shouted),))
    assert compute_consumer_plan(build_consumer_desired(event([1]), SETTINGS), actual).is_empty


def test_teardown_removes_records_then_zone_then_endpoints() -> None:
    plan = compute_consumer_plan(ConsumerDesired(ARN), in_place([1, 2]))
    assert (
        steps(plan)
        == [ConsumerStep.DELETE_RECORD] * 4
        + [ConsumerStep.DELETE_ZONE]
        + [ConsumerStep.DELETE_ENDPOINT] * 2
    )


# -- generations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incoming", "applied", "verdict"),
    [
        (1, None, Verdict.APPLY),
        (5, 4, Verdict.APPLY),
        (4, 4, Verdict.REAPPLY),
        (3, 4, Verdict.DROP),
    ],
)
def test_generation_verdict(incoming: int, applied: int | None, verdict: Verdict) -> None:
    assert generation_verdict(incoming, applied) is verdict


def test_last_generation_is_read_from_our_zones() -> None:
    assert in_place([1], generation=7).last_generation == 7
    assert ConsumerActual(ARN, SETTINGS.vpc_id).last_generation is None


# -- convergence -------------------------------------------------------------------


def simulate(plan: ConsumerPlan, actual: ConsumerActual) -> ConsumerActual:
    """Apply a plan to an in-memory actual state, the way AWS would."""
    endpoints = {e.endpoint_id: e for e in actual.endpoints}
    zones = {z.zone_id: z for z in actual.zones}
    created: dict[str, EndpointState] = {}
    for n, c in enumerate(plan.changes):
        if c.step is ConsumerStep.CREATE_ENDPOINT:
            assert c.endpoint is not None
            new = replace(endpoint(c.endpoint.broker_id, suffix=f"n{n}"))
            created[new.service_name] = endpoints[new.endpoint_id] = new
        elif c.step is ConsumerStep.CREATE_ZONE:
            assert c.zone is not None
            zones["ZNEW"] = ZoneState("ZNEW", c.zone.name, True, None)
        elif c.step is ConsumerStep.TAG_ZONE:
            zones[c.resource_id] = replace(zones[c.resource_id], tagged=True)
        elif c.step is ConsumerStep.UPSERT_RECORD:
            assert c.record is not None
            zone_id = c.resource_id or "ZNEW"
            target = c.target or created[c.record.service_name].dns
            r = c.record
            record = RecordState(r.name, "A", r.set_identifier, r.weight, target)
            zones[zone_id] = replace(
                zones[zone_id], records={**zones[zone_id].records, record.key: record}
            )
        elif c.step in (ConsumerStep.DELETE_RECORD, ConsumerStep.REPLACE_RECORD):
            zone = zones[c.resource_id]
            zones[c.resource_id] = replace(
                zone, records={k: v for k, v in zone.records.items() if v.raw != c.raw_record}
            )
        elif c.step is ConsumerStep.DELETE_ZONE:
            assert not zones[c.resource_id].records, "Route 53 refuses a non-empty zone"
            del zones[c.resource_id]
        elif c.step is ConsumerStep.DELETE_ENDPOINT:
            del endpoints[c.resource_id]
    return replace(actual, endpoints=tuple(endpoints.values()), zones=tuple(zones.values()))


@settings(max_examples=150, deadline=None)
@given(
    before=st.sets(st.integers(1, 8), max_size=8),
    after=st.sets(st.integers(1, 8), min_size=1, max_size=8),
    failed=st.sets(st.integers(1, 8), max_size=3),
    untagged=st.booleans(),
)
def test_applying_any_plan_leaves_nothing_to_do(
    before: set[int], after: set[int], failed: set[int], untagged: bool
) -> None:
    actual = in_place(sorted(before)) if before else ConsumerActual(ARN, SETTINGS.vpc_id)
    actual = replace(
        actual,
        endpoints=tuple(
            replace(e, state="failed") if e.broker_id in failed else e for e in actual.endpoints
        ),
        zones=tuple(replace(z, tagged=not untagged) for z in actual.zones),
    )
    # Give every record a distinct raw form, as Route 53 returns it.
    actual = replace(
        actual,
        zones=tuple(
            replace(z, records={k: replace(v, raw={"key": k}) for k, v in z.records.items()})
            for z in actual.zones
        ),
    )
    desired = build_consumer_desired(event(sorted(after)), SETTINGS)
    plan = compute_consumer_plan(desired, actual)
    order = [c.sort_key for c in plan.changes]
    assert order == sorted(order)
    first_delete = next((i for i, c in enumerate(plan.changes) if c.destructive), len(plan))
    assert not any(c.step is ConsumerStep.CREATE_ENDPOINT for c in plan.changes[first_delete:])
    assert compute_consumer_plan(desired, simulate(plan, actual)).is_empty


# -- shared-nlb ------------------------------------------------------------------

SHARED = service(0xABC)


def shared_event(broker_ids: list[int], *, bootstrap: bool = True) -> BrokerEndpointsChanged:
    return BrokerEndpointsChanged(
        cluster_arn=ARN,
        cluster_name="demo",
        region="us-east-1",
        pattern="shared-nlb",
        generation=1,
        brokers=tuple(
            BrokerEndpoint(
                broker_id=b,
                host_names=(f"b-{b}.{DOMAIN}",),
                endpoint_service_name=SHARED,
                endpoint_service_id=SHARED.rsplit(".", 1)[-1],
                ports={"sasl_iam": 9000 + b},
            )
            for b in broker_ids
        ),
        bootstrap=BootstrapEndpoint(
            endpoint_service_name=SHARED,
            endpoint_service_id=SHARED.rsplit(".", 1)[-1],
            ports={"sasl_iam": 9098},
        )
        if bootstrap
        else None,
    )


def test_shared_nlb_one_endpoint_serves_every_name_and_the_bootstrap() -> None:
    desired = build_consumer_desired(shared_event([1, 2, 3]), SETTINGS)

    assert list(desired.endpoints) == [SHARED]
    assert desired.endpoints[SHARED].broker_id is None
    assert {(r.name, r.set_identifier, r.service_name) for r in desired.records.values()} == {
        (f"b-1.{DOMAIN}", None, SHARED),
        (f"b-2.{DOMAIN}", None, SHARED),
        (f"b-3.{DOMAIN}", None, SHARED),
        # One plain alias: the bootstrap listener spreads connections itself.
        (f"bootstrap.{DOMAIN}", None, SHARED),
    }


def test_shared_nlb_scale_out_adds_records_only() -> None:
    before = build_consumer_desired(shared_event([1, 2, 3]), SETTINGS)
    endpoints = [replace(endpoint(1), service_name=SHARED, broker_id=None)]
    actual = ConsumerActual(
        ARN,
        SETTINGS.vpc_id,
        endpoints=tuple(endpoints),
        zones=(ZoneState("Z1", DOMAIN, True, 1, records_for(before, endpoints)),),
    )
    assert compute_consumer_plan(before, actual).is_empty

    plan = compute_consumer_plan(
        build_consumer_desired(shared_event([1, 2, 3, 4]), SETTINGS), actual
    )

    assert [(c.step, c.key) for c in plan.changes] == [
        (ConsumerStep.UPSERT_RECORD, f"b-4.{DOMAIN} A")
    ]


def test_shared_nlb_without_bootstrap_and_per_broker_with_one_are_refused() -> None:
    with pytest.raises(InvalidEventError, match="bootstrap"):
        build_consumer_desired(shared_event([1, 2], bootstrap=False), SETTINGS)
    per_broker = replace_record(event([1, 2]), bootstrap=shared_event([1]).bootstrap)
    with pytest.raises(InvalidEventError, match="bootstrap"):
        build_consumer_desired(per_broker, SETTINGS)


@pytest.mark.parametrize(
    ("host", "service_name"),
    [
        ("b-1.x'; DROP TABLE zones; --", service(1)),
        ("b-1.demo\n.example.com", service(1)),
        ("a" * 300 + ".example.com", service(1)),
        (f"b-1.{DOMAIN}", "com.amazonaws.vpce.us-east-1.vpce-svc-1 ; rm"),
        (f"b-1.{DOMAIN}", "com.amazonaws.us-east-1.kafka"),
    ],
)
def test_names_that_are_not_dns_names_or_service_names_are_refused(
    host: str, service_name: str
) -> None:
    broker = replace_record(
        event([1]).brokers[0], host_names=(host,), endpoint_service_name=service_name
    )
    broken = replace_record(event([1]), brokers=(broker,))
    with pytest.raises(InvalidEventError):
        build_consumer_desired(broken, SETTINGS)


def test_settings_without_subnets_can_tear_down_but_never_build() -> None:
    teardown_only = ConsumerSettings(vpc_id=SETTINGS.vpc_id, region="us-east-1")

    with pytest.raises(InvalidEventError, match="no subnets"):
        build_consumer_desired(event([1]), teardown_only)


def test_a_large_clusters_bootstrap_name_stays_within_route53s_weighted_record_limit() -> None:
    desired = build_consumer_desired(event(list(range(1, 181))), SETTINGS)

    weighted = [r for r in desired.records.values() if r.weight is not None]
    named = [r for r in desired.records.values() if r.weight is None]
    # Every broker keeps its own name; the bootstrap name the 100 lowest ids.
    assert MAX_BOOTSTRAP_ALIASES == 100
    assert len(named) == 180
    assert sorted(r.broker_id for r in weighted) == list(range(1, 101))
    # A scale-out adds higher ids: the bootstrap aliases do not move.
    bigger = build_consumer_desired(event(list(range(1, 184))), SETTINGS)
    assert {k for k, r in bigger.records.items() if r.weight is not None} == {
        k for k, r in desired.records.items() if r.weight is not None
    }
