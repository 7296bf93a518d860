"""What the simulator remembers about one MSK cluster, and how MSK shows it.

The render functions return dicts keyed by botocore member names, exactly the
shapes of DescribeClusterV2, DescribeCluster, ListNodes and
GetBootstrapBrokers; the simulator validates them against the model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from msk_privatelink_dev.embedded.msk_operations import ClusterOperation

# MSK's listener ports per client authentication scheme.
PORT_PLAINTEXT = 9092
PORT_TLS = 9094
PORT_SASL_SCRAM = 9096
PORT_SASL_IAM = 9098
_ZOOKEEPER_PORT = 2181
_ZOOKEEPER_TLS_PORT = 2182
_BOOTSTRAP_HOSTS = 3
_KRAFT_ONLY_MAJOR = 4


@dataclass(frozen=True)
class Broker:
    """One broker. `eni_id`/`ip_address` are None while MSK is still creating it."""

    broker_id: int
    subnet_id: str
    endpoint: str
    node_arn: str
    added_at: datetime
    eni_id: str | None = None
    ip_address: str | None = None

    @property
    def ready(self) -> bool:
        return self.eni_id is not None


@dataclass(frozen=True)
class Scope:
    """Where a resource lives: MSK resources are per account and Region."""

    account_id: str
    region: str


@dataclass
class ClusterRecord:
    arn: str
    name: str
    account_id: str
    region: str
    dns_label: str
    created_at: datetime
    kafka_version: str
    instance_type: str
    client_subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    client_authentication: dict[str, Any]
    encryption_info: dict[str, Any]
    storage_info: dict[str, Any]
    enhanced_monitoring: str
    open_monitoring: dict[str, Any]
    logging_info: dict[str, Any] | None
    configuration_info: dict[str, Any] | None
    current_version: str
    state: str
    tags: dict[str, str] = field(default_factory=dict)
    brokers: dict[int, Broker] = field(default_factory=dict)
    # The operation in progress; finished ones live in the simulator's history.
    operation: ClusterOperation | None = None
    policy: str | None = None
    policy_version: str | None = None

    def broker_host(self, broker_id: int) -> str:
        return f"b-{broker_id}.{self._host_suffix()}"

    def sorted_brokers(self) -> list[Broker]:
        return [self.brokers[key] for key in sorted(self.brokers)]

    def uses_zookeeper(self) -> bool:
        # "x.y.z.kraft" versions and Kafka 4 and later run KRaft, not ZooKeeper.
        if self.kafka_version.endswith(".kraft"):
            return False
        major = re.match(r"(\d+)\.", self.kafka_version)
        return major is None or int(major.group(1)) < _KRAFT_ONLY_MAJOR

    def _host_suffix(self) -> str:
        return f"{self.name.lower()}.{self.dns_label}.c2.kafka.{self.region}.amazonaws.com"

    def zookeeper_string(self, port: int) -> str:
        return ",".join(f"z-{n}.{self._host_suffix()}:{port}" for n in (1, 2, 3))


def iso_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def auth_enabled(authentication: Mapping[str, Any], *path: str) -> bool:
    """Whether e.g. ("Sasl", "Iam") is enabled in a ClientAuthentication tree."""
    node: Any = authentication
    for key in path:
        node = node.get(key, {})
    return bool(node.get("Enabled", False))


def _client_broker(cluster: ClusterRecord) -> str:
    in_transit = cluster.encryption_info.get("EncryptionInTransit", {})
    return str(in_transit.get("ClientBroker", "TLS"))


def _software_info(cluster: ClusterRecord) -> dict[str, Any]:
    info: dict[str, Any] = {"KafkaVersion": cluster.kafka_version}
    if cluster.configuration_info:
        info["ConfigurationArn"] = cluster.configuration_info["Arn"]
        info["ConfigurationRevision"] = cluster.configuration_info["Revision"]
    return info


def _broker_node_group(cluster: ClusterRecord) -> dict[str, Any]:
    return {
        "BrokerAZDistribution": "DEFAULT",
        "ClientSubnets": list(cluster.client_subnets),
        "InstanceType": cluster.instance_type,
        "SecurityGroups": list(cluster.security_groups),
        "StorageInfo": cluster.storage_info,
        "ConnectivityInfo": {"PublicAccess": {"Type": "DISABLED"}},
    }


def _shared_info(cluster: ClusterRecord) -> dict[str, Any]:
    """Members that DescribeCluster and DescribeClusterV2's Provisioned share."""
    info: dict[str, Any] = {
        "ClientAuthentication": cluster.client_authentication,
        "CurrentBrokerSoftwareInfo": _software_info(cluster),
        "EncryptionInfo": cluster.encryption_info,
        "EnhancedMonitoring": cluster.enhanced_monitoring,
        "OpenMonitoring": cluster.open_monitoring,
        "NumberOfBrokerNodes": len(cluster.brokers),
        "StorageMode": "LOCAL",
    }
    if cluster.logging_info:
        info["LoggingInfo"] = cluster.logging_info
    if cluster.uses_zookeeper():
        info["ZookeeperConnectString"] = cluster.zookeeper_string(_ZOOKEEPER_PORT)
        info["ZookeeperConnectStringTls"] = cluster.zookeeper_string(_ZOOKEEPER_TLS_PORT)
    return info


