"""Domain values read from MSK: auth schemes, brokers, cluster inventory."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class AuthScheme(StrEnum):
    """A client listener of an MSK broker; each has its fixed broker port."""

    PLAINTEXT = "plaintext"
    TLS = "tls"
    SASL_SCRAM = "sasl_scram"
    SASL_IAM = "sasl_iam"

    @property
    def broker_port(self) -> int:
        return BROKER_PORTS[self]


BROKER_PORTS: dict[AuthScheme, int] = {
    AuthScheme.PLAINTEXT: 9092,
    AuthScheme.TLS: 9094,
    AuthScheme.SASL_SCRAM: 9096,
    AuthScheme.SASL_IAM: 9098,
}


class ClusterState(StrEnum):
    ACTIVE = "ACTIVE"
    CREATING = "CREATING"
    DELETING = "DELETING"
    FAILED = "FAILED"
    HEALING = "HEALING"
    MAINTENANCE = "MAINTENANCE"
    REBOOTING_BROKER = "REBOOTING_BROKER"
    UPDATING = "UPDATING"


# States in which MSK is changing brokers under us: the broker list may be
# mid-change, so additions are safe to apply but removals are not.
TRANSITIONAL_STATES = frozenset(
    {
        ClusterState.HEALING,
        ClusterState.MAINTENANCE,
        ClusterState.REBOOTING_BROKER,
        ClusterState.UPDATING,
    }
)


@dataclass(frozen=True)
class Broker:
    """One broker as ListNodes reports it.

    ``ip`` is ``None`` while MSK is still creating the broker (or its ENI):
    such a broker is *held*, never treated as gone.
    """

    broker_id: int
    ip: str | None
    eni_id: str | None
    subnet_id: str | None
    endpoints: tuple[str, ...] = ()


def brokers_fingerprint(brokers: Iterable[Broker]) -> str:
    """What the NLB layer and the view depend on, per broker: its id, client
    IP and DNS names. A new ENI with the same address changes nothing here,
    so it triggers no reconcile."""
    rows = sorted([b.broker_id, b.ip, list(b.endpoints)] for b in brokers)
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class ClusterInventory:
    cluster_arn: str
    cluster_name: str
    state: str
    vpc_id: str
    client_subnet_ids: tuple[str, ...]
    enabled_schemes: frozenset[AuthScheme]
    kafka_version: str
    expected_broker_count: int
    brokers: tuple[Broker, ...] = field(default_factory=tuple)
    # The broker count an UpdateBrokerCount in progress leads to (read only
    # while the cluster is UPDATING); None when no such operation runs.
    target_broker_count: int | None = None
    # From the same DescribeClusterV2 (advertised listeners reuse them rather
    # than describing the cluster again): the configuration revision in
    # force, the operation in progress and the version a cluster update needs.
    configuration_arn: str | None = None
    configuration_revision: int | None = None
    active_operation_arn: str | None = None
    current_version: str | None = None

    @property
    def region(self) -> str:
        return self.cluster_arn.split(":")[3]

    @property
    def account_id(self) -> str:
        return self.cluster_arn.split(":")[4]

    def broker(self, broker_id: int) -> Broker | None:
        return next((b for b in self.brokers if b.broker_id == broker_id), None)
