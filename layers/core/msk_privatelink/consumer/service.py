"""What the consumer-sync handler calls: one EventBridge event from the
provider, validated, then applied to this consumer account.

- ``ConsumerOnboardingRequested``: remember the VPC, subnets and security
  groups (consumer/aws/registry.py), build the consumer side from the carried
  view, answer ``ConsumerEndpointsReady`` (``ready``, or ``failed`` with a
  reason after removing whatever this attempt made) with the task token.
- ``BrokerEndpointsChanged``: follow the new view (older generations are
  dropped); a cluster not onboarded here is ignored. Each applied view is
  reported without a token.
- ``ConsumerOffboardingRequested``: remove everything this project made for
  the cluster (never anything else), forget the cluster, answer ``removed``.

Each applied view is stored with its endpoints and network
(consumer/aws/views.py): what the connectivity canary checks.

Anything malformed (envelope, detail, names, another account's or Region's
request) is refused before the first AWS call: logged, never retried, no
write and no answer. Retryable errors propagate so the invocation is retried.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.consumer.aws.registry import DEFAULT_PREFIX, Tenancy, TenancyRegistry
from msk_privatelink.consumer.aws.replies import ReplyPublisher
from msk_privatelink.consumer.aws.side import ConsumerOutcome, ConsumerSync
from msk_privatelink.consumer.aws.state import ConsumerStateReader
from msk_privatelink.consumer.aws.views import AppliedViews
from msk_privatelink.consumer.sync import ConsumerSettings, build_consumer_desired
from msk_privatelink.kernel.consumer_events import (
    CONSUMER_BUS_NAME,
    MAX_REASON,
    PROVIDER_EVENT_SOURCE,
    ConsumerEndpoint,
    ConsumerEndpointsReady,
    ConsumerOffboardingRequested,
    ConsumerOnboardingRequested,
    ConsumerState,
)
from msk_privatelink.kernel.errors import ConfigError, InvalidEventError, TerminalError
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import InvalidRecord, Meta, anchored, parse

logger = logging.getLogger(__name__)

ACCOUNT_RE = re.compile(r"[0-9]{12}", re.ASCII)
REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}", re.ASCII)
BUS_NAME_RE = re.compile(r"[A-Za-z0-9._\-/]{1,256}", re.ASCII)
PREFIX_RE = re.compile(r"/[A-Za-z0-9_./-]+", re.ASCII)
TABLE_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{3,255}", re.ASCII)
# An event larger than EventBridge's own limit never came from EventBridge.
MAX_DETAIL_CHARS = 256 * 1024

HANDLED_TYPES = frozenset(
    {"ConsumerOnboardingRequested", "ConsumerOffboardingRequested", "BrokerEndpointsChanged"}
)

Status = Literal["ready", "removed", "failed", "synced", "dropped", "ignored", "refused"]


@dataclass(frozen=True)
class ConsumerSyncSettings:
    """The function's environment, validated once at cold start."""

    event_bus_name: str
    provider_account_id: str
    account_id: str
    region: str
    views_table: str
    registry_prefix: str = DEFAULT_PREFIX

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsumerSyncSettings:
        source = os.environ if env is None else env
        checks = {
            "CONSUMER_EVENT_BUS_NAME": BUS_NAME_RE,
            "PROVIDER_ACCOUNT_ID": ACCOUNT_RE,
            "CONSUMER_ACCOUNT_ID": ACCOUNT_RE,
            "AWS_REGION": REGION_RE,
            "REGISTRY_PARAMETER_PREFIX": PREFIX_RE,
            "APPLIED_VIEWS_TABLE": TABLE_NAME_RE,
        }
        defaults = {
            "CONSUMER_EVENT_BUS_NAME": CONSUMER_BUS_NAME,
            "REGISTRY_PARAMETER_PREFIX": DEFAULT_PREFIX,
        }
        values: dict[str, str] = {}
        problems: list[str] = []
        for name, pattern in checks.items():
            raw = source.get(name, defaults.get(name))
            if raw is None:
                problems.append(f"{name}: missing")
            elif not pattern.fullmatch(raw):
                problems.append(f"{name}: {raw[:40]!r} is not valid")
            else:
                values[name] = raw
        if problems:
            raise ConfigError(f"invalid function environment: {'; '.join(problems)}")
        return cls(
            event_bus_name=values["CONSUMER_EVENT_BUS_NAME"],
            provider_account_id=values["PROVIDER_ACCOUNT_ID"],
            account_id=values["CONSUMER_ACCOUNT_ID"],
            region=values["AWS_REGION"],
            registry_prefix=values["REGISTRY_PARAMETER_PREFIX"],
            views_table=values["APPLIED_VIEWS_TABLE"],
        )


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """The EventBridge fields this function relies on. The others (time,
    region, resources, ...) are allowed and ignored: not a records.Record,
    which would refuse them."""

    id: Annotated[str, Meta(min_length=1, max_length=128)]
    detail_type: Annotated[str, Meta(min_length=1, max_length=128)] = msgspec.field(
        name="detail-type"
    )
    source: Annotated[str, Meta(min_length=1, max_length=256)]
    account: Annotated[str, Meta(pattern=anchored(r"[0-9]{12}"))]
    detail: dict[str, Any]


