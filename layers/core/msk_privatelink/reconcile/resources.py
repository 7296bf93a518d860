"""Desired ("res") and actual ("sdk") resources, each indexed by a natural key.

Keys: a load balancer and a target group by their deterministic name, a
listener by ``<load balancer name>:<port>``, an endpoint service by the name
of the load balancer it fronts, a provider hosted zone by its name, an alias
record by its record name.

``broker_id`` is ``None`` for what serves no single broker: shared-nlb's load
balancer and endpoint service, its bootstrap target groups and listeners.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from msgspec import Struct, field

from msk_privatelink.kernel.models import AuthScheme

# Frozen msgspec structs rather than dataclasses: same fields, equality,
# hashing and ordering, but a class costs microseconds to create where a
# frozen dataclass costs about half a millisecond, and the reconciler creates
# all of these at every cold start. Copy with msgspec.structs.replace.

# NLBs spread each client connection over the targets in every zone only with
# cross-zone load balancing; cross-Region consumers need it on.
LOAD_BALANCER_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("load_balancing.cross_zone.enabled", "true"),
)


def attributes_token(attributes: tuple[tuple[str, str], ...]) -> str:
    # "+" joins: a comma is not allowed in an ELB tag value.
    return "+".join(f"{k}={v}" for k, v in sorted(attributes))


class Target(Struct, frozen=True, order=True):
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


class TargetGroupSpec(Struct, frozen=True):
    name: str
    broker_id: int | None
    scheme: AuthScheme
    port: int
    vpc_id: str
    targets: frozenset[Target]
    tags: tuple[tuple[str, str], ...]
    # "bootstrap": holds every broker (shared-nlb); "broker": exactly one.
    role: Literal["broker", "bootstrap"] = "broker"


class LoadBalancerSpec(Struct, frozen=True):
    name: str
    broker_id: int | None
    subnet_ids: frozenset[str]
    tags: tuple[tuple[str, str], ...]
    attributes: tuple[tuple[str, str], ...] = LOAD_BALANCER_ATTRIBUTES

    @property
    def attributes_token(self) -> str:
        return attributes_token(self.attributes)


class ListenerSpec(Struct, frozen=True):
    load_balancer: str
    port: int
    target_group: str
    tags: tuple[tuple[str, str], ...] = ()
    broker_id: int | None = None

    @property
    def key(self) -> str:
        return listener_key(self.load_balancer, self.port)


class EndpointServiceSpec(Struct, frozen=True):
    load_balancer: str
    broker_id: int | None
    acceptance_required: bool
    allowed_principals: frozenset[str]
    # Consumer Regions other than the cluster's own.
    supported_regions: frozenset[str]
    tags: tuple[tuple[str, str], ...]


def listener_key(load_balancer: str, port: int) -> str:
    return f"{load_balancer}:{port}"


class HostedZoneSpec(Struct, frozen=True):
    """shared-nlb: a private zone for the cluster's own domain in the cluster VPC."""

    name: str
    vpc_id: str
    vpc_region: str
    tags: tuple[tuple[str, str], ...]
    # The load balancer whose marker tag records the zone's id.
    load_balancer: str = ""


class AliasRecordSpec(Struct, frozen=True):
    """An ``A`` alias from a broker host name to a load balancer."""

    name: str
    zone: str
    broker_id: int
    load_balancer: str


class DesiredState(Struct, frozen=True):
    cluster_arn: str
    load_balancers: Mapping[str, LoadBalancerSpec] = field(default_factory=dict)
    target_groups: Mapping[str, TargetGroupSpec] = field(default_factory=dict)
    listeners: Mapping[str, ListenerSpec] = field(default_factory=dict)
    endpoint_services: Mapping[str, EndpointServiceSpec] = field(default_factory=dict)
    # Brokers listed without an address yet: whatever exists for them stays.
    held_broker_ids: frozenset[int] = frozenset()
    hosted_zone: HostedZoneSpec | None = None
    records: Mapping[str, AliasRecordSpec] = field(default_factory=dict)
    # True for shared-nlb: the provider zone is read and planned (also to
    # remove it when provider_zone was switched off).
    manages_zone: bool = False


class LoadBalancerState(Struct, frozen=True):
    name: str
    arn: str
    broker_id: int | None
    subnet_ids: frozenset[str]
    attributes_token: str | None
    dns_name: str
    state: str
    canonical_zone_id: str = ""
    # shared-nlb: the provider zone id recorded on it (TAG_PROVIDER_ZONE).
    zone_marker: str | None = None


class TargetGroupState(Struct, frozen=True):
    name: str
    arn: str
    broker_id: int | None
    port: int
    vpc_id: str
    targets: frozenset[Target]
    # False when ownership was inferred from serving only our load balancers.
    tags_verified: bool = True


class ListenerState(Struct, frozen=True):
    load_balancer: str
    port: int
    arn: str
    # None when the listener forwards to a target group that is not ours.
    target_group: str | None

    @property
    def key(self) -> str:
        return listener_key(self.load_balancer, self.port)


class EndpointServiceState(Struct, frozen=True):
    # Name of the owned load balancer behind it; an orphan key when that is gone.
    key: str
    service_id: str
    service_name: str
    broker_id: int | None
    acceptance_required: bool
    allowed_principals: frozenset[str]
    supported_regions: frozenset[str]
    state: str
    # True when the digest tag matches the principals read or trusted.
    principals_recorded: bool = True


class AliasRecordState(Struct, frozen=True):
    name: str
    type: str
    # Normalized (lower case, no trailing dot); None for a non-alias record.
    alias_dns_name: str | None
    broker_id: int | None
    # The record set exactly as read: a DELETE must repeat it. Never hashed
    # (a mapping); equal for two reads of the same record.
    raw: Mapping[str, Any] = field(default_factory=dict)


class HostedZoneState(Struct, frozen=True):
    zone_id: str
    name: str
    # False: recognized by its CallerReference only (a crash before tagging).
    tagged: bool
    records: Mapping[str, AliasRecordState] = field(default_factory=dict)


class ActualState(Struct, frozen=True):
    cluster_arn: str
    load_balancers: Mapping[str, LoadBalancerState] = field(default_factory=dict)
    target_groups: Mapping[str, TargetGroupState] = field(default_factory=dict)
    listeners: Mapping[str, ListenerState] = field(default_factory=dict)
    endpoint_services: Mapping[str, EndpointServiceState] = field(default_factory=dict)
    # Resources carrying one of our names without our tags: never touched.
    conflicts: tuple[str, ...] = ()
    # Our provider hosted zones (shared-nlb), and names of zones in the
    # cluster VPC that hold the cluster's domain but are not ours.
    hosted_zones: tuple[HostedZoneState, ...] = ()
    foreign_zone_names: frozenset[str] = frozenset()
    # Every Network Load Balancer of the account in the Region, whoever made
    # it: what "Network Load Balancers per Region" counts.
    region_network_load_balancers: int = 0
    # Every target group of the account in the Region: "Target groups per Region".
    region_target_groups: int = 0

    def broker_ids(self) -> frozenset[int]:
        return frozenset(
            lb.broker_id for lb in self.load_balancers.values() if lb.broker_id is not None
        )

    def served_broker_ids(self) -> frozenset[int]:
        """Brokers with a target group of their own (shared-nlb's unit of removal)."""
        return frozenset(
            tg.broker_id for tg in self.target_groups.values() if tg.broker_id is not None
        )
