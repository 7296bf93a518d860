"""Guard: which planned changes may run."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from msk_privatelink.cli.render import render_plan
from msk_privatelink.kernel.naming import target_group_name
from msk_privatelink.reconcile.config import GuardConfig
from msk_privatelink.reconcile.desired import build_desired
from msk_privatelink.reconcile.guard import evaluate
from msk_privatelink.reconcile.plan import Change, Plan, Step
from msk_privatelink.reconcile.planner import compute_plan
from msk_privatelink.reconcile.resources import ActualState, Target
from tests.factories import CLUSTER_ARN, actual_from, broker, config, inventory

GUARD = GuardConfig(max_broker_removal_ratio=0.5)


def six_brokers_actual() -> ActualState:
    return actual_from(build_desired(config(), inventory(tuple(broker(i) for i in range(1, 7)))))


def test_empty_inventory_is_refused_outright() -> None:
    actual = six_brokers_actual()
    inv = inventory(())
    plan = compute_plan(build_desired(config(), inv), actual)

    decision = evaluate(plan, actual, inv, GUARD)

    assert decision.refused
    assert decision.allowed.is_empty
    assert len(decision.withheld) == len(plan) > 0


@pytest.mark.parametrize("state", ["CREATING", "DELETING", "FAILED"])
def test_unusable_cluster_states_refuse_everything(state: str) -> None:
    inv = inventory(state=state)
    plan = compute_plan(build_desired(config(), inv), ActualState(cluster_arn=CLUSTER_ARN))
    decision = evaluate(plan, ActualState(cluster_arn=CLUSTER_ARN), inv, GUARD)
    assert decision.refused
    assert decision.allowed.is_empty


@pytest.mark.parametrize("state", ["UPDATING", "HEALING", "REBOOTING_BROKER", "MAINTENANCE"])
def test_transitional_states_apply_additions_and_withhold_removals(state: str) -> None:
    actual = six_brokers_actual()
    # Broker 6 vanished and broker 1 moved while MSK is busy.
    inv = inventory(
        (broker(1, ip="10.9.9.9"), *(broker(i) for i in range(2, 6))), state=state, expected=5
    )
    plan = compute_plan(build_desired(config(), inv), actual)

    decision = evaluate(plan, actual, inv, GUARD)

    assert not decision.refused
    assert decision.withheld == plan.destructive()
    assert all(not c.step.destructive for c in decision.allowed.changes)
    assert any(c.step.name == "REGISTER_TARGETS" for c in decision.allowed.changes)
    assert any(state in r for r in decision.reasons)


def test_removing_more_than_the_allowed_share_is_withheld() -> None:
    actual = six_brokers_actual()
    inv = inventory((broker(1), broker(2)))  # 4 of 6 would go
    plan = compute_plan(build_desired(config(), inv), actual)

    decision = evaluate(plan, actual, inv, GUARD)

    assert decision.removed_broker_ids == {3, 4, 5, 6}
    assert decision.withheld == plan.destructive()
    assert "above max_broker_removal_ratio" in decision.reasons[0]


def test_removal_within_the_allowed_share_goes_ahead() -> None:
    actual = six_brokers_actual()
    inv = inventory(tuple(broker(i) for i in range(1, 5)))  # 2 of 6
    plan = compute_plan(build_desired(config(), inv), actual)

    decision = evaluate(plan, actual, inv, GUARD)

    assert not decision.guarded
    assert decision.allowed == plan


def test_inventory_shorter_than_the_cluster_broker_count_withholds_removals() -> None:
    actual = six_brokers_actual()
    inv = inventory(tuple(broker(i) for i in range(1, 6)), expected=6)
    plan = compute_plan(build_desired(config(), inv), actual)

    decision = evaluate(plan, actual, inv, GUARD)

    assert decision.withheld == plan.destructive() != ()
    assert "incomplete" in decision.reasons[0]


def test_a_surviving_target_group_is_never_emptied() -> None:
    desired = build_desired(config(), inventory())
    actual = actual_from(desired)
    tg = target_group_name(CLUSTER_ARN, 1, 9098)
    # The target group holds a target nobody wants, and the wanted one is
    # already there: deregistering the stray one is fine ...
    tgs = dict(actual.target_groups)
    stray = replace(tgs[tg], targets=tgs[tg].targets | {Target("10.7.7.7", 9098)})
    plan = compute_plan(desired, replace(actual, target_groups={**tgs, tg: stray}))
    assert not evaluate(plan, actual, inventory(), GUARD).guarded

    # ... but a deregistration that would leave it empty is withheld.
    only_target = tgs[tg].targets
    drain = Plan.of([Change(Step.DEREGISTER_TARGETS, tg, 1, "x", targets=only_target)])
    decision = evaluate(drain, actual, inventory(), GUARD)
    assert decision.allowed.is_empty
    assert "empty" in decision.reasons[0]


def test_the_plan_summary_counts_withheld_changes_apart_and_the_guard_says_how_to_proceed() -> None:
    actual = six_brokers_actual()
    inv = inventory((broker(1), broker(2)))  # 4 of 6 would go
    plan = compute_plan(build_desired(config(), inv), actual)
    decision = evaluate(plan, actual, inv, GUARD)

    text = render_plan(plan, decision)

    summary = next(line for line in text.splitlines() if line.startswith("Plan: "))
    assert "withheld by the guard: " in summary
    assert " delete" not in summary.split(";")[0]
    assert "raise guard.max_broker_removal_ratio" in text
