"""Consumer side on AWS: read what this project owns in the consumer's VPC for
a cluster, apply a consumer plan idempotently, and run one sync.

Ownership is decided by tags (endpoints: at creation through
TagSpecifications; the hosted zone: ChangeTagsForResource right after
CreateHostedZone, which takes no tags). A zone a crash left untagged is
recognized by the CallerReference prefix only this project uses for this
cluster, VPC and zone name. Any other zone, e.g. a foreign
``kafka.<region>.amazonaws.com`` zone in the same VPC, is never modified;
records are only ever read from and written to our own zone.

The last applied generation lives in a tag on the cluster's hosted zone
(``msk-privatelink:generation``) rather than in a table or parameter: the
consumer stack needs no extra resource or permission, the zone tags are read
anyway to prove ownership (so the stale-event check costs no extra call), and
the record goes with the zone when offboarding removes it. It is written only
after the plan was applied and verified, so a crash makes the event apply
again (idempotently), never skips it. Tags have no compare-and-set: the
consumer-sync function must run one invocation at a time (reserved
concurrency 1, or an SQS FIFO queue with the cluster ARN as message group).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from msk_privatelink.consumer.sync import (
    ConsumerActual,
    ConsumerChange,
    ConsumerDesired,
    ConsumerPlan,
    ConsumerSettings,
    ConsumerStep,
    Verdict,
    build_consumer_desired,
    compute_consumer_plan,
    generation_verdict,
    primary_endpoints,
    primary_zone,
)
from msk_privatelink.kernel.errors import NotConvergedError, OwnershipConflictError
from msk_privatelink.kernel.events import BrokerEndpointsChanged

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_service_quotas import ServiceQuotasClient

    from msk_privatelink.aws.clients import AwsClients

from msk_privatelink.consumer.aws.applier import ConsumerApplier
from msk_privatelink.consumer.aws.endpoint_quota import EndpointQuota
from msk_privatelink.consumer.aws.state import ConsumerStateReader

logger = logging.getLogger(__name__)


Status = Literal["converged", "unchanged", "dropped", "planned"]


@dataclass(frozen=True)
class ConsumerOutcome:
    cluster_arn: str
    generation: int | None
    status: Status
    plan: ConsumerPlan
    applied: tuple[ConsumerChange, ...] = ()
    # The generation applied before this run (None: nothing yet).
    previous_generation: int | None = None
    conflicts: tuple[str, ...] = ()
    # Interface endpoint id per endpoint service name, after the run.
    endpoints: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster_arn": self.cluster_arn,
            "generation": self.generation,
            "previous_generation": self.previous_generation,
            "status": self.status,
            "planned": self.plan.to_dicts(),
            "applied": len(self.applied),
            "conflicts": list(self.conflicts),
            "endpoints": dict(self.endpoints),
        }


class ConsumerSync:
    """One consumer account's side of one cluster: read, decide on the
    generation, plan, apply, verify, record the generation."""

    def __init__(
        self,
        ec2: EC2Client,
        route53: Route53Client,
        settings: ConsumerSettings,
        on_change: Callable[[ConsumerChange], None] | None = None,
        service_quotas: Callable[[], ServiceQuotasClient] | None = None,
    ) -> None:
        self._settings = settings
        self._reader = ConsumerStateReader(ec2, route53)
        self._applier = ConsumerApplier(ec2, route53, on_change=on_change)
        self._endpoint_quota = EndpointQuota(ec2, service_quotas)

    @classmethod
    def from_clients(
        cls,
        clients: AwsClients,
        settings: ConsumerSettings,
        on_change: Callable[[ConsumerChange], None] | None = None,
    ) -> ConsumerSync:
        return cls(
            clients.ec2,
            clients.route53,
            settings,
            on_change=on_change,
            service_quotas=lambda: clients.service_quotas,
        )

    def sync(
        self, event: BrokerEndpointsChanged, *, dry_run: bool = False, attempt: str = ""
    ) -> ConsumerOutcome:
        """Make the consumer side match ``event``, unless a newer generation was
        applied. ``attempt`` names the request served (see ConsumerApplier.apply);
        default: the event's generation."""
        # Validated before any call: a malformed event costs nothing.
        desired = build_consumer_desired(event, self._settings)
        assert desired.zone is not None
        zones, conflicts = self._reader.zones(event.cluster_arn, self._settings, desired.zone.name)
        previous = ConsumerActual(event.cluster_arn, self._settings.vpc_id, zones=tuple(zones))
        last = previous.last_generation
        if generation_verdict(event.generation, last) is Verdict.DROP:
            logger.info(
                "stale event dropped",
                extra={"cluster_arn": event.cluster_arn, "generation": event.generation},
            )
            return ConsumerOutcome(
                event.cluster_arn, event.generation, "dropped", ConsumerPlan(), (), last
            )
        actual = self._reader.complete(event.cluster_arn, self._settings, zones, conflicts)
        plan = compute_consumer_plan(desired, actual)
        if dry_run:
            return self._outcome(
                "planned",
                plan,
                (),
                generation=event.generation,
                previous=last,
                actual=actual,
                desired=desired,
            )
        self._refuse_conflicts(plan, actual)
        self._endpoint_quota.check(
            self._settings.vpc_id,
            sum(1 for c in plan.changes if c.step is ConsumerStep.CREATE_ENDPOINT),
        )
        applied = tuple(
            self._applier.apply(plan, actual, event.generation, attempt or f"g{event.generation}")
        )
        if applied:
            actual = self._verify(desired)
        zone = primary_zone(desired, actual)
        if zone is None:
            raise NotConvergedError(f"{event.cluster_arn}: hosted zone {desired.zone.name} missing")
        recorded = zone.generation != event.generation
        if recorded:
            self._applier.record_generation(zone.zone_id, event.generation)
        status: Status = "converged" if applied or recorded else "unchanged"
        return self._outcome(
            status,
            plan,
            applied,
            generation=event.generation,
            previous=last,
            actual=actual,
            desired=desired,
        )

    def teardown(self, cluster_arn: str, *, dry_run: bool = False) -> ConsumerOutcome:
        """Remove everything this project made for the cluster in this VPC
        (offboarding). Only tagged resources are found, so only they go."""
        desired = ConsumerDesired(cluster_arn)
        actual = self._reader.read(cluster_arn, self._settings, None)
        plan = compute_consumer_plan(desired, actual)
        last = actual.last_generation
        if dry_run or plan.is_empty:
            status: Status = "planned" if dry_run else "unchanged"
            return self._outcome(
                status, plan, (), generation=None, previous=last, actual=actual, desired=desired
            )
        applied = tuple(self._applier.apply(plan, actual, 0))
        actual = self._verify(desired)
        return self._outcome(
            "converged",
            plan,
            applied,
            generation=None,
            previous=last,
            actual=actual,
            desired=desired,
        )

    def _verify(self, desired: ConsumerDesired) -> ConsumerActual:
        zone_name = desired.zone.name if desired.zone else None
        actual = self._reader.read(desired.cluster_arn, self._settings, zone_name)
        residual = compute_consumer_plan(desired, actual)
        if not residual.is_empty:
            summary = ", ".join(f"{c.step.name.lower()} {c.key}" for c in residual.changes[:5])
            raise NotConvergedError(
                f"{desired.cluster_arn}: {len(residual)} consumer change(s) still pending "
                f"after apply: {summary}"
            )
        return actual

    @staticmethod
    def _refuse_conflicts(plan: ConsumerPlan, actual: ConsumerActual) -> None:
        """A foreign zone with the cluster's domain in our VPC: refuse before any
        write (Route 53 allows one private zone per name and VPC)."""
        if actual.conflicts and any(c.step is ConsumerStep.CREATE_ZONE for c in plan.changes):
            raise OwnershipConflictError(
                f"{', '.join(actual.conflicts)} in {actual.vpc_id} is not tagged as this "
                f"project's for {actual.cluster_arn}; remove or rename it by hand, "
                "nothing was changed"
            )

    @staticmethod
    def _outcome(
        status: Status,
        plan: ConsumerPlan,
        applied: tuple[ConsumerChange, ...],
        *,
        generation: int | None,
        previous: int | None,
        actual: ConsumerActual,
        desired: ConsumerDesired,
    ) -> ConsumerOutcome:
        return ConsumerOutcome(
            cluster_arn=actual.cluster_arn,
            generation=generation,
            status=status,
            plan=plan,
            applied=applied,
            previous_generation=previous,
            conflicts=actual.conflicts,
            endpoints={
                name: e.endpoint_id
                for name, e in sorted(primary_endpoints(desired, actual).items())
            },
        )
