"""Blast-radius guard: decides which planned changes may run.

Additions are always safe to apply (they only add paths). Destructive changes
(deregistrations and deletes) are withheld whenever the broker inventory might
be incomplete, because acting on a partial inventory would cut live brokers
off. A withheld change is reported and alarmed, and the next run retries it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from msk_privatelink.kernel.models import TRANSITIONAL_STATES, ClusterInventory, ClusterState
from msk_privatelink.reconcile.config import GuardConfig
from msk_privatelink.reconcile.plan import Change, Plan, Step
from msk_privatelink.reconcile.resources import ActualState

# shared-nlb: a broker no longer listed loses these (the load balancer stays).
SHARED_BROKER_REMOVALS = frozenset(
    {Step.DELETE_LISTENER, Step.DELETE_TARGET_GROUP, Step.DELETE_RECORD}
)


@dataclass(frozen=True)
class GuardDecision:
    allowed: Plan
    withheld: tuple[Change, ...] = ()
    reasons: tuple[str, ...] = ()
    # True when nothing at all may run (inventory unusable).
    refused: bool = False
    # Brokers whose resources the plan wanted to remove.
    removed_broker_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def guarded(self) -> bool:
        return bool(self.withheld) or self.refused


def evaluate(
    plan: Plan,
    actual: ActualState,
    inventory: ClusterInventory,
    guard: GuardConfig,
    *,
    shared: bool = False,
) -> GuardDecision:
    """``shared``: the shared-nlb pattern, where a broker is removed with its
    listeners, target groups and records rather than with a load balancer."""
    if not inventory.brokers:
        return GuardDecision(
            allowed=Plan(),
            withheld=plan.changes,
            reasons=("broker inventory is empty: refusing to change anything",),
            refused=True,
        )
    state = inventory.state
    if state != ClusterState.ACTIVE and state not in TRANSITIONAL_STATES:
        return GuardDecision(
            allowed=Plan(),
            withheld=plan.changes,
            reasons=(f"cluster state is {state}: refusing to change anything",),
            refused=True,
        )

    reasons: list[str] = []
    if state in TRANSITIONAL_STATES:
        reasons.append(
            f"cluster state is {state}: removals wait until it is ACTIVE "
            "(the next run after that applies them; nothing to do)"
        )
    listed = len(inventory.brokers)
    if listed < inventory.expected_broker_count:
        reasons.append(
            f"ListNodes returned {listed} brokers but the cluster has "
            f"{inventory.expected_broker_count}: inventory looks incomplete (removals "
            "wait for a complete listing; if it persists, check the cluster's brokers in MSK)"
        )

    if shared:
        listed_ids = frozenset(b.broker_id for b in inventory.brokers)
        removed = frozenset(
            c.broker_id
            for c in plan.changes
            if c.step in SHARED_BROKER_REMOVALS
            and c.broker_id is not None
            and c.broker_id not in listed_ids
        )
        existing = actual.served_broker_ids()
    else:
        removed = frozenset(
            c.broker_id
            for c in plan.changes
            if c.step is Step.DELETE_LOAD_BALANCER and c.broker_id is not None
        )
        existing = actual.broker_ids()
    if existing and removed:
        share = len(removed) / len(existing)
        if share > guard.max_broker_removal_ratio:
            reasons.append(
                f"plan removes {len(removed)} of {len(existing)} brokers ({share:.0%}), "
                f"above max_broker_removal_ratio {guard.max_broker_removal_ratio:.0%} (if "
                "the scale-in is intended, raise guard.max_broker_removal_ratio in the "
                "cluster's document, apply, and set it back)"
            )

    withheld: list[Change] = []
    if reasons:
        withheld.extend(plan.destructive())

    # Never leave a surviving target group without targets: that would be an
    # outage for the broker behind it, whatever the inventory said.
    deleted_tgs = {c.key for c in plan.changes if c.step is Step.DELETE_TARGET_GROUP}
    registered: dict[str, int] = {}
    for c in plan.changes:
        if c.step is Step.REGISTER_TARGETS:
            registered[c.key] = registered.get(c.key, 0) + len(c.targets)
    for c in plan.changes:
        if c.step is not Step.DEREGISTER_TARGETS or c in withheld or c.key in deleted_tgs:
            continue
        current = actual.target_groups.get(c.key)
        remaining = len(current.targets - c.targets) if current else 0
        if remaining + registered.get(c.key, 0) == 0:
            withheld.append(c)
            reasons.append(
                f"deregistering {c.detail} would leave target group {c.key} empty (the "
                "broker keeps its old address until a new one is registered)"
            )

    allowed = Plan(tuple(c for c in plan.changes if c not in withheld))
    return GuardDecision(
        allowed=allowed,
        withheld=tuple(withheld),
        reasons=tuple(reasons),
        removed_broker_ids=removed,
    )
