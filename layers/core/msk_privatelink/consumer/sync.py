"""Consumer side, pure: desired consumer resources from a BrokerEndpointsChanged,
the plan that turns actual into desired, and which generations to apply.

No I/O, no clock. The AWS adapters live in ``consumer/aws/side.py``.

Per cluster, in the consumer's VPC:
- one interface endpoint per endpoint service (key: service name): one per
  broker with nlb-per-broker, one for the whole cluster with shared-nlb;
- one private hosted zone named for the cluster's own domain, the narrowest
  zone holding every broker name (never ``kafka.<region>.amazonaws.com``,
  which would shadow every other MSK cluster for the VPC);
- in it, per broker host name an ``A`` alias to that broker's endpoint, and
  ``bootstrap.<zone>``: weighted ``A`` aliases (one per broker, equal weight,
  for the lowest ``MAX_BOOTSTRAP_ALIASES`` broker ids) to the broker
  endpoints (nlb-per-broker), or one ``A`` alias to the bootstrap service's
  endpoint (shared-nlb).

Every name an event carries is checked (DNS host names, endpoint service
names) before anything is read or written.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from msk_privatelink.kernel.consumer_events import Region, SecurityGroupId, SubnetId, VpcId
from msk_privatelink.kernel.dns import cluster_zone_name, normalize_dns
from msk_privatelink.kernel.errors import InvalidEventError
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import Record
from msk_privatelink.reconcile.plan import change_dict

# The last applied generation, on the cluster's hosted zone (see consumer/aws/side.py).
TAG_GENERATION = "msk-privatelink:generation"
# The consumer VPC a zone was made for: two consumer stacks in one account
# (one per VPC) never touch each other's zones.
TAG_CONSUMER_VPC = "msk-privatelink:consumer-vpc"

BOOTSTRAP_LABEL = "bootstrap"
# Route 53 holds at most 100 weighted records with the same name and type
# (Route 53 Developer Guide, "Quotas": records with the same name and type in
# a weighted routing policy, not adjustable). A client needs one reachable
# broker to bootstrap, so a bigger cluster's bootstrap name carries the
# lowest broker ids: stable across scale-outs, which add higher ids.
MAX_BOOTSTRAP_ALIASES = 100
SHARED_NLB = "shared-nlb"
RECORD_TYPE = "A"
# Endpoints in these states serve (or will serve) traffic; other states
# (failed, rejected, expired, partial) are replaced. Deleting/deleted ones are
# not read at all.
USABLE_ENDPOINT_STATES = frozenset({"pendingacceptance", "pending", "available"})
# What may reach Route 53 and EC2 from an event (ASCII only, checked with fullmatch).
DNS_NAME_RE = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
    re.ASCII | re.IGNORECASE,
)
MAX_DNS_NAME = 253
ENDPOINT_SERVICE_RE = re.compile(
    r"com\.amazonaws\.vpce\.[a-z]{2}(-[a-z]+)+-[0-9]{1,2}\.vpce-svc-[0-9a-f]{8,17}", re.ASCII
)


# -- settings ------------------------------------------------------------------


class ConsumerSettings(Record, frozen=True, kw_only=True):
    """Where the consumer's endpoints go (one VPC per consumer stack).

    Built from a request or a stored tenancy, both validated when decoded;
    :func:`records.parse` checks a mapping with snake_case keys."""

    vpc_id: VpcId
    # Empty: enough to find and remove what exists (offboarding), never to build.
    subnet_ids: tuple[SubnetId, ...] = ()
    # Empty: EC2 applies the VPC's default group, and it is left as it is.
    security_group_ids: tuple[SecurityGroupId, ...] = ()
    region: Region


# -- desired -------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointSpec:
    service_name: str
    # None: one endpoint serves every broker (shared-nlb).
    broker_id: int | None
    vpc_id: str
    subnet_ids: frozenset[str]
    security_group_ids: frozenset[str]
    # The provider's Region when it differs from ours (cross-Region PrivateLink).
    service_region: str | None = None


@dataclass(frozen=True)
class ZoneSpec:
    name: str
    vpc_id: str
    vpc_region: str


RecordKey = tuple[str, str, str]  # (name, type, set identifier or "")


@dataclass(frozen=True)
class RecordSpec:
    name: str
    # The endpoint (by service name) the alias points at.
    service_name: str
    # None: the shared-nlb bootstrap name.
    broker_id: int | None
    set_identifier: str | None = None
    weight: int | None = None

    @property
    def key(self) -> RecordKey:
        return (self.name, RECORD_TYPE, self.set_identifier or "")


@dataclass(frozen=True)
class ConsumerDesired:
    cluster_arn: str
    endpoints: Mapping[str, EndpointSpec] = field(default_factory=dict)
    # None: no zone at all (teardown).
    zone: ZoneSpec | None = None
    records: Mapping[RecordKey, RecordSpec] = field(default_factory=dict)


def build_consumer_desired(
    event: BrokerEndpointsChanged, settings: ConsumerSettings
) -> ConsumerDesired:
    """The consumer resources for one cluster's broker endpoints. Pure.

    ``nlb-per-broker``: one endpoint per broker service, the bootstrap name a
    set of weighted aliases (one per broker). ``shared-nlb``: every broker
    names the same service, so one endpoint serves every broker name and the
    bootstrap name is a single alias to the bootstrap service's endpoint (the
    bootstrap listener spreads connections itself). Ports travel untouched:
    an interface endpoint forwards every port of its service.
    """
    if not event.brokers:
        # An empty view would remove every path to the cluster; removing a
        # cluster is offboarding's job (``teardown``), not an event's.
        raise InvalidEventError(
            f"{event.cluster_arn} generation {event.generation} lists no broker; refusing to "
            "remove every endpoint (offboarding removes a cluster)"
        )
    if not settings.subnet_ids:
        raise InvalidEventError(
            f"{event.cluster_arn}: no subnets known for {settings.vpc_id}; endpoints need one "
            "subnet per Availability Zone"
        )
    _check_names(event)
    shared = _is_shared(event)
    bootstrap_service = _bootstrap_service(event)
    _check_unique(event, shared)
    zone_name = cluster_zone_name(h for b in event.brokers for h in b.host_names)
    service_region = event.region if event.region != settings.region else None
    endpoints: dict[str, EndpointSpec] = {}
    records: dict[RecordKey, RecordSpec] = {}

    def endpoint(service_name: str, broker_id: int | None) -> None:
        endpoints.setdefault(
            service_name,
            EndpointSpec(
                service_name=service_name,
                broker_id=None if shared else broker_id,
                vpc_id=settings.vpc_id,
                subnet_ids=frozenset(settings.subnet_ids),
                security_group_ids=frozenset(settings.security_group_ids),
                service_region=service_region,
            ),
        )

    weighted_ids: list[int] = []
    for broker in sorted(event.brokers, key=lambda b: b.broker_id):
        endpoint(broker.endpoint_service_name, broker.broker_id)
        for host in broker.host_names:
            spec = RecordSpec(normalize_dns(host), broker.endpoint_service_name, broker.broker_id)
            records[spec.key] = spec
        if bootstrap_service is None and len(weighted_ids) < MAX_BOOTSTRAP_ALIASES:
            weighted_ids.append(broker.broker_id)
            weighted = RecordSpec(
                f"{BOOTSTRAP_LABEL}.{zone_name}",
                broker.endpoint_service_name,
                broker.broker_id,
                set_identifier=f"b-{broker.broker_id}",
                weight=1,
            )
            records[weighted.key] = weighted
    if bootstrap_service is not None:
        endpoint(bootstrap_service, None)
        single = RecordSpec(f"{BOOTSTRAP_LABEL}.{zone_name}", bootstrap_service, None)
        records[single.key] = single
    return ConsumerDesired(
        cluster_arn=event.cluster_arn,
        endpoints=endpoints,
        zone=ZoneSpec(zone_name, settings.vpc_id, settings.region),
        records=records,
    )


def _check_names(event: BrokerEndpointsChanged) -> None:
    """Names reach Route 53 and EC2 as they are: anything but a plain DNS
    name or endpoint service name is refused before the first call."""
    for broker in event.brokers:
        if not ENDPOINT_SERVICE_RE.fullmatch(broker.endpoint_service_name):
            raise InvalidEventError(
                f"broker {broker.broker_id}: {broker.endpoint_service_name[:80]!r} is not a VPC "
                "endpoint service name"
            )
        if not broker.host_names:
            raise InvalidEventError(f"broker {broker.broker_id} has no host name")
        for host in broker.host_names:
            if len(host) > MAX_DNS_NAME or not DNS_NAME_RE.fullmatch(host):
                raise InvalidEventError(
                    f"broker {broker.broker_id}: {host[:80]!r} is not a DNS host name"
                )
    bootstrap = event.bootstrap
    if bootstrap is not None and not ENDPOINT_SERVICE_RE.fullmatch(bootstrap.endpoint_service_name):
        raise InvalidEventError(
            f"bootstrap: {bootstrap.endpoint_service_name[:80]!r} is not a VPC endpoint "
            "service name"
        )


def _is_shared(event: BrokerEndpointsChanged) -> bool:
    return event.pattern == SHARED_NLB


def _bootstrap_service(event: BrokerEndpointsChanged) -> str | None:
    """The bootstrap endpoint service of a shared-nlb view (None otherwise)."""
    if not _is_shared(event):
        if event.bootstrap is not None:
            raise InvalidEventError(
                f"{event.cluster_arn}: an nlb-per-broker view carries no bootstrap endpoint"
            )
        return None
    if event.bootstrap is None:
        raise InvalidEventError(
            f"{event.cluster_arn}: a shared-nlb view needs its bootstrap endpoint service"
        )
    return event.bootstrap.endpoint_service_name


def _check_unique(event: BrokerEndpointsChanged, shared: bool) -> None:
    seen_services: set[str] = set()
    seen_hosts: set[str] = set()
    for broker in event.brokers:
        if broker.endpoint_service_name in seen_services and not shared:
            raise InvalidEventError(
                f"endpoint service {broker.endpoint_service_name} is listed for two brokers"
            )
        seen_services.add(broker.endpoint_service_name)
        for host in map(normalize_dns, broker.host_names):
            if host in seen_hosts or host.split(".", 1)[0] == BOOTSTRAP_LABEL:
                raise InvalidEventError(f"host name {host} is listed twice or is reserved")
            seen_hosts.add(host)


def zone_caller_reference_prefix(cluster_arn: str, vpc_id: str, zone_name: str) -> str:
    """CallerReference prefix of the zones this project creates for a cluster
    and VPC: an untagged zone carrying it is ours (a crash hit between
    CreateHostedZone and tagging), any other untagged zone is not."""
    digest = hashlib.sha256(f"{cluster_arn}|{vpc_id}|{zone_name}".encode()).hexdigest()[:24]
    return f"mpl-{digest}-"


# -- actual --------------------------------------------------------------------


@dataclass(frozen=True)
class AliasTarget:
    dns_name: str
    hosted_zone_id: str
    evaluate_target_health: bool = False

    def normalized(self) -> AliasTarget:
        return AliasTarget(
            normalize_dns(self.dns_name), self.hosted_zone_id, self.evaluate_target_health
        )


@dataclass(frozen=True)
class EndpointState:
    endpoint_id: str
    service_name: str
    state: str
    subnet_ids: frozenset[str]
    security_group_ids: frozenset[str]
    dns: AliasTarget | None
    broker_id: int | None = None

    @property
    def usable(self) -> bool:
        return self.state.lower() in USABLE_ENDPOINT_STATES and self.dns is not None


@dataclass(frozen=True)
class RecordState:
    name: str
    type: str
    set_identifier: str | None
    weight: int | None
    alias: AliasTarget | None
    # The record set exactly as read: a DELETE must repeat it.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> RecordKey:
        return (self.name, self.type, self.set_identifier or "")


@dataclass(frozen=True)
class ZoneState:
    zone_id: str
    name: str
    # False: recognized by its CallerReference only; tags are still missing.
    tagged: bool
    generation: int | None
    records: Mapping[RecordKey, RecordState] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsumerActual:
    """Only what carries this project's tags for this cluster and VPC."""

    cluster_arn: str
    vpc_id: str
    endpoints: tuple[EndpointState, ...] = ()
    zones: tuple[ZoneState, ...] = ()
    # Resources that block ours but are not ours (never touched).
    conflicts: tuple[str, ...] = ()

    @property
    def last_generation(self) -> int | None:
        generations = [z.generation for z in self.zones if z.generation is not None]
        return max(generations) if generations else None