def _identity(cluster: ClusterRecord) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "ClusterArn": cluster.arn,
        "ClusterName": cluster.name,
        "CreationTime": cluster.created_at,
        "CurrentVersion": cluster.current_version,
        "State": cluster.state,
        "Tags": dict(cluster.tags),
    }
    if cluster.operation is not None and cluster.operation.in_progress:
        identity["ActiveOperationArn"] = cluster.operation.arn
    return identity


def cluster_info_v2(cluster: ClusterRecord) -> dict[str, Any]:
    """The `Cluster` shape (DescribeClusterV2, ListClustersV2)."""
    provisioned = {"BrokerNodeGroupInfo": _broker_node_group(cluster), **_shared_info(cluster)}
    return {**_identity(cluster), "ClusterType": "PROVISIONED", "Provisioned": provisioned}


def cluster_info_v1(cluster: ClusterRecord) -> dict[str, Any]:
    """The `ClusterInfo` shape (DescribeCluster)."""
    return {
        **_identity(cluster),
        "BrokerNodeGroupInfo": _broker_node_group(cluster),
        **_shared_info(cluster),
    }


def node_info(cluster: ClusterRecord, broker: Broker) -> dict[str, Any]:
    """One ListNodes entry. MSK omits the ENI and address until the broker exists."""
    broker_info: dict[str, Any] = {
        # MSK sends broker ids as JSON doubles (1.0), matching the model.
        "BrokerId": float(broker.broker_id),
        "ClientSubnet": broker.subnet_id,
        "CurrentBrokerSoftwareInfo": _software_info(cluster),
        "Endpoints": [broker.endpoint],
    }
    if broker.ready:
        broker_info["AttachedENIId"] = broker.eni_id
        broker_info["ClientVpcIpAddress"] = broker.ip_address
    return {
        "AddedToClusterTime": iso_timestamp(broker.added_at),
        "BrokerNodeInfo": broker_info,
        "InstanceType": cluster.instance_type,
        "NodeARN": broker.node_arn,
        "NodeType": "BROKER",
    }


def bootstrap_brokers(cluster: ClusterRecord) -> dict[str, Any]:
    hosts = [b.endpoint for b in cluster.sorted_brokers() if b.ready][:_BOOTSTRAP_HOSTS]

    def joined(port: int) -> str:
        return ",".join(f"{host}:{port}" for host in hosts)

    client_broker = _client_broker(cluster)
    unauthenticated = auth_enabled(cluster.client_authentication, "Unauthenticated")
    answer: dict[str, Any] = {}
    if unauthenticated and client_broker in ("PLAINTEXT", "TLS_PLAINTEXT"):
        answer["BootstrapBrokerString"] = joined(PORT_PLAINTEXT)
    tls_listener = client_broker in ("TLS", "TLS_PLAINTEXT")
    if tls_listener and (unauthenticated or auth_enabled(cluster.client_authentication, "Tls")):
        answer["BootstrapBrokerStringTls"] = joined(PORT_TLS)
    if auth_enabled(cluster.client_authentication, "Sasl", "Scram"):
        answer["BootstrapBrokerStringSaslScram"] = joined(PORT_SASL_SCRAM)
    if auth_enabled(cluster.client_authentication, "Sasl", "Iam"):
        answer["BootstrapBrokerStringSaslIam"] = joined(PORT_SASL_IAM)
    return answer
