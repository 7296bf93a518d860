"""What doctor reads from the account, as frozen records: the checks are pure
functions of these. A fact that could not be read is an ``Unread`` naming the
IAM action and AWS's answer, so a check can say what permission is missing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from msk_privatelink.kernel.models import ClusterInventory
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.resources import ActualState


@dataclass(frozen=True)
class Unread:
    action: str  # the IAM action, e.g. "cloudtrail:DescribeTrails"
    error: str

    def __str__(self) -> str:
        return f"{self.error} ({self.action})"


class ManagementEvents(StrEnum):
    """Which management events a trail logs."""

    ALL = "all"
    WRITE_ONLY = "write-only"
    READ_ONLY = "read-only"
    NONE = "none"

    @property
    def has_writes(self) -> bool:
        # The rules match write calls (UpdateBrokerCount, CreateNetworkInterface, ...).
        return self in (ManagementEvents.ALL, ManagementEvents.WRITE_ONLY)


@dataclass(frozen=True)
class Trail:
    name: str
    arn: str
    home_region: str
    multi_region: bool
    logging: bool | Unread
    management: ManagementEvents | Unread


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    vpc_id: str
    availability_zone: str
    cidr: str


@dataclass(frozen=True)
class IngressRule:
    """One inbound permission of a security group (DescribeSecurityGroups'
    ``IpPermissions``). ``from_port``/``to_port`` are None for every port."""

    group_id: str
    protocol: str  # "-1" (all), "tcp" or "6", ...
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...] = ()
    # Managed prefix lists: not resolved here. Security group references are
    # left out: the project's load balancers have no security group, so no
    # reference can admit them.
    prefix_lists: tuple[str, ...] = ()

    def admits_tcp(self, port: int) -> bool:
        if self.protocol not in ("-1", "tcp", "6"):
            return False
        if self.protocol == "-1" or self.from_port is None or self.to_port is None:
            return True
        return self.from_port <= port <= self.to_port


@dataclass(frozen=True)
class ClusterFacts:
    inventory: ClusterInventory
    security_group_ids: tuple[str, ...]


@dataclass(frozen=True)
class StackFacts:
    name: str
    status: str
    parameters: Mapping[str, str]
    # Where the stack's functions read configuration documents.
    parameter_prefix: str
    parameter_name: str
    # The document stored for the cluster; None with ``stored_problem`` when
    # it is missing or invalid (a ConfigError's message).
    stored: ClusterConfig | Unread | None
    stored_problem: str | None = None


@dataclass(frozen=True)
class Facts:
    region: str | None
    cluster_arn: str | None
    # The configuration and where it came from; ``config_problem`` says why
    # there is none.
    config: ClusterConfig | None
    config_source: str
    config_problem: str | None = None
    config_from_file: bool = False
    cluster: ClusterFacts | Unread | None = None
    trails: tuple[Trail, ...] | Unread | None = None
    # Every subnet doctor needed (NLB, broker and Kafka admin subnets), by id;
    # an id absent here does not exist.
    subnets: Mapping[str, Subnet] | Unread = field(default_factory=dict)
    ingress: tuple[IngressRule, ...] | Unread = ()
    actual: ActualState | Unread | None = None
    limits: Mapping[str, int] | Unread | None = None
    # None: no --stack-name given.
    stack: StackFacts | Unread | None = None