# -- plan ----------------------------------------------------------------------


class ConsumerStep(IntEnum):
    """Apply order: endpoints -> zone -> records; deletes afterwards in reverse."""

    CREATE_ENDPOINT = 10
    MODIFY_ENDPOINT = 15
    CREATE_ZONE = 20
    TAG_ZONE = 25
    # A record of ours at a name about to be written, in a way the new one
    # conflicts with (e.g. a plain record where weighted ones go): deleted in
    # the same atomic change batch, just before the upserts.
    REPLACE_RECORD = 28
    UPSERT_RECORD = 30
    DELETE_RECORD = 60
    DELETE_ZONE = 70
    DELETE_ENDPOINT = 80

    @property
    def destructive(self) -> bool:
        return self >= ConsumerStep.DELETE_RECORD or self is ConsumerStep.REPLACE_RECORD

    @property
    def kind(self) -> str:
        return self.name.lower().split("_", 1)[1]

    @property
    def action(self) -> str:
        return self.name.lower().split("_", 1)[0]


RECORD_WRITE_STEPS = frozenset({ConsumerStep.REPLACE_RECORD, ConsumerStep.UPSERT_RECORD})


@dataclass(frozen=True)
class ConsumerChange:
    step: ConsumerStep
    key: str
    detail: str
    broker_id: int | None = None
    endpoint: EndpointSpec | None = None
    zone: ZoneSpec | None = None
    record: RecordSpec | None = None
    # The zone a record change goes to, by name (known before it exists).
    zone_name: str | None = None
    # Existing endpoint id / zone id, for updates and deletes.
    resource_id: str | None = None
    # An upsert's alias target; None: the endpoint this run creates.
    target: AliasTarget | None = None
    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    add_groups: frozenset[str] = frozenset()
    remove_groups: frozenset[str] = frozenset()
    # Endpoints a create replaces (they go at the end of the run).
    replaces: tuple[str, ...] = ()
    raw_record: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def destructive(self) -> bool:
        return self.step.destructive

    @property
    def sort_key(self) -> tuple[int, str, str]:
        return (int(self.step), self.zone_name or "", self.key)

    def to_dict(self) -> dict[str, Any]:
        return change_dict(self.step, self.key, self.broker_id, self.detail)


