"""MSK inventory: DescribeClusterV2 for the cluster, ListNodes for its brokers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..errors import ClusterNotFoundError, UnsupportedClusterError
from ..models import AuthScheme, Broker, ClusterInventory
from .errors import error_code, translate

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_kafka import KafkaClient


def enabled_schemes(cluster: dict[str, Any]) -> frozenset[AuthScheme]:
    """Client listeners the cluster has, from its authentication and encryption settings."""
    provisioned = cluster.get("Provisioned", {})
    auth = provisioned.get("ClientAuthentication", {})
    in_transit = provisioned.get("EncryptionInfo", {}).get("EncryptionInTransit", {})
    client_broker = in_transit.get("ClientBroker", "TLS")
    sasl = auth.get("Sasl", {})
    unauthenticated = auth.get("Unauthenticated", {}).get("Enabled", False)
    # MSK clusters created without ClientAuthentication are unauthenticated.
    if not auth:
        unauthenticated = True
    schemes: set[AuthScheme] = set()
    if sasl.get("Iam", {}).get("Enabled"):
        schemes.add(AuthScheme.SASL_IAM)
    if sasl.get("Scram", {}).get("Enabled"):
        schemes.add(AuthScheme.SASL_SCRAM)
    tls_allowed = client_broker in ("TLS", "TLS_PLAINTEXT")
    if tls_allowed and (auth.get("Tls", {}).get("Enabled") or unauthenticated):
        schemes.add(AuthScheme.TLS)
    if client_broker in ("PLAINTEXT", "TLS_PLAINTEXT") and unauthenticated:
        schemes.add(AuthScheme.PLAINTEXT)
    return frozenset(schemes)


class MskInventoryReader:
    def __init__(self, kafka: KafkaClient, ec2: EC2Client) -> None:
        self._kafka = kafka
        self._ec2 = ec2

    def read(self, cluster_arn: str, vpc_id: str | None = None) -> ClusterInventory:
        """The cluster and its brokers. ``vpc_id``, when known (MSK cannot move
        a cluster to another VPC), saves the subnet lookup."""
        try:
            info: dict[str, Any] = dict(
                self._kafka.describe_cluster_v2(ClusterArn=cluster_arn)["ClusterInfo"]
            )
        except ClientError as exc:
            if error_code(exc) == "NotFoundException":
                raise ClusterNotFoundError(f"MSK cluster {cluster_arn} does not exist") from exc
            raise translate(exc, f"DescribeClusterV2 {cluster_arn}") from exc
        if info.get("ClusterType") != "PROVISIONED" or "Provisioned" not in info:
            raise UnsupportedClusterError(
                f"cluster {cluster_arn} is {info.get('ClusterType')}: "
                "only provisioned clusters have brokers to expose"
            )
        provisioned = info["Provisioned"]
        subnets = tuple(provisioned["BrokerNodeGroupInfo"]["ClientSubnets"])
        brokers = self._brokers(cluster_arn)
        return ClusterInventory(
            cluster_arn=cluster_arn,
            cluster_name=str(info.get("ClusterName", cluster_arn.split("/")[1])),
            state=str(info.get("State", "UNKNOWN")),
            vpc_id=vpc_id or self._vpc_of(subnets),
            client_subnet_ids=subnets,
            enabled_schemes=enabled_schemes(info),
            kafka_version=str(
                provisioned.get("CurrentBrokerSoftwareInfo", {}).get("KafkaVersion", "")
            ),
            expected_broker_count=int(provisioned.get("NumberOfBrokerNodes", len(brokers))),
            brokers=brokers,
        )

    def _brokers(self, cluster_arn: str) -> tuple[Broker, ...]:
        brokers: list[Broker] = []
        try:
            for page in self._kafka.get_paginator("list_nodes").paginate(ClusterArn=cluster_arn):
                for node in page.get("NodeInfoList", []):
                    info = node.get("BrokerNodeInfo")
                    if node.get("NodeType", "BROKER") != "BROKER" or info is None:
                        continue
                    # BrokerId arrives as a float (1.0); ids are integers.
                    broker_id = int(info["BrokerId"])
                    brokers.append(
                        Broker(
                            broker_id=broker_id,
                            ip=info.get("ClientVpcIpAddress") or None,
                            eni_id=info.get("AttachedENIId") or None,
                            subnet_id=info.get("ClientSubnet") or None,
                            endpoints=tuple(info.get("Endpoints", [])),
                        )
                    )
        except ClientError as exc:
            raise translate(exc, f"ListNodes {cluster_arn}") from exc
        return tuple(sorted(brokers, key=lambda b: b.broker_id))

    def _vpc_of(self, subnets: tuple[str, ...]) -> str:
        if not subnets:
            raise UnsupportedClusterError("cluster reports no client subnets")
        try:
            described = self._ec2.describe_subnets(SubnetIds=list(subnets))["Subnets"]
        except ClientError as exc:
            raise translate(exc, "DescribeSubnets") from exc
        vpcs = {s["VpcId"] for s in described}
        if len(vpcs) != 1:
            raise UnsupportedClusterError(f"client subnets span VPCs {sorted(vpcs)}")
        return vpcs.pop()
