"""One canary run: every applied view (or one cluster's), probed from its
consumer network, reported.

The controller runs outside any VPC (it calls DynamoDB, EC2, Lambda and
EventBridge); the probing happens in one prober function per network
(canary/probers.py). Per cluster the run ends in a
``ConsumerConnectivityReport`` on the consumer bus (forwarded to the
provider by the stack's rule) and in the figures the handler publishes as
metrics. A cluster whose prober is still starting is reported ``unchecked``;
nothing here retries: the next scheduled run probes again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from msk_privatelink.aws.event_bus import put_event
from msk_privatelink.canary.endpoints import endpoint_addresses
from msk_privatelink.canary.plan import (
    ClusterCheck,
    ProberNetwork,
    group_by_network,
    plan_cluster,
)
from msk_privatelink.canary.probers import ProberFunctions
from msk_privatelink.connectivity.probe import ProbeSettings
from msk_privatelink.connectivity.prober import decode_report, encode_request
from msk_privatelink.connectivity.results import ProbeResult
from msk_privatelink.consumer.aws.views import AppliedViews
from msk_privatelink.kernel.consumer_events import (
    CONSUMER_EVENT_SOURCE,
    MAX_REPORTED_FAILURES,
    MAX_REPORTED_PROBLEMS,
    BrokerConnectivity,
    ConnectivityState,
    ConsumerConnectivityReport,
)
from msk_privatelink.kernel.errors import MskPrivateLinkError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_events import EventBridgeClient

logger = logging.getLogger(__name__)

MAX_DETAIL = 256


@dataclass(frozen=True)
class ClusterResult:
    check: ClusterCheck
    results: tuple[ProbeResult, ...] = ()
    # Why the cluster was not probed this run (prober starting, failed, ...).
    problems: tuple[str, ...] = ()
    # Worth knowing, but the probes ran (what the prober's network left out).
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[ProbeResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def state(self) -> ConnectivityState:
        if self.failed:
            return "unreachable"
        if not self.results:
            return "pending" if self.check.pending and not self.problems else "unchecked"
        return "pending" if self.check.pending else "reachable"

    def unreachable_brokers(self) -> list[str]:
        return sorted({r.target.broker for r in self.failed}, key=_broker_order)

    def report(self, account_id: str, region: str, checked_at: str) -> ConsumerConnectivityReport:
        view = self.check
        problems = [p[:MAX_DETAIL] for p in (*view.problems, *self.problems, *self.notes)]
        return ConsumerConnectivityReport(
            cluster_arn=view.cluster_arn,
            consumer_account_id=account_id,
            consumer_region=region,
            vpc_id=view.network.vpc_id,
            generation=view.generation,
            checked_at=checked_at,
            state=self.state,
            probes=len(self.results),
            failed=len(self.failed),
            pending=view.pending[:MAX_REPORTED_FAILURES],
            failures=tuple(
                BrokerConnectivity(
                    broker=r.target.broker[:16],
                    scheme=r.target.scheme,
                    port=r.target.port,
                    step=r.step.value,
                    detail=r.detail[:MAX_DETAIL],
                )
                for r in self.failed[:MAX_REPORTED_FAILURES]
            ),
            problems=tuple(problems[:MAX_REPORTED_PROBLEMS]),
        )


def _broker_order(label: str) -> tuple[int, str]:
    return (int(label), "") if label.isdigit() else (1 << 30, label)


@dataclass(frozen=True)
class CanarySettings:
    account_id: str
    region: str
    event_bus_name: str
    probe: ProbeSettings = field(default_factory=ProbeSettings)


class CanaryService:
    def __init__(
        self,
        *,
        views: AppliedViews,
        ec2: EC2Client,
        events: EventBridgeClient,
        probers: ProberFunctions,
        settings: CanarySettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._views = views
        self._ec2 = ec2
        self._events = events
        self._probers = probers
        self._settings = settings
        self._clock = clock

    @property
    def probers(self) -> ProberFunctions:
        return self._probers

    def run(self, cluster_arn: str | None = None) -> list[ClusterResult]:
        """Probe every stored view (only ``cluster_arn``'s when given)."""
        # A cluster onboarded with connectivityCanary false is not probed
        # (and keeps no prober alive).
        views = [
            v
            for v in self._views.all()
            if cluster_arn in (None, v.cluster_arn) and v.tenancy.connectivity_canary
        ]
        checks = [plan_cluster(v, endpoint_addresses(self._ec2, v.cluster_arn)) for v in views]
        outcomes: list[ClusterResult] = []
        in_use: list[str] = []
        for network, clusters in group_by_network(checks).items():
            name = self._probers.name(network)
            in_use.append(name)
            outcomes += self._probe(name, network, clusters)
        if cluster_arn is None:
            # Only a full run knows every network still in use.
            for removed in self._probers.remove_unused(in_use):
                logger.info("prober removed", extra={"function": removed})
        checked_at = self._clock().isoformat(timespec="seconds")
        for outcome in outcomes:
            report = outcome.report(self._settings.account_id, self._settings.region, checked_at)
            put_event(
                self._events,
                self._settings.event_bus_name,
                source=CONSUMER_EVENT_SOURCE,
                detail_type=report.detail_type,
                detail=report.to_detail_json(),
                resource=report.cluster_arn,
            )
        return outcomes

    def _probe(
        self, name: str, network: ProberNetwork, clusters: Sequence[ClusterCheck]
    ) -> list[ClusterResult]:
        notes: tuple[str, ...] = ()
        if network.left_out:
            notes = (
                f"prober {name} leaves out {', '.join(network.left_out)} (Lambda VpcConfig "
                "limits: 16 subnets, 5 security groups)",
            )
        targets = [t for c in clusters for t in c.targets]
        if not targets:
            return [ClusterResult(c, notes=notes) for c in clusters]
        try:
            state = self._probers.ensure(network)
            if state != "ready":
                why = f"prober {name} is starting; probed from the next run"
                return [ClusterResult(c, problems=(why,), notes=notes) for c in clusters]
            answer = self._probers.invoke(name, encode_request(targets, self._settings.probe))
            report = decode_report(answer, targets)
        except MskPrivateLinkError as exc:
            # One network's failure never holds back the others.
            logger.warning("probing failed", extra={"function": name, "error": str(exc)})
            why = f"{type(exc).__name__}: {exc}"
            return [ClusterResult(c, problems=(why,), notes=notes) for c in clusters]
        outcomes = []
        start = 0
        for cluster in clusters:
            end = start + len(cluster.targets)
            outcomes.append(ClusterResult(cluster, report.results[start:end], notes=notes))
            start = end
        return outcomes