@dataclass(frozen=True)
class ConsumerPlan:
    changes: tuple[ConsumerChange, ...] = ()

    @classmethod
    def of(cls, changes: Iterable[ConsumerChange]) -> ConsumerPlan:
        return cls(tuple(sorted(changes, key=lambda c: c.sort_key)))

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def __len__(self) -> int:
        return len(self.changes)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.changes]


def _rank(endpoint: EndpointState) -> tuple[int, str]:
    order = {"available": 0, "pendingacceptance": 1, "pending": 2}
    return (order.get(endpoint.state.lower(), 9), endpoint.endpoint_id)


def primary_endpoints(desired: ConsumerDesired, actual: ConsumerActual) -> dict[str, EndpointState]:
    """The endpoint kept per desired service: the best usable one (others are
    duplicates left by a crash or a replaced failure, and are deleted)."""
    chosen: dict[str, EndpointState] = {}
    for endpoint in sorted(actual.endpoints, key=_rank):
        if endpoint.service_name in desired.endpoints and endpoint.usable:
            chosen.setdefault(endpoint.service_name, endpoint)
    return chosen


def primary_zone(desired: ConsumerDesired, actual: ConsumerActual) -> ZoneState | None:
    """The zone kept: ours with the desired name, most settled first."""
    if desired.zone is None:
        return None
    candidates = [z for z in actual.zones if z.name == desired.zone.name]
    # The one that completed a sync, then the one serving most names.
    candidates.sort(key=lambda z: (-(z.generation or 0), -len(z.records), not z.tagged, z.zone_id))
    return candidates[0] if candidates else None


