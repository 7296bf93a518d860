"""Planner: table-driven cases and properties (pure, no network)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from msk_privatelink.kernel.models import AuthScheme
from msk_privatelink.kernel.naming import load_balancer_name, target_group_name
from msk_privatelink.reconcile.desired import build_desired
from msk_privatelink.reconcile.plan import Step
from msk_privatelink.reconcile.planner import compute_plan
from msk_privatelink.reconcile.resources import ActualState, Target
from tests.factories import CLUSTER_ARN, actual_from, apply_in_memory, broker, config, inventory

LB1 = load_balancer_name(CLUSTER_ARN, 1)
TG1 = target_group_name(CLUSTER_ARN, 1, 9098)


def steps(plan: object) -> list[tuple[str, str]]:
    return [(c.step.name, c.key) for c in plan.changes]  # type: ignore[attr-defined]


def test_initial_create_for_one_broker_creates_everything_in_dependency_order() -> None:
    desired = build_desired(config(), inventory((broker(1),)))

    plan = compute_plan(desired, ActualState(cluster_arn=CLUSTER_ARN))

    assert steps(plan) == [
        ("CREATE_TARGET_GROUP", TG1),
        ("REGISTER_TARGETS", TG1),
        ("CREATE_LOAD_BALANCER", LB1),
        ("CONFIGURE_LOAD_BALANCER", LB1),
        ("CREATE_LISTENER", f"{LB1}:9098"),
        ("CREATE_ENDPOINT_SERVICE", LB1),
    ]


def test_principals_are_granted_right_after_the_service_is_created() -> None:
    principal = "arn:aws:iam::111122223333:root"
    desired = build_desired(config(allowed_principals=[principal]), inventory((broker(1),)))

    plan = compute_plan(desired, ActualState(cluster_arn=CLUSTER_ARN))

    grant = [c for c in plan.changes if c.step is Step.UPDATE_ENDPOINT_PERMISSIONS]
    assert [(c.key, c.add) for c in grant] == [(LB1, frozenset({principal}))]


def test_ip_change_registers_the_new_address_before_deregistering_the_old() -> None:
    old = build_desired(config(), inventory())
    actual = actual_from(old)
    moved = inventory((broker(1, ip="10.0.9.99"), broker(2), broker(3)))

    plan = compute_plan(build_desired(config(), moved), actual)

    assert steps(plan) == [("REGISTER_TARGETS", TG1), ("DEREGISTER_TARGETS", TG1)]
    register, deregister = plan.changes
    assert register.targets == {Target("10.0.9.99", 9098)}
    assert deregister.targets == {Target(broker(1).ip or "", 9098)}
    assert register.step < deregister.step


def test_scale_in_removes_the_departed_broker_in_reverse_dependency_order() -> None:
    actual = actual_from(build_desired(config(), inventory()))
    desired = build_desired(config(), inventory((broker(1), broker(2))))

    plan = compute_plan(desired, actual)

    lb3 = load_balancer_name(CLUSTER_ARN, 3)
    # The listener goes with its load balancer: no separate DeleteListener call.
    assert steps(plan) == [
        ("DELETE_ENDPOINT_SERVICE", lb3),
        ("DELETE_LOAD_BALANCER", lb3),
        ("DELETE_TARGET_GROUP", target_group_name(CLUSTER_ARN, 3, 9098)),
    ]


def test_a_broker_listed_without_an_address_keeps_its_resources() -> None:
    actual = actual_from(build_desired(config(), inventory()))
    desired = build_desired(config(), inventory((broker(1), broker(2), broker(3, ip=None))))

    assert desired.held_broker_ids == {3}
    assert compute_plan(desired, actual).is_empty


def test_listener_forwarding_elsewhere_is_pointed_back() -> None:
    desired = build_desired(config(), inventory())
    actual = actual_from(desired)
    key = f"{LB1}:9098"
    listeners = dict(actual.listeners)
    listeners[key] = replace(listeners[key], target_group=None)

    plan = compute_plan(desired, replace(actual, listeners=listeners))

    assert steps(plan) == [("MODIFY_LISTENER", key)]
    assert plan.changes[0].target_group == TG1


def test_load_balancer_without_attribute_marker_is_configured_again() -> None:
    desired = build_desired(config(), inventory())
    actual = actual_from(desired)
    lbs = dict(actual.load_balancers)
    lbs[LB1] = replace(lbs[LB1], attributes_token=None)

    plan = compute_plan(desired, replace(actual, load_balancers=lbs))

    assert steps(plan) == [("CONFIGURE_LOAD_BALANCER", LB1)]


@pytest.mark.parametrize(
    ("field", "value", "expected_step"),
    [
        ("acceptance_required", False, Step.UPDATE_ENDPOINT_SERVICE),
        ("supported_regions", ["eu-west-1"], Step.UPDATE_ENDPOINT_SERVICE),
        (
            "allowed_principals",
            ["arn:aws:iam::111122223333:root"],
            Step.UPDATE_ENDPOINT_PERMISSIONS,
        ),
    ],
)
def test_endpoint_service_settings_are_updated_in_place(
    field: str, value: object, expected_step: Step
) -> None:
    actual = actual_from(build_desired(config(), inventory()))
    desired = build_desired(config(**{field: value}), inventory())

    plan = compute_plan(desired, actual)

    assert {c.step for c in plan.changes} == {expected_step}
    assert len(plan) == 3  # one per broker's service


def test_home_region_is_implied_and_never_planned() -> None:
    actual = actual_from(build_desired(config(), inventory()))
    desired = build_desired(config(supported_regions=["us-east-1"]), inventory())
    assert compute_plan(desired, actual).is_empty


def test_every_enabled_scheme_gets_its_target_group_and_listener() -> None:
    schemes = frozenset({AuthScheme.SASL_IAM, AuthScheme.TLS, AuthScheme.SASL_SCRAM})
    desired = build_desired(config(), inventory((broker(1),), schemes=schemes))
    assert sorted(tg.port for tg in desired.target_groups.values()) == [9094, 9096, 9098]
    assert sorted(desired.listeners) == [f"{LB1}:9094", f"{LB1}:9096", f"{LB1}:9098"]


# -- properties ---------------------------------------------------------------

broker_ids = st.sets(st.integers(min_value=1, max_value=60), min_size=1, max_size=12)
scheme_sets = st.sets(st.sampled_from(list(AuthScheme)), min_size=1, max_size=4)


@st.composite
def inventories(draw: st.DrawFn) -> object:
    ids = draw(broker_ids)
    schemes = draw(scheme_sets)
    brokers = tuple(
        broker(
            i, ip=draw(st.sampled_from([f"10.0.{i % 3}.{10 + i}", f"10.1.{i % 3}.{100 + i}", None]))
        )
        for i in sorted(ids)
    )
    return inventory(brokers, schemes=frozenset(schemes))


@settings(max_examples=150, deadline=None)
@given(inventories())
def test_plan_of_a_state_against_itself_is_empty(inv: object) -> None:
    desired = build_desired(config(), inv)  # type: ignore[arg-type]
    assert compute_plan(desired, actual_from(desired)).is_empty


@settings(max_examples=150, deadline=None)
@given(inventories(), inventories(), st.booleans())
def test_applying_a_plan_then_planning_again_is_empty(
    before: object, after: object, principals: bool
) -> None:
    cfg = config(allowed_principals=["arn:aws:iam::111122223333:root"] if principals else [])
    actual = actual_from(build_desired(config(), before))  # type: ignore[arg-type]
    desired = build_desired(cfg, after)  # type: ignore[arg-type]

    plan = compute_plan(desired, actual)
    converged = apply_in_memory(plan, desired, actual)

    assert compute_plan(desired, converged).is_empty
    # Deterministic: the same inputs give the same plan.
    assert compute_plan(desired, actual) == plan


@settings(max_examples=100, deadline=None)
@given(inventories(), inventories())
def test_every_registration_precedes_every_deregistration_and_creates_precede_deletes(
    before: object, after: object
) -> None:
    actual = actual_from(build_desired(config(), before))  # type: ignore[arg-type]
    plan = compute_plan(build_desired(config(), after), actual)  # type: ignore[arg-type]
    order = [c.step for c in plan.changes]
    assert order == sorted(order)
    destructive_seen = False
    for step in order:
        destructive_seen = destructive_seen or step.destructive
        if destructive_seen:
            assert step.destructive
