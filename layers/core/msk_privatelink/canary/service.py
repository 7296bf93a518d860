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
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError

from msk_privatelink.aws.event_bus import put_event
from msk_privatelink.canary.credentials import ClusterCredentials, scram_credentials
from msk_privatelink.canary.endpoints import endpoint_addresses
from msk_privatelink.canary.plan import (
    ClusterCheck,
    MetadataCheck,
    ProberNetwork,
    group_by_network,
    plan_cluster,
    plan_metadata,
)
from msk_privatelink.canary.probers import ProberFunctions
from msk_privatelink.connectivity.kafka_metadata import OAuthBearer
from msk_privatelink.connectivity.metadata_check import (
    MAX_REQUESTS,
    MetadataOutcome,
    decode_outcomes,
    differences,
)
from msk_privatelink.connectivity.probe import ProbeSettings
from msk_privatelink.connectivity.prober import decode_report, encode_request
from msk_privatelink.connectivity.results import ProbeResult, Step
from msk_privatelink.consumer.aws.views import AppliedView, AppliedViews
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
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = logging.getLogger(__name__)

MAX_DETAIL = 256
# The schemes the metadata check runs on: a SCRAM secret's, else IAM's.
SCRAM_SCHEME = "sasl_scram"
IAM_SCHEME = "sasl_iam"
# Region -> an MSK IAM token signed for it (canary/iam_token.py).
TokenSigner = Callable[[str], str]