def compute_consumer_plan(desired: ConsumerDesired, actual: ConsumerActual) -> ConsumerPlan:
    """Desired vs actual by natural keys. Pure and deterministic."""
    primaries = primary_endpoints(desired, actual)
    zone = primary_zone(desired, actual)
    changes = _endpoints(desired, actual, primaries)
    changes += _zones(desired, actual, zone)
    changes += _records(desired, zone, primaries)
    changes += _records_of_removed_zones(actual, zone)
    return ConsumerPlan.of(changes)


def _endpoints(
    desired: ConsumerDesired, actual: ConsumerActual, primaries: dict[str, EndpointState]
) -> list[ConsumerChange]:
    changes: list[ConsumerChange] = []
    for name, spec in desired.endpoints.items():
        current = primaries.get(name)
        if current is None:
            replaced = tuple(
                sorted(e.endpoint_id for e in actual.endpoints if e.service_name == name)
            )
            changes.append(
                ConsumerChange(
                    ConsumerStep.CREATE_ENDPOINT,
                    name,
                    f"interface endpoint in {spec.vpc_id}"
                    + (f" (replaces {', '.join(replaced)})" if replaced else ""),
                    spec.broker_id,
                    endpoint=spec,
                    replaces=replaced,
                )
            )
            continue
        add, remove = spec.subnet_ids - current.subnet_ids, current.subnet_ids - spec.subnet_ids
        add_groups: frozenset[str] = frozenset()
        remove_groups: frozenset[str] = frozenset()
        if spec.security_group_ids:
            add_groups = spec.security_group_ids - current.security_group_ids
            remove_groups = current.security_group_ids - spec.security_group_ids
        if add or remove or add_groups or remove_groups:
            parts = [f"+{s}" for s in sorted(add | add_groups)]
            parts += [f"-{s}" for s in sorted(remove | remove_groups)]
            changes.append(
                ConsumerChange(
                    ConsumerStep.MODIFY_ENDPOINT,
                    name,
                    " ".join(parts),
                    spec.broker_id,
                    endpoint=spec,
                    resource_id=current.endpoint_id,
                    add=add,
                    remove=remove,
                    add_groups=add_groups,
                    remove_groups=remove_groups,
                )
            )
    kept = {e.endpoint_id for e in primaries.values()}
    for endpoint in actual.endpoints:
        if endpoint.endpoint_id not in kept:
            changes.append(
                ConsumerChange(
                    ConsumerStep.DELETE_ENDPOINT,
                    endpoint.service_name,
                    f"{endpoint.endpoint_id} ({endpoint.state})",
                    endpoint.broker_id,
                    resource_id=endpoint.endpoint_id,
                )
            )
    return changes