@dataclass(frozen=True)
class Handled:
    """What one event led to (logged by the handler, returned to Lambda)."""

    kind: str
    status: Status
    cluster_arn: str | None = None
    generation: int | None = None
    reason: str = ""
    replied: ConsumerState | None = None
    changes: int = 0
    endpoints: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": self.status,
            "cluster_arn": self.cluster_arn,
            "generation": self.generation,
            "reason": self.reason,
            "replied": self.replied,
            "changes": self.changes,
            "endpoints": self.endpoints,
        }


def _errors(exc: InvalidRecord) -> str:
    """The first problem, as "field: reason". The reason never quotes a value,
    only an unknown field's name, which may be huge: cut short."""
    return _short(str(exc))


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


class ConsumerSyncService:
    def __init__(self, clients: AwsClients, settings: ConsumerSyncSettings) -> None:
        self._clients = clients
        self._settings = settings
        self.registry = TenancyRegistry(clients.ssm, settings.registry_prefix)
        self.replies = ReplyPublisher(clients.events, settings.event_bus_name)
        self.views = AppliedViews(clients.dynamodb, settings.views_table)

    # -- entry point ---------------------------------------------------------------

    def handle(self, event: Mapping[str, Any]) -> Handled:
        try:
            envelope = parse(Envelope, event)
        except InvalidRecord as exc:
            return Handled("unknown", "refused", reason=f"not an EventBridge event: {_errors(exc)}")
        kind = envelope.detail_type
        if kind not in HANDLED_TYPES:
            return Handled(kind[:128], "refused", reason=f"detail-type {kind[:128]!r} not handled")
        if envelope.source != PROVIDER_EVENT_SOURCE:
            return Handled(kind, "refused", reason=f"source {envelope.source[:64]!r} not accepted")
        if envelope.account != self._settings.provider_account_id:
            return Handled(
                kind, "refused", reason=f"sent by account {envelope.account}, not the provider"
            )
        try:
            if kind == "ConsumerOnboardingRequested":
                return self.onboard(parse(ConsumerOnboardingRequested, envelope.detail))
            if kind == "ConsumerOffboardingRequested":
                return self.offboard(parse(ConsumerOffboardingRequested, envelope.detail))
            return self.follow(parse(BrokerEndpointsChanged, envelope.detail))
        except InvalidRecord as exc:
            return Handled(kind, "refused", reason=f"invalid {kind}: {_errors(exc)}")
        except InvalidEventError as exc:
            return Handled(kind, "refused", reason=_short(str(exc)))

    # -- requests ------------------------------------------------------------------

    def _check_tenant(self, account_id: str, region: str) -> None:
        if account_id != self._settings.account_id or region != self._settings.region:
            raise InvalidEventError(
                f"request for {account_id} in {region} reached {self._settings.account_id} in "
                f"{self._settings.region}; refusing"
            )

    def onboard(self, request: ConsumerOnboardingRequested) -> Handled:
        kind = "ConsumerOnboardingRequested"
        self._check_tenant(request.consumer_account_id, request.consumer_region)
        tenancy = Tenancy(
            cluster_arn=request.cluster_arn,
            vpc_id=request.vpc_id,
            region=request.consumer_region,
            subnet_ids=request.subnet_ids,
            security_group_ids=request.security_group_ids,
            connectivity_canary=request.connectivity_canary,
        )
        # Every name checked before the first call (raises InvalidEventError).
        build_consumer_desired(request.endpoints, tenancy.settings())
        current = self.registry.get(request.cluster_arn)
        if current is not None and current.vpc_id != tenancy.vpc_id:
            # The tenant moved to another VPC: what was built in the old one goes.
            self._sync(current.settings()).teardown(request.cluster_arn)
        self.registry.put(tenancy, current)
        sync = self._sync(tenancy.settings())
        try:
            # Each request (task token) is its own attempt: endpoints it creates
            # never reuse the client token of an earlier request, whose
            # endpoints the provider may have rejected since.
            outcome = sync.sync(request.endpoints, attempt=f"request:{request.task_token}")
        except InvalidEventError:
            raise
        except TerminalError as exc:
            # Nothing half-applied: what this attempt made goes, then the answer.
            sync.teardown(request.cluster_arn)
            self.views.forget(request.cluster_arn)
            self.registry.forget(request.cluster_arn)
            reason = _short(f"{type(exc).__name__}: {exc}")
            self._reply(request, "failed", request.generation, reason=reason)
            return Handled(
                kind, "failed", request.cluster_arn, request.generation, reason, "failed"
            )
        generation, endpoints = self._applied(outcome, request.cluster_arn, tenancy.settings())
        if outcome.status != "dropped":
            # A dropped (older) view: the newer one in place was stored when applied.
            self.views.put(tenancy, request.endpoints, generation, endpoints)
        self._reply(request, "ready", generation, endpoints=endpoints)
        return Handled(
            kind,
            "ready",
            request.cluster_arn,
            generation,
            replied="ready",
            changes=len(outcome.applied),
            endpoints=endpoints,
        )

    def offboard(self, request: ConsumerOffboardingRequested) -> Handled:
        kind = "ConsumerOffboardingRequested"
        self._check_tenant(request.consumer_account_id, request.consumer_region)
        current = self.registry.get(request.cluster_arn)
        vpcs = {request.vpc_id} | ({current.vpc_id} if current is not None else set())
        changes = 0
        for vpc_id in sorted(vpcs):
            settings = ConsumerSettings(vpc_id=vpc_id, region=self._settings.region)
            changes += len(self._sync(settings).teardown(request.cluster_arn).applied)
        # Forgotten last: a crash before this leaves the cluster known, and the
        # retried request (or a stray event) finds everything to remove again.
        if current is not None:
            # The view exists only while the tenancy does (written after it,
            # removed before it).
            self.views.forget(request.cluster_arn)
            self.registry.forget(request.cluster_arn)
        self._reply(request, "removed", request.generation)
        return Handled(
            kind, "removed", request.cluster_arn, request.generation, "", "removed", changes
        )

    # -- events --------------------------------------------------------------------

    def follow(self, event: BrokerEndpointsChanged) -> Handled:
        kind = "BrokerEndpointsChanged"
        tenancy = self.registry.get(event.cluster_arn)
        if tenancy is None:
            return Handled(
                kind,
                "ignored",
                event.cluster_arn,
                event.generation,
                reason="cluster not onboarded in this account",
            )
        settings = tenancy.settings()
        try:
            outcome = self._sync(settings).sync(event)
        except InvalidEventError:
            raise
        except TerminalError as exc:
            reason = _short(f"{type(exc).__name__}: {exc}")
            self._report(tenancy, "failed", event.generation, reason=reason)
            return Handled(kind, "failed", event.cluster_arn, event.generation, reason, "failed")
        if outcome.status == "dropped":
            return Handled(
                kind,
                "dropped",
                event.cluster_arn,
                event.generation,
                reason=f"generation {outcome.previous_generation} already applied",
            )
        endpoints = dict(outcome.endpoints)
        self.views.put(tenancy, event, event.generation, endpoints)
        # Reported again for a repeated generation: a crash between the apply
        # and the report must not leave the provider without it.
        self._report(tenancy, "ready", event.generation, endpoints=endpoints)
        return Handled(
            kind,
            "synced",
            event.cluster_arn,
            event.generation,
            replied="ready",
            changes=len(outcome.applied),
            endpoints=endpoints,
        )

    # -- helpers -------------------------------------------------------------------

    def _sync(self, settings: ConsumerSettings) -> ConsumerSync:
        return ConsumerSync.from_clients(self._clients, settings)

    def _applied(
        self, outcome: ConsumerOutcome, cluster_arn: str, settings: ConsumerSettings
    ) -> tuple[int, dict[str, str]]:
        """The generation now in place and its endpoints. A dropped (older)
        view means a newer one is already applied: that is what is ready."""
        if outcome.status != "dropped":
            assert outcome.generation is not None
            return outcome.generation, dict(outcome.endpoints)
        assert outcome.previous_generation is not None
        reader = ConsumerStateReader(self._clients.ec2, self._clients.route53)
        found = reader.endpoints(cluster_arn, settings.vpc_id)
        endpoints: dict[str, str] = {}
        # Available ones first: a duplicate left by a crash is never reported.
        for e in sorted(found, key=lambda e: (e.state.lower() != "available", e.endpoint_id)):
            if e.usable:
                endpoints.setdefault(e.service_name, e.endpoint_id)
        return outcome.previous_generation, endpoints

    def _reply(
        self,
        request: ConsumerOnboardingRequested | ConsumerOffboardingRequested,
        state: ConsumerState,
        generation: int,
        *,
        reason: str = "",
        endpoints: Mapping[str, str] | None = None,
    ) -> None:
        self.replies.put(
            ConsumerEndpointsReady(
                cluster_arn=request.cluster_arn,
                consumer_account_id=request.consumer_account_id,
                consumer_region=request.consumer_region,
                vpc_id=request.vpc_id,
                generation=generation,
                state=state,
                reason=reason,
                task_token=request.task_token,
                endpoints=_endpoint_list(endpoints or {}),
            )
        )

    def _report(
        self,
        tenancy: Tenancy,
        state: ConsumerState,
        generation: int,
        *,
        reason: str = "",
        endpoints: Mapping[str, str] | None = None,
    ) -> None:
        self.replies.put(
            ConsumerEndpointsReady(
                cluster_arn=tenancy.cluster_arn,
                consumer_account_id=self._settings.account_id,
                consumer_region=tenancy.region,
                vpc_id=tenancy.vpc_id,
                generation=generation,
                state=state,
                reason=reason,
                endpoints=_endpoint_list(endpoints or {}),
            )
        )


def _endpoint_list(endpoints: Mapping[str, str]) -> tuple[ConsumerEndpoint, ...]:
    return tuple(
        ConsumerEndpoint(service_name=name, vpc_endpoint_id=endpoint_id)
        for name, endpoint_id in sorted(endpoints.items())
    )
