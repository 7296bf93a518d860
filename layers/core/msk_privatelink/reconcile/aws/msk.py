"""MSK inventory: DescribeClusterV2 for the cluster, ListNodes for its brokers."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.errors import ClusterNotFoundError, UnsupportedClusterError
from msk_privatelink.kernel.models import AuthScheme, Broker, ClusterInventory

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_kafka import KafkaClient

logger = logging.getLogger(__name__)

# OperationType values of UpdateBrokerCount (MSK reports the direction).
BROKER_COUNT_OPERATIONS = frozenset(
    {"INCREASE_BROKER_COUNT", "DECREASE_BROKER_COUNT", "UPDATE_BROKER_COUNT"}
)
IN_PROGRESS_OPERATION_STATES = frozenset({"PENDING", "UPDATE_IN_PROGRESS"})


def target_broker_count(operation: dict[str, Any]) -> int | None:
    """The broker count a DescribeClusterOperationV2 ``ClusterOperationInfo``
    leads to, when it is a broker-count change still in progress."""
    if operation.get("OperationType") not in BROKER_COUNT_OPERATIONS:
        return None
    if operation.get("OperationState") not in IN_PROGRESS_OPERATION_STATES:
        return None
    target = operation.get("Provisioned", {}).get("TargetClusterInfo", {})
    count = target.get("NumberOfBrokerNodes")
    return int(count) if isinstance(count, int) and count > 0 else None


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

    def read(
        self, cluster_arn: str, vpc_id: str | None = None, *, read_operation: bool = False
    ) -> ClusterInventory:
        """The cluster and its brokers. ``vpc_id``, when known (MSK cannot move
        a cluster to another VPC), saves the subnet lookup. ``read_operation``:
        also the target of a broker-count change in progress (shared-nlb)."""
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
        software = provisioned.get("CurrentBrokerSoftwareInfo", {})
        revision = software.get("ConfigurationRevision")
        subnets = tuple(provisioned["BrokerNodeGroupInfo"]["ClientSubnets"])
        brokers = self.brokers(cluster_arn)
        return ClusterInventory(
            cluster_arn=cluster_arn,
            cluster_name=str(info.get("ClusterName", cluster_arn.split("/")[1])),
            state=str(info.get("State", "UNKNOWN")),
            vpc_id=vpc_id or self._vpc_of(subnets),
            client_subnet_ids=subnets,
            enabled_schemes=enabled_schemes(info),
            kafka_version=str(software.get("KafkaVersion", "")),
            expected_broker_count=int(provisioned.get("NumberOfBrokerNodes", len(brokers))),
            brokers=brokers,
            target_broker_count=self._target_count(info) if read_operation else None,
            configuration_arn=software.get("ConfigurationArn") or None,
            configuration_revision=int(revision) if revision else None,
            active_operation_arn=info.get("ActiveOperationArn") or None,
            current_version=info.get("CurrentVersion") or None,
        )

    def _target_count(self, info: dict[str, Any]) -> int | None:
        """Only while UPDATING: a steady cluster costs no extra read."""
        operation_arn = info.get("ActiveOperationArn")
        if info.get("State") != "UPDATING" or not operation_arn:
            return None
        try:
            answer = self._kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)
        except ClientError as exc:
            # Preparing ports early is an optimisation: without it the new
            # brokers are routed as soon as ListNodes lists them.
            logger.warning(
                "cannot read the cluster operation; new brokers are prepared when listed",
                extra={"operation_arn": operation_arn, "error": error_code(exc)},
            )
            return None
        return target_broker_count(dict(answer.get("ClusterOperationInfo", {})))

    def brokers(self, cluster_arn: str) -> tuple[Broker, ...]:
        """The cluster's brokers as ListNodes lists them, by id."""
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
            if error_code(exc) == "NotFoundException":
                raise ClusterNotFoundError(f"MSK cluster {cluster_arn} does not exist") from exc
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