def _zones(
    desired: ConsumerDesired, actual: ConsumerActual, zone: ZoneState | None
) -> list[ConsumerChange]:
    changes: list[ConsumerChange] = []
    if desired.zone is not None:
        if zone is None:
            changes.append(
                ConsumerChange(
                    ConsumerStep.CREATE_ZONE,
                    desired.zone.name,
                    f"private, associated with {desired.zone.vpc_id}",
                    zone=desired.zone,
                    zone_name=desired.zone.name,
                )
            )
        elif not zone.tagged:
            changes.append(
                ConsumerChange(
                    ConsumerStep.TAG_ZONE,
                    desired.zone.name,
                    "ownership tags",
                    zone=desired.zone,
                    zone_name=zone.name,
                    resource_id=zone.zone_id,
                )
            )
    for other in actual.zones:
        if zone is None or other.zone_id != zone.zone_id:
            changes.append(
                ConsumerChange(
                    ConsumerStep.DELETE_ZONE,
                    other.name,
                    other.zone_id,
                    zone_name=other.name,
                    resource_id=other.zone_id,
                )
            )
    return changes


def _target(spec: RecordSpec, primaries: dict[str, EndpointState]) -> AliasTarget | None:
    endpoint = primaries.get(spec.service_name)
    return endpoint.dns.normalized() if endpoint is not None and endpoint.dns else None