@dataclass(frozen=True)
class ClusterResult:
    check: ClusterCheck
    results: tuple[ProbeResult, ...] = ()
    # Why the cluster was not probed this run (prober starting, failed, ...).
    problems: tuple[str, ...] = ()
    # Worth knowing, but the probes ran (what the prober's network left out).
    notes: tuple[str, ...] = ()
    # The metadata check (where credentials were given) and what it found.
    metadata: MetadataCheck | None = None
    metadata_outcome: MetadataOutcome | None = None

    @property
    def failed(self) -> tuple[ProbeResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def misadvertised(self) -> dict[int, str]:
        """Per broker id, how the metadata differs from the view: clients
        would be sent where the view does not lead."""
        outcome = self.metadata_outcome
        if self.metadata is None or outcome is None or not outcome.ok:
            return {}
        return differences(self.metadata.expected, outcome.brokers)

    @property
    def metadata_compared(self) -> int:
        outcome = self.metadata_outcome
        if self.metadata is None or outcome is None or not outcome.ok:
            return 0
        return len(set(self.metadata.expected) | {b[0] for b in outcome.brokers})

    @property
    def metadata_problems(self) -> tuple[str, ...]:
        outcome, check = self.metadata_outcome, self.metadata
        if outcome is None or check is None or outcome.ok:
            return ()
        where = f"{check.request.host}:{check.request.port}"
        if outcome.authentication:
            return (
                f"metadata check through {where}: the credentials were refused: {outcome.detail}",
            )
        return (
            f"metadata check through {where} failed at {outcome.step.value} "
            f"({outcome.stage}): {outcome.detail}",
        )

    @property
    def state(self) -> ConnectivityState:
        if self.failed or self.misadvertised:
            return "unreachable"
        if not self.results:
            return "pending" if self.check.pending and not self.problems else "unchecked"
        return "pending" if self.check.pending else "reachable"

    def unreachable_brokers(self) -> list[str]:
        brokers = {r.target.broker for r in self.failed} | {str(b) for b in self.misadvertised}
        return sorted(brokers, key=_broker_order)

    def _metadata_failures(self) -> list[BrokerConnectivity]:
        check, outcome = self.metadata, self.metadata_outcome
        if check is None or outcome is None:
            return []
        advertised = {node_id: port for node_id, _, port in outcome.brokers}
        return [
            BrokerConnectivity(
                broker=str(broker),
                scheme=check.request.scheme,
                # The view's port, or (a broker the view lacks) the advertised one.
                port=check.expected[broker][1] if broker in check.expected else advertised[broker],
                step=Step.KAFKA.value,
                detail=f"metadata: {text}"[:MAX_DETAIL],
            )
            for broker, text in self.misadvertised.items()
        ]

    def report(self, account_id: str, region: str, checked_at: str) -> ConsumerConnectivityReport:
        view = self.check
        problems = [
            p[:MAX_DETAIL]
            for p in (*view.problems, *self.problems, *self.metadata_problems, *self.notes)
        ]
        failures = [
            BrokerConnectivity(
                broker=r.target.broker[:16],
                scheme=r.target.scheme,
                port=r.target.port,
                step=r.step.value,
                detail=r.detail[:MAX_DETAIL],
            )
            for r in self.failed
        ] + self._metadata_failures()
        return ConsumerConnectivityReport(
            cluster_arn=view.cluster_arn,
            consumer_account_id=account_id,
            consumer_region=region,
            vpc_id=view.network.vpc_id,
            generation=view.generation,
            checked_at=checked_at,
            state=self.state,
            # The metadata check counts one probe per broker it compared.
            probes=len(self.results) + self.metadata_compared,
            failed=len(self.failed) + len(self.misadvertised),
            pending=view.pending[:MAX_REPORTED_FAILURES],
            failures=tuple(failures[:MAX_REPORTED_FAILURES]),
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
        secrets: SecretsManagerClient | None = None,
        iam_token: TokenSigner | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._secrets = secrets
        self._iam_token = iam_token
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
        metadata, problems = self._metadata_checks(views, checks)
        outcomes: list[ClusterResult] = []
        in_use: list[str] = []
        for network, clusters in group_by_network(checks).items():
            name = self._probers.name(network)
            in_use.append(name)
            outcomes += self._probe(name, network, clusters, metadata, problems)
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

    def _metadata_checks(
        self, views: Sequence[AppliedView], checks: Sequence[ClusterCheck]
    ) -> tuple[dict[str, MetadataCheck], dict[str, str]]:
        """Per cluster, the metadata check its credentials allow (a SCRAM
        secret tagged for it, else IAM where enabled), and the clusters whose
        credentials could not be used, with why."""
        by_arn = {v.cluster_arn: v for v in views}

        def serves(view: AppliedView, scheme: str) -> bool:
            return any(scheme in b.ports for b in view.view.brokers)

        found: dict[str, ClusterCredentials] = {}
        scram = [v.cluster_arn for v in views if serves(v, SCRAM_SCHEME)]
        if self._secrets is not None and scram:
            found = scram_credentials(self._secrets, scram)
        planned: dict[str, MetadataCheck] = {}
        problems: dict[str, str] = {}
        tokens: dict[str, OAuthBearer | str] = {}
        for check in checks:
            view = by_arn[check.cluster_arn]
            credentials = found.get(check.cluster_arn, ClusterCredentials())
            metadata = None
            if credentials.problem is not None:
                # Named, but no reason to skip IAM where it is enabled.
                problems[check.cluster_arn] = credentials.problem
            if credentials.scram is not None:
                metadata = plan_metadata(view, check, SCRAM_SCHEME, credentials.scram)
            elif self._iam_token is not None and serves(view, IAM_SCHEME):
                region = view.view.region
                if region not in tokens:
                    tokens[region] = self._sign(self._iam_token, region)
                token = tokens[region]
                if isinstance(token, str):
                    problems[check.cluster_arn] = token
                else:
                    metadata = plan_metadata(view, check, IAM_SCHEME, token)
            if metadata is not None:
                planned[check.cluster_arn] = metadata
        return planned, problems

    @staticmethod
    def _sign(signer: TokenSigner, region: str) -> OAuthBearer | str:
        """A token for ``region``, or why there is none."""
        try:
            return OAuthBearer(signer(region))
        except (ValueError, BotoCoreError) as exc:
            logger.warning("no MSK IAM token", extra={"error": type(exc).__name__})
            return f"metadata check: no MSK IAM token for {region} ({type(exc).__name__})"

    def _probe(
        self,
        name: str,
        network: ProberNetwork,
        clusters: Sequence[ClusterCheck],
        metadata: dict[str, MetadataCheck],
        credential_problems: dict[str, str],
    ) -> list[ClusterResult]:
        notes: tuple[str, ...] = ()
        if network.left_out:
            notes = (
                f"prober {name} leaves out {', '.join(network.left_out)} (Lambda VpcConfig "
                "limits: 16 subnets, 5 security groups)",
            )

        def result(cluster: ClusterCheck, **fields: Any) -> ClusterResult:
            problem = credential_problems.get(cluster.cluster_arn)
            return ClusterResult(
                cluster,
                notes=notes + ((problem,) if problem else ()),
                metadata=metadata.get(cluster.cluster_arn),
                **fields,
            )

        targets = [t for c in clusters for t in c.targets]
        if not targets:
            return [result(c) for c in clusters]
        requests = [metadata[c.cluster_arn] for c in clusters if c.cluster_arn in metadata]
        if len(requests) > MAX_REQUESTS:
            skipped = {m.request.cluster for m in requests[MAX_REQUESTS:]}
            metadata = {k: v for k, v in metadata.items() if k not in skipped}
            why = f"metadata check: one prober checks at most {MAX_REQUESTS} clusters' metadata"
            credential_problems = {**credential_problems, **dict.fromkeys(skipped, why)}
            requests = requests[:MAX_REQUESTS]
        try:
            state = self._probers.ensure(network)
            if state != "ready":
                why = f"prober {name} is starting; probed from the next run"
                return [result(c, problems=(why,)) for c in clusters]
            request = encode_request(targets, self._settings.probe, [m.request for m in requests])
            answer = self._probers.invoke(name, request)
            report = decode_report(answer, targets)
        except MskPrivateLinkError as exc:
            # One network's failure never holds back the others.
            logger.warning("probing failed", extra={"function": name, "error": str(exc)})
            why = f"{type(exc).__name__}: {exc}"
            return [result(c, problems=(why,)) for c in clusters]
        try:
            fetched = decode_outcomes(answer.get("metadata"), [m.request for m in requests])
        except MskPrivateLinkError as exc:
            # The probes' results stand; only the metadata check is lost.
            logger.warning("metadata answer refused", extra={"function": name, "error": str(exc)})
            why = f"metadata check: {type(exc).__name__}: {exc}"
            credential_problems = {
                **credential_problems,
                **{m.request.cluster: why for m in requests},
            }
            fetched = []
        by_cluster = {o.cluster: o for o in fetched}
        outcomes = []
        start = 0
        for cluster in clusters:
            end = start + len(cluster.targets)
            outcomes.append(
                result(
                    cluster,
                    results=report.results[start:end],
                    metadata_outcome=by_cluster.get(cluster.cluster_arn),
                )
            )
            start = end
        return outcomes
