"""Desired ("res") and actual ("sdk") resources, each indexed by a natural key.

Keys: a load balancer and a target group by their deterministic name, a
listener by ``<load balancer name>:<port>``, an endpoint service by the name
of the load balancer it fronts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .models import AuthScheme

# NLBs spread each client connection over the targets in every zone only with
# cross-zone load balancing; cross-Region consumers need it on.
LOAD_BALANCER_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("load_balancing.cross_zone.enabled", "true"),
)


def attributes_token(attributes: tuple[tuple[str, str], ...]) -> str:
    # "+" joins: a comma is not allowed in an ELB tag value.
    return "+".join(f"{k}={v}" for k, v in sorted(attributes))


@dataclass(frozen=True, order=True)
class Target:
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class TargetGroupSpec:
    name: str
    broker_id: int
    scheme: AuthScheme
    port: int
    vpc_id: str
    targets: frozenset[Target]
    tags: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class LoadBalancerSpec:
    name: str
    broker_id: int
    subnet_ids: frozenset[str]
    tags: tuple[tuple[str, str], ...]
    attributes: tuple[tuple[str, str], ...] = LOAD_BALANCER_ATTRIBUTES

    @property
    def attributes_token(self) -> str:
        return attributes_token(self.attributes)


@dataclass(frozen=True)
class ListenerSpec:
    load_balancer: str
    port: int
    target_group: str
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return listener_key(self.load_balancer, self.port)


@dataclass(frozen=True)
class EndpointServiceSpec:
    load_balancer: str
    broker_id: int
    acceptance_required: bool
    allowed_principals: frozenset[str]
    # Consumer Regions other than the cluster's own.
    supported_regions: frozenset[str]
    tags: tuple[tuple[str, str], ...]


def listener_key(load_balancer: str, port: int) -> str:
    return f"{load_balancer}:{port}"


@dataclass(frozen=True)
class DesiredState:
    cluster_arn: str
    load_balancers: Mapping[str, LoadBalancerSpec] = field(default_factory=dict)
    target_groups: Mapping[str, TargetGroupSpec] = field(default_factory=dict)
    listeners: Mapping[str, ListenerSpec] = field(default_factory=dict)
    endpoint_services: Mapping[str, EndpointServiceSpec] = field(default_factory=dict)
    # Brokers listed without an address yet: whatever exists for them stays.
    held_broker_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class LoadBalancerState:
    name: str
    arn: str
    broker_id: int | None
    subnet_ids: frozenset[str]
    attributes_token: str | None
    dns_name: str
    state: str


@dataclass(frozen=True)
class TargetGroupState:
    name: str
    arn: str
    broker_id: int | None
    port: int
    vpc_id: str
    targets: frozenset[Target]
    # False when ownership was inferred from serving only our load balancers.
    tags_verified: bool = True


@dataclass(frozen=True)
class ListenerState:
    load_balancer: str
    port: int
    arn: str
    # None when the listener forwards to a target group that is not ours.
    target_group: str | None

    @property
    def key(self) -> str:
        return listener_key(self.load_balancer, self.port)


@dataclass(frozen=True)
class EndpointServiceState:
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


@dataclass(frozen=True)
class ActualState:
    cluster_arn: str
    load_balancers: Mapping[str, LoadBalancerState] = field(default_factory=dict)
    target_groups: Mapping[str, TargetGroupState] = field(default_factory=dict)
    listeners: Mapping[str, ListenerState] = field(default_factory=dict)
    endpoint_services: Mapping[str, EndpointServiceState] = field(default_factory=dict)
    # Resources carrying one of our names without our tags: never touched.
    conflicts: tuple[str, ...] = ()

    def broker_ids(self) -> frozenset[int]:
        return frozenset(
            lb.broker_id for lb in self.load_balancers.values() if lb.broker_id is not None
        )