def _records(
    desired: ConsumerDesired, zone: ZoneState | None, primaries: dict[str, EndpointState]
) -> list[ConsumerChange]:
    if desired.zone is None:
        return []
    zone_name = desired.zone.name
    zone_id = zone.zone_id if zone is not None else None
    current: Mapping[RecordKey, RecordState] = zone.records if zone is not None else {}
    changes: list[ConsumerChange] = []
    for key, spec in desired.records.items():
        target = _target(spec, primaries)
        existing = current.get(key)
        if (
            existing is not None
            and target is not None
            and existing.alias is not None
            and existing.alias.normalized() == target
            and existing.weight == spec.weight
        ):
            continue
        changes.append(
            ConsumerChange(
                ConsumerStep.UPSERT_RECORD,
                _record_label(key),
                f"alias -> {target.dns_name if target else 'new endpoint of ' + spec.service_name}",
                spec.broker_id,
                record=spec,
                zone_name=zone_name,
                resource_id=zone_id,
                target=target,
            )
        )
    # Per desired name: weighted or simple. Route 53 refuses a simple record
    # next to weighted ones of the same type, and a CNAME next to anything.
    weighted = {name: bool(set_id) for name, _, set_id in desired.records}
    for key, existing in current.items():
        if key in desired.records:
            continue
        conflicts = existing.name in weighted and (
            existing.type != RECORD_TYPE or bool(existing.set_identifier) != weighted[existing.name]
        )
        step = ConsumerStep.REPLACE_RECORD if conflicts else ConsumerStep.DELETE_RECORD
        changes.append(_delete_record(step, existing, zone_name, zone_id))
    return changes


def _records_of_removed_zones(
    actual: ConsumerActual, zone: ZoneState | None
) -> list[ConsumerChange]:
    # A zone can only be deleted once it holds nothing but its SOA and NS.
    return [
        _delete_record(ConsumerStep.DELETE_RECORD, record, other.name, other.zone_id)
        for other in actual.zones
        if zone is None or other.zone_id != zone.zone_id
        for record in other.records.values()
    ]


def _delete_record(
    step: ConsumerStep, record: RecordState, zone_name: str, zone_id: str | None
) -> ConsumerChange:
    return ConsumerChange(
        step,
        _record_label(record.key),
        f"in {zone_id}",
        zone_name=zone_name,
        resource_id=zone_id,
        raw_record=record.raw,
    )


def _record_label(key: RecordKey) -> str:
    name, type_, set_identifier = key
    return f"{name} {type_}" + (f" [{set_identifier}]" if set_identifier else "")


# -- generations ---------------------------------------------------------------


class Verdict(StrEnum):
    APPLY = "apply"  # newer than anything applied (or nothing applied yet)
    REAPPLY = "reapply"  # the generation applied last: idempotent, usually no write
    DROP = "drop"  # older than what was applied: stale, never applied


def generation_verdict(event_generation: int, last_applied: int | None) -> Verdict:
    if last_applied is None or event_generation > last_applied:
        return Verdict.APPLY
    if event_generation == last_applied:
        return Verdict.REAPPLY
    return Verdict.DROP
