"""One reconcile of one cluster: read desired, read actual, plan, guard, apply,
verify, publish. Level-triggered: nothing depends on the event that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from msgspec.structs import replace

from msk_privatelink.advertised.outcome import AdvertisedOutcome, AdvertisedStatus
from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.errors import (
    ConfigError,
    MskPrivateLinkError,
    NotConvergedError,
    OwnershipConflictError,
)
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.models import ClusterInventory, brokers_fingerprint
from msk_privatelink.kernel.naming import is_shared_load_balancer_name
from msk_privatelink.reconcile.account_quotas import check_elb_quotas, grows_elb_resources
from msk_privatelink.reconcile.aws.account_limits import AccountLimits
from msk_privatelink.reconcile.aws.actual import ActualStateReader
from msk_privatelink.reconcile.aws.applier import PlanApplier
from msk_privatelink.reconcile.aws.lease import ClusterLeases
from msk_privatelink.reconcile.aws.msk import MskInventoryReader
from msk_privatelink.reconcile.aws.provider_zone import ProviderZoneReader
from msk_privatelink.reconcile.aws.publisher import EndpointsPublisher, PublishedState
from msk_privatelink.reconcile.budget import TimeBudget
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.desired import build_desired
from msk_privatelink.reconcile.desired_common import resolve_schemes
from msk_privatelink.reconcile.guard import GuardDecision, evaluate
from msk_privatelink.reconcile.plan import Change, Plan, Step
from msk_privatelink.reconcile.planner import compute_plan
from msk_privatelink.reconcile.resources import ActualState, DesiredState
from msk_privatelink.reconcile.shards import refuse_moves
from msk_privatelink.reconcile.view import endpoints_view

if TYPE_CHECKING:
    from msk_privatelink.advertised.outcome import AdvertisedPreview
    from msk_privatelink.advertised.request import AdvertisedRequest, AdvertisedResponse

    # Imported where used: only shared-nlb clusters with advertised listeners
    # need the advertised-listeners stack, so every other cluster's cold start
    # does not pay for it.
    from msk_privatelink.advertised.service import AdvertisedListeners, BrokerOverrideCall

logger = logging.getLogger(__name__)

# Additions after which the consumer-visible view must be read again.
VIEW_STEPS = frozenset({Step.CREATE_LISTENER, Step.MODIFY_LISTENER, Step.CREATE_ENDPOINT_SERVICE})

# partial: the run's time was up before every change was made; the rest is
# deferred to the next run (reconcile/budget.py).
Status = Literal["converged", "unchanged", "guarded", "blocked", "refused", "planned", "partial"]


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
    # Changes not started because the run's time budget was spent.
    deferred: tuple[Change, ...] = ()
    generation: int | None = None
    actual: ActualState | None = field(default=None, repr=False)
    # shared-nlb with advertised listeners: what this run's step did (None:
    # not called, because the mode is none or the networking is not complete).
    advertised: AdvertisedOutcome | None = None

    @property
    def advertised_pending(self) -> bool:
        """Advertised listeners are on their way (MSK operation, busy cluster):
        worth a run soon, without anything being wrong."""
        return self.advertised is not None and self.advertised.pending

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster_arn": self.cluster_arn,
            "status": self.status,
            "planned": self.plan.to_dicts(),
            "applied": len(self.applied),
            "withheld": [c.to_dict() for c in self.withheld],
            "blocked": [{**c.to_dict(), "reason": why} for c, why in self.blocked],
            "deferred": len(self.deferred),
            "reasons": list(self.reasons),
            "conflicts": list(self.conflicts),
            "published_generation": self.generation,
            "advertised": None
            if self.advertised is None
            else {
                "mode": self.advertised.mode,
                "status": self.advertised.status.value,
                "detail": self.advertised.detail,
            },
        }


def _preview_never_calls(request: AdvertisedRequest) -> AdvertisedResponse:
    raise ConfigError(f"a preview never calls the Kafka admin function ({request!r})")


class Reconciler:
    def __init__(
        self,
        clients: AwsClients,
        publisher: EndpointsPublisher | None = None,
        on_change: Callable[[Change], None] | None = None,
        leases: ClusterLeases | None = None,
        broker_override: BrokerOverrideCall | None = None,
    ) -> None:
        """``broker_override``: how broker-override clusters reach the Kafka
        admin code (the Lambda invoker, or the same code in-process for the
        CLI and tests); without it such clusters are refused."""
        self._leases = leases
        self._broker_override = broker_override
        self._inventory = MskInventoryReader(clients.kafka, clients.ec2)
        self._actual = ActualStateReader(clients.elbv2, clients.ec2)
        self._limits = AccountLimits(clients.elbv2)
        self._clients = clients
        self._applier = PlanApplier(
            clients.elbv2, clients.ec2, on_change=on_change, route53=lambda: clients.route53
        )
        self._publisher = publisher

    def observe(
        self, config: ClusterConfig, *, deep: bool = False
    ) -> tuple[ClusterInventory, ActualState]:
        """The cluster's brokers and what exists of ours, without planning:
        what `status` shows even when no plan can be made."""
        actual = self._actual.read(
            config.cluster_arn,
            expected_principals=None if deep else frozenset(config.allowed_principals),
            read_attributes=deep,
        )
        vpc_hint = _vpc_hint(actual)
        shared = config.pattern == "shared-nlb"
        inventory = self._inventory.read(config.cluster_arn, vpc_id=vpc_hint, read_operation=shared)
        return inventory, actual

    def assess(self, config: ClusterConfig, *, deep: bool = False) -> Assessment:
        """Read everything and plan. ``deep`` re-reads what is normally trusted
        from our own marker tags (endpoint service permissions, load balancer
        attributes, provider zone ownership), so a change made by hand is
        repaired."""
        inventory, actual = self.observe(config, deep=deep)
        return self.assess_observed(config, inventory, actual, deep=deep)

    def assess_observed(
        self,
        config: ClusterConfig,
        inventory: ClusterInventory,
        actual: ActualState,
        *,
        deep: bool = False,
    ) -> Assessment:
        """Plan from what ``observe`` read."""
        shared = config.pattern == "shared-nlb"
        desired = build_desired(config, inventory)
        if shared:
            refuse_moves(config, desired, actual)
        actual = self._with_zones(actual, desired, inventory.vpc_id, trust_marker=not deep)
        plan = compute_plan(desired, actual)
        if grows_elb_resources(desired, actual):
            check_elb_quotas(desired, actual, self._limits.read())
        decision = evaluate(plan, actual, inventory, config.guard, shared=shared)
        return Assessment(config, inventory, desired, actual, plan, decision)

    def _with_zones(
        self,
        actual: ActualState,
        desired: DesiredState,
        vpc_id: str,
        *,
        trust_marker: bool = True,
    ) -> ActualState:
        """Add the provider hosted zone (shared-nlb only: nlb-per-broker reads no
        DNS). ``trust_marker``: take the zone id recorded on our load balancer
        as ours without reading zone tags (a deep run reads them)."""
        if not desired.manages_zone:
            return actual
        spec = desired.hosted_zone
        owner = actual.load_balancers.get(spec.load_balancer) if spec else None
        zones, foreign = ProviderZoneReader(self._clients.route53).read(
            actual.cluster_arn,
            vpc_id,
            actual.cluster_arn.split(":")[3],
            spec.name if spec else None,
            trusted_zone_id=owner.zone_marker if owner and trust_marker else None,
        )
        return replace(
            actual,
            hosted_zones=zones,
            foreign_zone_names=foreign,
            conflicts=tuple(
                sorted({*actual.conflicts, *(f"hosted zone {n} (not ours)" for n in foreign)})
            ),
        )

    def reconcile(
        self,
        config: ClusterConfig,
        *,
        dry_run: bool = False,
        deep: bool = False,
        budget: TimeBudget | None = None,
    ) -> ReconcileOutcome:
        """``budget``: the invocation's time; without one every change is made
        (the CLI). With one, changes stop starting when it runs low and the
        outcome is ``partial``: the caller runs the cluster again."""
        advertiser = None if dry_run else self._advertiser(config)
        started = self._leases.now() if self._leases is not None else 0.0
        a = self.assess(config, deep=deep)
        if dry_run or self._leases is None or a.decision.allowed.is_empty:
            # Nothing to change: no lease, so a no-op run makes no write at all.
            return self._run(a, dry_run=dry_run, advertiser=advertiser, deep=deep, budget=budget)
        with self._leases.held(config.cluster_arn) as lease:
            # Every writer holds the lease, so the plan is stale only if
            # another holder could have written while we were reading.
            if lease.others_wrote_since(started):
                a = self.assess(config, deep=deep)
            return self._run(a, dry_run=False, advertiser=advertiser, deep=deep, budget=budget)

    def advertised_preview(self, a: Assessment) -> AdvertisedPreview | None:
        """What the advertised-listeners step would write after this plan
        (None: the pattern or mode has none). Reads only."""
        mode = a.config.advertised_listeners.mode
        if a.config.pattern != "shared-nlb" or mode == "none":
            return None
        from msk_privatelink.advertised.service import AdvertisedListeners, mapping_from_config

        advertiser = AdvertisedListeners(
            "msk-configuration" if mode == "msk-configuration" else "broker-override",
            kafka=self._clients.kafka,
            broker_override=_preview_never_calls,
        )
        schemes = frozenset(resolve_schemes(a.config, a.inventory))
        return advertiser.preview(a.inventory, mapping_from_config(a.config, a.inventory, schemes))

    def _advertiser(self, config: ClusterConfig) -> AdvertisedListeners | None:
        """The advertised-listeners step for this cluster, checked before any read
        or write so a cluster that cannot have it changes nothing."""
        mode = config.advertised_listeners.mode
        if config.pattern != "shared-nlb" or mode == "none":
            return None
        if mode == "broker-override" and self._broker_override is None:
            raise ConfigError(
                f"{config.cluster_arn}: advertised_listeners.mode broker-override needs the "
                "Kafka admin function, and this deployment has none (deploy the stack with "
                "KafkaAdminSubnetIds, or use mode msk-configuration); nothing was changed"
            )
        from msk_privatelink.advertised.service import AdvertisedListeners

        return AdvertisedListeners.from_config(
            config, kafka=self._clients.kafka, broker_override=self._broker_override
        )

    def _run(
        self,
        a: Assessment,
        *,
        dry_run: bool,
        advertiser: AdvertisedListeners | None = None,
        deep: bool = False,
        budget: TimeBudget | None = None,
    ) -> ReconcileOutcome:
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

        # Additions first: they create the paths clients need. A broker whose
        # path fails holds back none of the others'; the run still fails.
        additions = Plan(tuple(c for c in a.decision.allowed.changes if not c.destructive))
        removals = Plan(tuple(c for c in a.decision.allowed.changes if c.destructive))
        actual = a.actual
        applied: list[Change] = []
        failures: list[tuple[Change, MskPrivateLinkError]] = []
        deferred: list[Change] = []
        out_of_time = budget.apply_exhausted if budget is not None else _never
        if not additions.is_empty:
            added = self._applier.apply_additions(additions, actual, out_of_time)
            applied += added.applied
            failures = added.failed
            deferred += added.deferred
            # Read again now only when the additions can change what consumers
            # see (or nothing else will: the last read is also the verify).
            if removals.is_empty or any(c.step in VIEW_STEPS for c in additions.changes):
                actual = self._reread(a)

        # Consumers hear about the new view before removals run: a removed
        # broker's endpoint service can only go once they let go of it.
        generation, state = self._publish(a, actual)

        blocked: tuple[tuple[Change, str], ...] = ()
        if deferred:
            # Removals wait for every addition: a broker's old path goes
            # only once its new one is made.
            deferred += removals.changes
        elif not removals.is_empty:
            result = self._applier.apply_isolated(removals, actual, out_of_time)
            applied += result.applied
            blocked = tuple(result.blocked)
            deferred += result.deferred
            actual = self._reread(a)
        failed_brokers = frozenset(c.broker_id for c, _ in failures if c.broker_id is not None)
        if applied:
            self._verify(a, actual, blocked, failed_brokers, tuple(deferred))
        if failures:
            change, error = failures[0]
            logger.error(
                "some brokers' paths failed; every other broker's was made",
                extra={
                    "cluster_arn": a.config.cluster_arn,
                    "failed_brokers": sorted(failed_brokers),
                    "first_failure": f"{change.step.name.lower()} {change.key}: {error}",
                },
            )
            # Retried (or, for a quota, stopped) like any failure; what was
            # made is published above and stays.
            raise error

        # Only now is every listed broker's listener, target group and record
        # in place (applied and verified above, or nothing to add): brokers
        # may be told to advertise them. Never earlier, or clients would be
        # sent to ports that lead nowhere.
        advertised = None
        if (
            advertiser is not None
            and not failures
            and not deferred
            and not any(not c.destructive for c in a.decision.withheld)
        ):
            advertised = self._advertise(a, advertiser, tuple(applied), state, deep=deep)

        status: Status
        if deferred:
            status = "partial"
            logger.warning(
                "time budget spent: changes deferred to the next run",
                extra={
                    "cluster_arn": a.config.cluster_arn,
                    "applied": len(applied),
                    "deferred": len(deferred),
                },
            )
        elif blocked:
            status = "blocked"
        elif a.decision.guarded:
            status = "guarded"
        else:
            status = "converged" if applied else "unchanged"
            self._record_brokers(a, state)
        return self._outcome(
            a,
            status,
            tuple(applied),
            generation=generation,
            actual=actual,
            blocked=blocked,
            deferred=tuple(deferred),
            advertised=advertised,
        )

    def _publish(
        self, a: Assessment, actual: ActualState
    ) -> tuple[int | None, PublishedState | None]:
        """Publish the view of what exists, when it changed: the generation
        published (None: unchanged or withheld) and the state item read."""
        if self._publisher is None:
            return None, None
        # One GetItem serves the publisher and the advertised-listeners record.
        state = self._publisher.state(a.config.cluster_arn)
        view = endpoints_view(a.inventory, actual)
        kept = withheld_brokers_missing_from(view, a.decision)
        if kept:
            # The view is built from the brokers MSK listed; one whose
            # removal the guard withheld (an incomplete ListNodes, a cluster
            # mid-operation) is still served here, and a view without it
            # would make consumers delete its endpoint and records. The
            # next unguarded run publishes.
            logger.warning(
                "view not published: it lacks brokers whose removal was withheld",
                extra={"cluster_arn": a.config.cluster_arn, "brokers": kept},
            )
            return None, state
        return self._publisher.publish_if_changed(view, state), state

    def _record_brokers(self, a: Assessment, state: PublishedState | None) -> None:
        """The change detector's baseline: the brokers this run left fully
        served. Written only when it moved, so a steady cluster costs no write;
        a guarded or blocked run leaves the old one, and the detector keeps
        asking for a reconcile until one converges."""
        if self._publisher is None or state is None:
            return
        fingerprint = brokers_fingerprint(a.inventory.brokers)
        if state.brokers_fingerprint != fingerprint:
            self._publisher.record_brokers(a.config.cluster_arn, fingerprint)

    def _advertise(
        self,
        a: Assessment,
        advertiser: AdvertisedListeners,
        applied: tuple[Change, ...],
        state: PublishedState | None,
        *,
        deep: bool,
    ) -> AdvertisedOutcome:
        held = sorted(b.broker_id for b in a.inventory.brokers if b.ip is None)
        if held:
            # Their groups have no target yet: advertising them would route nowhere.
            return AdvertisedOutcome(
                mode=advertiser.mode,
                status=AdvertisedStatus.BUSY,
                detail=f"brokers {held} have no address yet; advertised listeners wait",
            )
        # Loaded by _advertiser already: an advertiser exists.
        from msk_privatelink.advertised.service import mapping_fingerprint, mapping_from_config

        schemes = frozenset(resolve_schemes(a.config, a.inventory))
        mapping = mapping_from_config(a.config, a.inventory, schemes)
        if advertiser.mode != "broker-override":
            return advertiser.ensure(a.inventory, mapping)
        # An Invoke is a write (and connects to every broker), so not every
        # run makes one. The function is called when this run changed a
        # broker's networking (a new or replaced broker must be told), on the
        # deep scheduled run (repairs an override someone changed by hand, or
        # a broker that came back with its static listeners), and when the
        # mapping differs from the one last applied. That record lives in
        # the publisher's state item, read anyway, and is written only after
        # the function reports success, so a failed or partial call is
        # retried by the next run.
        fingerprint = mapping_fingerprint(mapping)
        recorded = state.advertised_fingerprint if state is not None else None
        changed_brokers = any(c.broker_id is not None for c in applied)
        if not (changed_brokers or deep or recorded != fingerprint):
            return AdvertisedOutcome(
                mode=advertiser.mode,
                status=AdvertisedStatus.UP_TO_DATE,
                detail="the brokers were last given this mapping; not invoked",
            )
        outcome = advertiser.ensure(a.inventory, mapping)
        if outcome.done and self._publisher is not None and recorded != fingerprint:
            self._publisher.record_advertised(a.config.cluster_arn, fingerprint)
        return outcome

    def _reread(self, a: Assessment) -> ActualState:
        actual = self._actual.read(
            a.config.cluster_arn, expected_principals=frozenset(a.config.allowed_principals)
        )
        return self._with_zones(actual, a.desired, a.inventory.vpc_id)

    def teardown(self, cluster_arn: str, *, dry_run: bool = False) -> ReconcileOutcome:
        """Remove everything this project created for a cluster (an operator's
        explicit act, e.g. after the cluster was deleted). Only resources
        carrying our ownership tags for this cluster are planned."""
        actual = self._actual.read(cluster_arn)
        nothing = DesiredState(cluster_arn=cluster_arn)
        vpc_id = _vpc_hint(actual)
        if vpc_id and any(
            is_shared_load_balancer_name(cluster_arn, n) for n in actual.load_balancers
        ):
            # shared-nlb: its provider hosted zone goes too (found by our tags).
            nothing = replace(nothing, manages_zone=True)
            actual = self._with_zones(actual, nothing, vpc_id)
        plan = compute_plan(nothing, actual)
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
        a: Assessment,
        actual: ActualState,
        blocked: tuple[tuple[Change, str], ...],
        failed_brokers: frozenset[int] = frozenset(),
        deferred: tuple[Change, ...] = (),
    ) -> None:
        residual = compute_plan(a.desired, actual)
        # Withheld or blocked removals, and whatever depends on them, stay
        # pending; so does every change of a broker whose additions failed.
        pending_brokers = {c.broker_id for c in a.decision.withheld if c.destructive}
        pending_brokers |= {c.broker_id for c, _ in blocked}
        expected = {(c.step, c.key) for c in (*a.decision.withheld, *deferred)}
        left = [
            c
            for c in residual.changes
            if (c.step, c.key) not in expected
            and not (c.destructive and c.broker_id in pending_brokers)
            and c.broker_id not in failed_brokers
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
        deferred: tuple[Change, ...] = (),
        advertised: AdvertisedOutcome | None = None,
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
            deferred=deferred,
            advertised=advertised,
        )


def _never() -> bool:
    return False


def withheld_brokers_missing_from(
    view: BrokerEndpointsChanged, decision: GuardDecision
) -> list[int]:
    """Brokers whose removal the guard withheld and that ``view`` leaves out."""
    withheld = {c.broker_id for c in decision.withheld if c.destructive and c.broker_id is not None}
    return sorted(withheld - {b.broker_id for b in view.brokers})


def _vpc_hint(actual: ActualState) -> str | None:
    # Our target groups live in the cluster's VPC; use it when we have one.
    return next((tg.vpc_id for tg in actual.target_groups.values() if tg.vpc_id), None)
