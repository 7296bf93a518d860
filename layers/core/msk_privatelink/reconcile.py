"""One reconcile of one cluster: read desired, read actual, plan, guard, apply,
verify, publish. Level-triggered: nothing depends on the event that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .aws.actual import ActualStateReader
from .aws.applier import PlanApplier
from .aws.clients import AwsClients
from .aws.lease import ClusterLeases
from .aws.msk import MskInventoryReader
from .aws.publisher import EndpointsPublisher
from .config import ClusterConfig
from .desired import build_desired
from .errors import NotConvergedError, OwnershipConflictError
from .guard import GuardDecision, evaluate
from .models import ClusterInventory
from .plan import Change, Plan, Step
from .planner import compute_plan
from .resources import ActualState, DesiredState
from .view import endpoints_view

logger = logging.getLogger(__name__)

# Additions after which the consumer-visible view must be read again.
VIEW_STEPS = frozenset({Step.CREATE_LISTENER, Step.MODIFY_LISTENER, Step.CREATE_ENDPOINT_SERVICE})

Status = Literal["converged", "unchanged", "guarded", "blocked", "refused", "planned"]


@dataclass(frozen=True)
class Assessment:
    """Everything a plan is computed from, and the plan with its guard decision."""

    config: ClusterConfig
    inventory: ClusterInventory
    desired: DesiredState
    actual: ActualState
    plan: Plan
    decision: GuardDecision


@dataclass(frozen=True)
class ReconcileOutcome:
    cluster_arn: str
    status: Status
    plan: Plan
    applied: tuple[Change, ...] = ()
    withheld: tuple[Change, ...] = ()
    reasons: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    # Removals that AWS did not allow yet (e.g. consumers still connected).
    blocked: tuple[tuple[Change, str], ...] = ()
    generation: int | None = None
    actual: ActualState | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster_arn": self.cluster_arn,
            "status": self.status,
            "planned": self.plan.to_dicts(),
            "applied": len(self.applied),
            "withheld": [c.to_dict() for c in self.withheld],
            "blocked": [{**c.to_dict(), "reason": why} for c, why in self.blocked],
            "reasons": list(self.reasons),
            "conflicts": list(self.conflicts),
            "published_generation": self.generation,
        }


class Reconciler:
    def __init__(
        self,
        clients: AwsClients,
        publisher: EndpointsPublisher | None = None,
        on_change: Callable[[Change], None] | None = None,
        leases: ClusterLeases | None = None,
    ) -> None:
        self._leases = leases
        self._inventory = MskInventoryReader(clients.kafka, clients.ec2)
        self._actual = ActualStateReader(clients.elbv2, clients.ec2)
        self._applier = PlanApplier(clients.elbv2, clients.ec2, on_change=on_change)
        self._publisher = publisher

    def assess(self, config: ClusterConfig, *, deep: bool = False) -> Assessment:
        """Read everything and plan. ``deep`` re-reads what is normally trusted
        from our own marker tags (endpoint service permissions)."""
        actual = self._actual.read(
            config.cluster_arn,
            expected_principals=None if deep else frozenset(config.allowed_principals),
        )
        # Our target groups live in the cluster's VPC; use it when we have one.
        vpc_hint = next((tg.vpc_id for tg in actual.target_groups.values() if tg.vpc_id), None)
        inventory = self._inventory.read(config.cluster_arn, vpc_id=vpc_hint)
        desired = build_desired(config, inventory)
        plan = compute_plan(desired, actual)
        decision = evaluate(plan, actual, inventory, config.guard)
        return Assessment(config, inventory, desired, actual, plan, decision)

    def reconcile(
        self, config: ClusterConfig, *, dry_run: bool = False, deep: bool = False
    ) -> ReconcileOutcome:
        started = self._leases.now() if self._leases is not None else 0.0
        a = self.assess(config, deep=deep)
        if dry_run or self._leases is None or a.decision.allowed.is_empty:
            # Nothing to change: no lease, so a no-op run makes no write at all.
            return self._run(a, dry_run=dry_run)
        with self._leases.held(config.cluster_arn) as lease:
            # Every writer holds the lease, so the plan is stale only if
            # another holder could have written while we were reading.
            if lease.others_wrote_since(started):
                a = self.assess(config, deep=deep)
            return self._run(a, dry_run=False)

    def _run(self, a: Assessment, *, dry_run: bool) -> ReconcileOutcome:
        config = a.config
        if a.actual.conflicts:
            logger.warning(
                "resources with look-alike names are not ours and are left alone",
                extra={"conflicts": list(a.actual.conflicts)},
            )
        if dry_run:
            return self._outcome(a, "planned", ())
        if a.decision.refused:
            return self._outcome(a, "refused", ())
        self._refuse_name_clashes(a)

        # Additions first, all or nothing: they create the paths clients need.
        additions = Plan(tuple(c for c in a.decision.allowed.changes if not c.destructive))
        removals = Plan(tuple(c for c in a.decision.allowed.changes if c.destructive))
        actual = a.actual
        applied: list[Change] = []
        if not additions.is_empty:
            applied += self._applier.apply(additions, actual).applied
            # Read again now only when the additions can change what consumers
            # see (or nothing else will: the last read is also the verify).
            if removals.is_empty or any(c.step in VIEW_STEPS for c in additions.changes):
                actual = self._reread(config)

        # Consumers hear about the new view before removals run: a removed
        # broker's endpoint service can only go once they let go of it.
        generation = None
        if self._publisher is not None:
            generation = self._publisher.publish_if_changed(endpoints_view(a.inventory, actual))

        blocked: tuple[tuple[Change, str], ...] = ()
        if not removals.is_empty:
            result = self._applier.apply_isolated(removals, actual)
            applied += result.applied
            blocked = tuple(result.blocked)
            actual = self._reread(config)
        if applied:
            self._verify(a, actual, blocked)

        status: Status
        if blocked:
            status = "blocked"
        elif a.decision.guarded:
            status = "guarded"
        else:
            status = "converged" if applied else "unchanged"
        return self._outcome(
            a, status, tuple(applied), generation=generation, actual=actual, blocked=blocked
        )

    def _reread(self, config: ClusterConfig) -> ActualState:
        return self._actual.read(
            config.cluster_arn, expected_principals=frozenset(config.allowed_principals)
        )

    def teardown(self, cluster_arn: str, *, dry_run: bool = False) -> ReconcileOutcome:
        """Remove everything this project created for a cluster (an operator's
        explicit act, e.g. after the cluster was deleted). Only resources
        carrying our ownership tags for this cluster are planned."""
        actual = self._actual.read(cluster_arn)
        plan = compute_plan(DesiredState(cluster_arn=cluster_arn), actual)
        if dry_run or plan.is_empty:
            status: Status = "planned" if dry_run else "unchanged"
            return ReconcileOutcome(cluster_arn, status, plan, conflicts=actual.conflicts)
        result = self._applier.apply_isolated(plan, actual)
        return ReconcileOutcome(
            cluster_arn,
            "blocked" if result.blocked else "converged",
            plan,
            applied=tuple(result.applied),
            blocked=tuple(result.blocked),
            conflicts=actual.conflicts,
            actual=self._actual.read(cluster_arn),
        )

    @staticmethod
    def _refuse_name_clashes(a: Assessment) -> None:
        """Refuse before any write when a create would reuse a foreign resource's name.

        ELBv2 answers a create with an existing name and equal settings by
        returning the existing resource, so creating would silently adopt it.
        """
        creates = {c.key for c in a.decision.allowed.changes if c.step.action == "create"}
        clashes = sorted(creates & set(a.actual.conflicts))
        if clashes:
            raise OwnershipConflictError(
                f"{', '.join(clashes)} already exist(s) without this project's ownership tags "
                f"for {a.config.cluster_arn}; rename or delete by hand, nothing was changed"
            )

    @staticmethod
    def _verify(
        a: Assessment, actual: ActualState, blocked: tuple[tuple[Change, str], ...]
    ) -> None:
        residual = compute_plan(a.desired, actual)
        # Withheld or blocked removals, and whatever depends on them, stay pending.
        pending_brokers = {c.broker_id for c in a.decision.withheld if c.destructive}
        pending_brokers |= {c.broker_id for c, _ in blocked}
        expected = {(c.step, c.key) for c in a.decision.withheld}
        left = [
            c
            for c in residual.changes
            if (c.step, c.key) not in expected
            and not (c.destructive and c.broker_id in pending_brokers)
        ]
        if left:
            summary = ", ".join(f"{c.step.name.lower()} {c.key}" for c in left[:5])
            raise NotConvergedError(
                f"{a.config.cluster_arn}: {len(left)} change(s) still pending "
                f"after apply: {summary}"
            )

    @staticmethod
    def _outcome(
        a: Assessment,
        status: Status,
        applied: tuple[Change, ...],
        *,
        generation: int | None = None,
        actual: ActualState | None = None,
        blocked: tuple[tuple[Change, str], ...] = (),
    ) -> ReconcileOutcome:
        return ReconcileOutcome(
            cluster_arn=a.config.cluster_arn,
            status=status,
            plan=a.plan,
            applied=applied,
            withheld=a.decision.withheld,
            reasons=a.decision.reasons,
            conflicts=a.actual.conflicts,
            generation=generation,
            actual=actual or a.actual,
            blocked=blocked,
        )
