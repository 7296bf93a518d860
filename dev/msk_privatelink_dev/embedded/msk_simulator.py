"""An MSK control plane for the embedded AWS.

moto 5.2.5 lacks ListNodes, GetBootstrapBrokers, UpdateBrokerCount,
RebootBroker, the configuration APIs and cluster operations, and keeps
clusters CREATING forever, so the embedded AWS answers the whole `kafka`
service from here. Every change is a cluster operation (PENDING, then
UPDATE_IN_PROGRESS, then UPDATE_COMPLETE or UPDATE_FAILED) that tests can
hold open with `complete_immediately=False`. Parameters and answers use botocore
member names and are checked against botocore's model on every call. Each
broker owns a real ENI in moto's EC2 backend, so EC2 sees what ListNodes says.
"""

from __future__ import annotations

import copy
import random
import re
import string
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from botocore.model import StringShape

from msk_privatelink_dev.embedded import moto_ec2
from msk_privatelink_dev.embedded import msk_operations as ops
from msk_privatelink_dev.embedded.moto_accounts import DEFAULT_ACCOUNT_ID
from msk_privatelink_dev.embedded.msk_cluster import (
    Broker,
    ClusterRecord,
    Scope,
    bootstrap_brokers,
    cluster_info_v1,
    cluster_info_v2,
    node_info,
)
from msk_privatelink_dev.embedded.msk_configurations import ConfigurationStore
from msk_privatelink_dev.embedded.msk_contract import (
    MskApiError,
    bad_request,
    conflict,
    kafka_service_model,
    not_found,
    not_implemented,
    validate_input,
    validate_output,
)
from msk_privatelink_dev.embedded.msk_operations import ClusterOperation
from msk_privatelink_dev.embedded.msk_rules import (
    AUTH_PATHS,
    MAX_BROKERS_PER_CLUSTER,
    OPEN_MONITORING_OFF,
    authentication_from,
    brokers_to_remove,
    check_auth_against_encryption,
    check_broker_count,
    check_current_version,
    new_cluster_version,
    normalised_authentication,
    normalised_encryption,
    paginate,
    require_active,
)

_Handler = Callable[[Scope, dict[str, Any]], dict[str, Any]]

_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}$")
_CLUSTER_ARN = re.compile(r"^arn:aws[a-z-]*:kafka:(?P<region>[^:]+):(?P<account>\d{12}):cluster/")
# MSK accepts two or three client subnets, each in its own Availability Zone.
_MIN_SUBNETS = 2
_MAX_SUBNETS = 3


class MskSimulator:
    """MSK clusters per (account id, region), answering botocore-shaped requests."""

    def __init__(
        self,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = "us-east-1",
        complete_immediately: bool = True,
    ) -> None:
        self.default_account_id = account_id
        self.default_region = region
        # False: operations stay in progress until complete_operations().
        self.complete_immediately = complete_immediately
        # The account's brokers-per-cluster quota (adjustable in a real
        # account); a bench raises it for the largest clusters.
        self.broker_quota = MAX_BROKERS_PER_CLUSTER
        self._lock = threading.RLock()
        self._clusters: dict[Scope, dict[str, ClusterRecord]] = {}
        # Every operation ever started, by ARN; they outlive deleted clusters.
        self._operations: dict[Scope, dict[str, ClusterOperation]] = {}
        self._configurations = ConfigurationStore()
        self._handlers: dict[str, _Handler] = {
            "CreateClusterV2": self._create_cluster_v2,
            "DescribeClusterV2": self._describe_cluster_v2,
            "DescribeCluster": self._describe_cluster,
            "ListClustersV2": self._list_clusters_v2,
            "ListNodes": self._list_nodes,
            "GetBootstrapBrokers": self._get_bootstrap_brokers,
            "UpdateBrokerCount": self._update_broker_count,
            "RebootBroker": self._reboot_broker,
            "DeleteCluster": self._delete_cluster,
            "ListTagsForResource": self._list_tags_for_resource,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            # moto served these three; owning the whole service means keeping them.
            "PutClusterPolicy": self._put_cluster_policy,
            "GetClusterPolicy": self._get_cluster_policy,
            "DeleteClusterPolicy": self._delete_cluster_policy,
            "DescribeClusterOperation": self._describe_cluster_operation,
            "DescribeClusterOperationV2": self._describe_cluster_operation_v2,
            "ListClusterOperations": self._list_cluster_operations,
            "ListClusterOperationsV2": self._list_cluster_operations_v2,
            "UpdateClusterConfiguration": self._update_cluster_configuration,
            "DeleteConfiguration": self._delete_configuration,
            **self._configurations.handlers(),
        }

    @property
    def operation_names(self) -> frozenset[str]:
        return frozenset(self._handlers)

    # ----------------------------------------------------------------- AWS API

    def handle(
        self, operation_name: str, params: Mapping[str, Any], *, account_id: str, region: str
    ) -> dict[str, Any]:
        """Answer one Kafka API call, or raise MskApiError as MSK would."""
        handler = self._handlers.get(operation_name)
        if handler is None:
            raise not_implemented(operation_name)
        request = copy.deepcopy(dict(params))
        validate_input(operation_name, request)
        with self._lock:
            response = handler(Scope(account_id, region), request)
        validate_output(operation_name, response)
        return response

    def _create_cluster_v2(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        if "Serverless" in params:
            raise bad_request("The embedded MSK simulator supports provisioned clusters only.")
        if "Provisioned" not in params:
            raise bad_request("Specify Provisioned.", invalid_parameter="provisioned")
        name = params["ClusterName"]
        if not _CLUSTER_NAME.match(name):
            raise bad_request(f"Invalid cluster name {name!r}.", invalid_parameter="clusterName")
        clusters = self._clusters.setdefault(scope, {})
        if any(existing.name == name for existing in clusters.values()):
            raise conflict(f"A cluster with the name {name} already exists.")
        provisioned = params["Provisioned"]
        group = provisioned["BrokerNodeGroupInfo"]
        subnets = tuple(group["ClientSubnets"])
        security_groups = self._checked_network(
            scope, subnets, tuple(group.get("SecurityGroups", ()))
        )
        count = provisioned["NumberOfBrokerNodes"]
        check_broker_count(count, len(subnets), "numberOfBrokerNodes", self.broker_quota)
        if not str(group["InstanceType"]).startswith("kafka."):
            raise bad_request("Specify a kafka.* instance type.", invalid_parameter="instanceType")
        authentication = normalised_authentication(provisioned.get("ClientAuthentication"))
        encryption = normalised_encryption(
            provisioned.get("EncryptionInfo"), account_id=scope.account_id, region=scope.region
        )
        check_auth_against_encryption(authentication, encryption)
        configuration_info = provisioned.get("ConfigurationInfo")
        if configuration_info is not None:
            self._configurations.revision(scope, configuration_info, parameter="configurationInfo")

        cluster_uuid = f"{uuid.uuid4()}-2"
        arn = f"arn:aws:kafka:{scope.region}:{scope.account_id}:cluster/{name}/{cluster_uuid}"
        cluster = ClusterRecord(
            arn=arn,
            name=name,
            account_id=scope.account_id,
            region=scope.region,
            dns_label="".join(random.choices(string.ascii_lowercase + string.digits, k=6)),
            created_at=datetime.now(UTC),
            kafka_version=provisioned["KafkaVersion"],
            instance_type=group["InstanceType"],
            client_subnets=subnets,
            security_groups=security_groups,
            client_authentication=authentication,
            encryption_info=encryption,
            storage_info=group.get("StorageInfo", {"EbsStorageInfo": {"VolumeSize": 1000}}),
            enhanced_monitoring=provisioned.get("EnhancedMonitoring", "DEFAULT"),
            open_monitoring=provisioned.get("OpenMonitoring", OPEN_MONITORING_OFF),
            logging_info=provisioned.get("LoggingInfo"),
            configuration_info=configuration_info,
            current_version=new_cluster_version(),
            state="CREATING",
            tags=dict(params.get("Tags", {})),
        )
        for index in range(count):
            self._add_broker(cluster, index + 1, subnets[index % len(subnets)])
        target = {"NumberOfBrokerNodes": count, "KafkaVersion": cluster.kafka_version}
        operation = self._new_operation(cluster, ops.CREATE, target=target)
        if self.complete_immediately:
            self._attach_missing_enis(cluster)
            cluster.state = "ACTIVE"
            operation.end(ops.UPDATE_COMPLETE)
        else:
            cluster.operation = operation
        clusters[arn] = cluster
        self._record(operation)
        # MSK always answers CREATING here; DescribeClusterV2 shows the real state.
        return {
            "ClusterArn": arn,
            "ClusterName": name,
            "State": "CREATING",
            "ClusterType": "PROVISIONED",
        }

    def _describe_cluster_v2(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        return {"ClusterInfo": cluster_info_v2(self._cluster(scope, params["ClusterArn"]))}

    def _describe_cluster(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        return {"ClusterInfo": cluster_info_v1(self._cluster(scope, params["ClusterArn"]))}

    def _list_clusters_v2(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("ClusterNameFilter", "")
        wanted_type = params.get("ClusterTypeFilter")
        matching = [
            cluster
            for cluster in self._clusters.get(scope, {}).values()
            if cluster.name.startswith(prefix) and wanted_type in (None, "PROVISIONED")
        ]
        page, token = paginate(matching, params)
        answer: dict[str, Any] = {"ClusterInfoList": [cluster_info_v2(c) for c in page]}
        if token:
            answer["NextToken"] = token
        return answer

    def _list_nodes(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(scope, params["ClusterArn"])
        page, token = paginate(cluster.sorted_brokers(), params)
        answer: dict[str, Any] = {"NodeInfoList": [node_info(cluster, b) for b in page]}
        if token:
            answer["NextToken"] = token
        return answer

    def _get_bootstrap_brokers(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(scope, params["ClusterArn"])
        if cluster.state in ("CREATING", "FAILED", "DELETING"):
            # MSK's own wording for this refusal.
            raise bad_request(
                f"You can't get bootstrap broker nodes for a cluster in {cluster.state} state."
            )
        return bootstrap_brokers(cluster)

    def _update_broker_count(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(scope, params["ClusterArn"])
        check_current_version(cluster, params["CurrentVersion"])
        operation_arn = self._change_broker_count(cluster, params["TargetNumberOfBrokerNodes"])
        return {"ClusterArn": cluster.arn, "ClusterOperationArn": operation_arn}

    def _reboot_broker(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(scope, params["ClusterArn"])
        require_active(cluster)
        broker_ids = params["BrokerIds"]
        if len(broker_ids) != 1:
            raise bad_request("Specify exactly one broker id.", invalid_parameter="brokerIds")
        if not broker_ids[0].isdigit() or int(broker_ids[0]) not in cluster.brokers:
            raise bad_request(
                f"Broker {broker_ids[0]} does not exist.", invalid_parameter="brokerIds"
            )
        operation = self._new_operation(cluster, ops.REBOOT_NODE)
        if self.complete_immediately:
            operation.end(ops.UPDATE_COMPLETE)
        else:
            cluster.state = "REBOOTING_BROKER"
            cluster.operation = operation
        self._record(operation)
        return {"ClusterArn": cluster.arn, "ClusterOperationArn": operation.arn}

    def _delete_cluster(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(scope, params["ClusterArn"])
        if "CurrentVersion" in params:
            check_current_version(cluster, params["CurrentVersion"])
        if cluster.state == "DELETING":
            raise bad_request("The cluster is already being deleted.")
        cluster.state = "DELETING"
        cluster.operation = self._new_operation(cluster, ops.DELETE)
        self._record(cluster.operation)
        if self.complete_immediately:
            self._finish(cluster)
        return {"ClusterArn": cluster.arn, "State": "DELETING"}

    def _list_tags_for_resource(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": dict(self._cluster(scope, params["ResourceArn"]).tags)}

    def _tag_resource(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        self._cluster(scope, params["ResourceArn"]).tags.update(params["Tags"])
        return {}

    def _untag_resource(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        tags = self._cluster(scope, params["ResourceArn"]).tags
        for key in params["TagKeys"]:
            tags.pop(key, None)
        return {}

    def _put_cluster_policy(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(scope, params["ClusterArn"])
        given = params.get("CurrentVersion")
        if cluster.policy is not None and given is not None and given != cluster.policy_version:
            raise bad_request(
                f"The policy version {given} does not match {cluster.policy_version}.",
                invalid_parameter="currentVersion",
            )
        cluster.policy = params["Policy"]
        cluster.policy_version = new_cluster_version()
        return {"CurrentVersion": cluster.policy_version}

    def _get_cluster_policy(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(scope, params["ClusterArn"])
        if cluster.policy is None:
            raise not_found(f"Cluster {cluster.arn} has no cluster policy.")
        return {"CurrentVersion": cluster.policy_version, "Policy": cluster.policy}

    def _delete_cluster_policy(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(scope, params["ClusterArn"])
        cluster.policy = None
        cluster.policy_version = None
        return {}

    def _describe_cluster_operation(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        operation = self._operation(scope, params["ClusterOperationArn"])
        return {"ClusterOperationInfo": ops.operation_v1(operation)}

    def _describe_cluster_operation_v2(
        self, scope: Scope, params: dict[str, Any]
    ) -> dict[str, Any]:
        operation = self._operation(scope, params["ClusterOperationArn"])
        return {"ClusterOperationInfo": ops.operation_v2(operation)}

    def _list_cluster_operations(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        page, token = paginate(self._operations_of(scope, params["ClusterArn"]), params)
        answer: dict[str, Any] = {"ClusterOperationInfoList": [ops.operation_v1(o) for o in page]}
        if token:
            answer["NextToken"] = token
        return answer

    def _list_cluster_operations_v2(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        page, token = paginate(self._operations_of(scope, params["ClusterArn"]), params)
        answer: dict[str, Any] = {
            "ClusterOperationInfoList": [ops.operation_summary_v2(o) for o in page]
        }
        if token:
            answer["NextToken"] = token
        return answer

    def _update_cluster_configuration(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(scope, params["ClusterArn"])
        check_current_version(cluster, params["CurrentVersion"])
        require_active(cluster)
        wanted = params["ConfigurationInfo"]
        self._configurations.revision(scope, wanted, parameter="configurationInfo")
        configuration = self._configurations.get(scope, wanted["Arn"])
        if (
            configuration.kafka_versions
            and cluster.kafka_version not in configuration.kafka_versions
        ):
            raise bad_request(
                f"The configuration {configuration.arn} does not support Kafka version "
                f"{cluster.kafka_version}.",
                invalid_parameter="configurationInfo",
            )
        source = (
            {"ConfigurationInfo": dict(cluster.configuration_info)}
            if cluster.configuration_info
            else {}
        )
        target = {"ConfigurationInfo": {"Arn": wanted["Arn"], "Revision": wanted["Revision"]}}
        operation = self._new_operation(
            cluster, ops.UPDATE_CLUSTER_CONFIGURATION, source=source, target=target
        )
        cluster.operation = operation
        self._record(operation)
        if self.complete_immediately:
            self._finish(cluster)
        else:
            cluster.state = "UPDATING"
        return {"ClusterArn": cluster.arn, "ClusterOperationArn": operation.arn}

    def _delete_configuration(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["Arn"]
        self._configurations.get(scope, arn)
        for cluster in self._clusters.get(scope, {}).values():
            targets = [cluster.configuration_info or {}]
            if cluster.operation is not None:
                targets.append(cluster.operation.target.get("ConfigurationInfo", {}))
            if any(info.get("Arn") == arn for info in targets):
                raise bad_request(f"The configuration {arn} is in use by cluster {cluster.arn}.")
        configuration = self._configurations.delete(scope, arn)
        return {"Arn": arn, "State": configuration.state}

    # ------------------------------------------------------ test/demo controls

    def create_cluster(
        self,
        name: str,
        subnet_ids: Iterable[str],
        broker_count: int = 3,
        auth: Iterable[str] = ("iam",),
        kafka_version: str = "3.9.x",
        *,
        account_id: str | None = None,
        region: str | None = None,
        security_groups: Iterable[str] = (),
        instance_type: str = "kafka.m5.large",
        client_broker: str = "TLS",
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Create a cluster through the CreateClusterV2 code path; return its ARN."""
        enabled = set(auth)
        unknown = enabled - set(AUTH_PATHS)
        if unknown:
            raise ValueError(f"unknown auth {sorted(unknown)}; use {sorted(AUTH_PATHS)}")
        group: dict[str, Any] = {"ClientSubnets": list(subnet_ids), "InstanceType": instance_type}
        if security_groups:
            group["SecurityGroups"] = list(security_groups)
        params: dict[str, Any] = {
            "ClusterName": name,
            "Provisioned": {
                "BrokerNodeGroupInfo": group,
                "KafkaVersion": kafka_version,
                "NumberOfBrokerNodes": broker_count,
                "ClientAuthentication": authentication_from(enabled),
                "EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": client_broker}},
            },
        }
        if tags:
            params["Tags"] = dict(tags)
        answer = self.handle(
            "CreateClusterV2",
            params,
            account_id=account_id or self.default_account_id,
            region=region or self.default_region,
        )
        return str(answer["ClusterArn"])

    def replace_broker(self, cluster_arn: str, broker_id: int) -> None:
        """Do what MSK's self-healing does: same broker id and host, new ENI and IP."""
        with self._lock:
            cluster = self._cluster_by_arn(cluster_arn)
            broker = _broker(cluster, broker_id)
            if not broker.ready:
                raise bad_request(f"Broker {broker_id} is still being created.")
            avoid = frozenset({broker.ip_address}) if broker.ip_address else frozenset()
            eni_id, address = moto_ec2.create_broker_eni(
                cluster.account_id,
                cluster.region,
                subnet_id=broker.subnet_id,
                security_group_ids=cluster.security_groups,
                description=_eni_description(cluster),
                avoid_ips=avoid,
            )
            assert broker.eni_id is not None
            moto_ec2.delete_eni(cluster.account_id, cluster.region, broker.eni_id)
            cluster.brokers[broker_id] = replace(broker, eni_id=eni_id, ip_address=address)

    def set_broker_host(self, cluster_arn: str, broker_id: int, host: str) -> None:
        """Give a broker another host name (tests whose clients must resolve it)."""
        with self._lock:
            cluster = self._cluster_by_arn(cluster_arn)
            cluster.brokers[broker_id] = replace(_broker(cluster, broker_id), endpoint=host)

    def set_state(self, cluster_arn: str, state: str) -> None:
        shape = kafka_service_model().shape_for("ClusterState")
        allowed = shape.enum if isinstance(shape, StringShape) else []
        if state not in allowed:
            raise ValueError(f"state {state!r} is not one of {allowed}")
        with self._lock:
            self._cluster_by_arn(cluster_arn).state = state

    def scale(self, cluster_arn: str, count: int) -> str:
        """Change the broker count as UpdateBrokerCount does, without the version check."""
        with self._lock:
            return self._change_broker_count(self._cluster_by_arn(cluster_arn), count)

    def brokers(self, cluster_arn: str) -> list[Broker]:
        with self._lock:
            return self._cluster_by_arn(cluster_arn).sorted_brokers()

    def complete_operations(self, cluster_arn: str) -> None:
        """Finish the cluster's operation in progress (manual timing only)."""
        with self._lock:
            self._finish(self._cluster_by_arn(cluster_arn))

    def advance_operations(self, cluster_arn: str) -> None:
        """Move the cluster's PENDING operation to UPDATE_IN_PROGRESS (manual timing only)."""
        with self._lock:
            operation = self._cluster_by_arn(cluster_arn).operation
            if operation is not None and operation.state == ops.PENDING:
                operation.state = ops.UPDATE_IN_PROGRESS

    def fail_operations(
        self, cluster_arn: str, error_code: str = "InternalError", message: str = ""
    ) -> None:
        """End the cluster's operation in progress as UPDATE_FAILED; nothing it asked for stays."""
        with self._lock:
            cluster = self._cluster_by_arn(cluster_arn)
            operation = cluster.operation
            if operation is None:
                return
            self._roll_back(cluster)
            operation.end(ops.UPDATE_FAILED, error_code=error_code, message=message or None)
            cluster.operation = None
            cluster.state = "ACTIVE"

    def operations_of(self, cluster_arn: str) -> list[dict[str, Any]]:
        """ListClusterOperationsV2 summaries, newest first, also for a deleted cluster."""
        match = _CLUSTER_ARN.match(cluster_arn)
        if match is None:
            raise not_found(f"Cluster {cluster_arn} was not found.")
        with self._lock:
            operations = self._operations.get(Scope(match["account"], match["region"]), {})
            return [
                ops.operation_summary_v2(o)
                for o in reversed(operations.values())
                if o.cluster_arn == cluster_arn
            ]

    def reset(self) -> None:
        """Forget every cluster. moto's own state (the ENIs) is reset by moto."""
        with self._lock:
            self._clusters.clear()
            self._operations.clear()
            self._configurations.reset()
            self.broker_quota = MAX_BROKERS_PER_CLUSTER

    # --------------------------------------------------------------- internals

    def _cluster(self, scope: Scope, arn: str) -> ClusterRecord:
        cluster = self._clusters.get(scope, {}).get(arn)
        if cluster is None:
            raise not_found(f"Cluster {arn} was not found.")
        return cluster

    def _operation(self, scope: Scope, arn: str) -> ClusterOperation:
        operation = self._operations.get(scope, {}).get(arn)
        if operation is None:
            raise not_found(f"Cluster operation {arn} was not found.")
        return operation

    def _operations_of(self, scope: Scope, cluster_arn: str) -> list[ClusterOperation]:
        self._cluster(scope, cluster_arn)
        newest_first = reversed(self._operations.get(scope, {}).values())
        return [o for o in newest_first if o.cluster_arn == cluster_arn]

    def _cluster_by_arn(self, arn: str) -> ClusterRecord:
        match = _CLUSTER_ARN.match(arn)
        if match is None:
            raise not_found(f"Cluster {arn} was not found.")
        return self._cluster(Scope(match["account"], match["region"]), arn)

    def _checked_network(
        self, scope: Scope, subnets: tuple[str, ...], security_groups: tuple[str, ...]
    ) -> tuple[str, ...]:
        if not _MIN_SUBNETS <= len(subnets) <= _MAX_SUBNETS or len(set(subnets)) != len(subnets):
            raise bad_request(
                "Specify two or three distinct client subnets.", invalid_parameter="clientSubnets"
            )
        facts = []
        for subnet_id in subnets:
            found = moto_ec2.find_subnet(scope.account_id, scope.region, subnet_id)
            if found is None:
                raise bad_request(
                    f"The subnet {subnet_id} does not exist.", invalid_parameter="clientSubnets"
                )
            facts.append(found)
        if len({f.availability_zone for f in facts}) != len(facts):
            raise bad_request(
                "The client subnets must be in distinct Availability Zones.",
                invalid_parameter="clientSubnets",
            )
        if len({f.vpc_id for f in facts}) != 1:
            raise bad_request(
                "The client subnets must be in one VPC.", invalid_parameter="clientSubnets"
            )
        for group_id in security_groups:
            # moto would silently invent a group for an unknown id; MSK refuses it.
            if not moto_ec2.security_group_exists(scope.account_id, scope.region, group_id):
                raise bad_request(
                    f"The security group {group_id} does not exist.",
                    invalid_parameter="securityGroups",
                )
        if security_groups:
            return security_groups
        # Without security groups MSK uses the VPC's default group.
        default = moto_ec2.default_security_group(scope.account_id, scope.region, facts[0].vpc_id)
        return (default,) if default else ()

    def _add_broker(self, cluster: ClusterRecord, broker_id: int, subnet_id: str) -> None:
        node_uuid = uuid.uuid4()
        cluster.brokers[broker_id] = Broker(
            broker_id=broker_id,
            subnet_id=subnet_id,
            endpoint=cluster.broker_host(broker_id),
            node_arn=cluster.arn.replace(":cluster/", ":broker/", 1) + f"/{node_uuid}",
            added_at=datetime.now(UTC),
        )

    def _attach_missing_enis(self, cluster: ClusterRecord) -> None:
        waiting = [broker for broker in cluster.sorted_brokers() if not broker.ready]
        try:
            for broker in waiting:
                eni_id, address = moto_ec2.create_broker_eni(
                    cluster.account_id,
                    cluster.region,
                    subnet_id=broker.subnet_id,
                    security_group_ids=cluster.security_groups,
                    description=_eni_description(cluster),
                )
                cluster.brokers[broker.broker_id] = replace(
                    broker, eni_id=eni_id, ip_address=address
                )
        except MskApiError:
            # All or nothing: a half-attached set would leave orphan ENIs in EC2.
            for broker in waiting:
                attached = cluster.brokers[broker.broker_id].eni_id
                if attached:
                    moto_ec2.delete_eni(cluster.account_id, cluster.region, attached)
                cluster.brokers[broker.broker_id] = broker
            raise

    def _change_broker_count(self, cluster: ClusterRecord, target: int) -> str:
        require_active(cluster)
        subnets = cluster.client_subnets
        check_broker_count(target, len(subnets), "targetNumberOfBrokerNodes", self.broker_quota)
        current = len(cluster.brokers)
        if target == current:
            raise bad_request(
                f"The cluster already has {current} broker nodes.",
                invalid_parameter="targetNumberOfBrokerNodes",
            )
        if target > current:
            first_new = max(cluster.brokers, default=0) + 1
            for offset in range(target - current):
                self._add_broker(cluster, first_new + offset, subnets[offset % len(subnets)])
            removed: tuple[int, ...] = ()
        else:
            removed = brokers_to_remove(cluster, (current - target) // len(subnets))
        kind = ops.INCREASE_BROKER_COUNT if target > current else ops.DECREASE_BROKER_COUNT
        changed = (
            {"DeletedBrokerIds": [float(b) for b in removed]}
            if removed
            else {
                "CreatedBrokerIds": [
                    float(b.broker_id) for b in cluster.brokers.values() if not b.ready
                ]
            }
        )
        operation = self._new_operation(
            cluster,
            kind,
            source={"NumberOfBrokerNodes": current},
            target={"NumberOfBrokerNodes": target, "BrokerCountUpdateInfo": changed},
            removed=removed,
        )
        cluster.operation = operation
        if not self.complete_immediately:
            cluster.state = "UPDATING"
            self._record(operation)
            return operation.arn
        try:
            self._finish(cluster)
        except MskApiError:
            self._roll_back(cluster)
            cluster.operation = None
            raise
        self._record(operation)
        return operation.arn

    def _finish(self, cluster: ClusterRecord) -> None:
        operation = cluster.operation
        if operation is None:
            return
        if operation.kind == ops.DELETE:
            for broker in cluster.brokers.values():
                if broker.eni_id:
                    moto_ec2.delete_eni(cluster.account_id, cluster.region, broker.eni_id)
            scope = Scope(cluster.account_id, cluster.region)
            self._clusters.get(scope, {}).pop(cluster.arn, None)
            operation.end(ops.UPDATE_COMPLETE)
            return
        for broker_id in operation.removed_broker_ids:
            eni_id = cluster.brokers.pop(broker_id).eni_id
            if eni_id:
                moto_ec2.delete_eni(cluster.account_id, cluster.region, eni_id)
        self._attach_missing_enis(cluster)
        if operation.kind == ops.UPDATE_CLUSTER_CONFIGURATION:
            cluster.configuration_info = dict(operation.target["ConfigurationInfo"])
        if operation.kind in _VERSION_CHANGING:
            cluster.current_version = new_cluster_version()
        operation.end(ops.UPDATE_COMPLETE)
        cluster.operation = None
        cluster.state = "ACTIVE"

    def _roll_back(self, cluster: ClusterRecord) -> None:
        # Brokers an unfinished scale-out added never got an ENI; forget them.
        for broker in [b for b in cluster.brokers.values() if not b.ready]:
            del cluster.brokers[broker.broker_id]

    def _new_operation(
        self,
        cluster: ClusterRecord,
        kind: str,
        *,
        source: dict[str, Any] | None = None,
        target: dict[str, Any] | None = None,
        removed: tuple[int, ...] = (),
    ) -> ClusterOperation:
        return ClusterOperation(
            arn=_operation_arn(cluster),
            cluster_arn=cluster.arn,
            kind=kind,
            source=source or {},
            target=target or {},
            removed_broker_ids=removed,
        )

    def _record(self, operation: ClusterOperation) -> None:
        match = _CLUSTER_ARN.match(operation.cluster_arn)
        assert match is not None
        scope = Scope(match["account"], match["region"])
        self._operations.setdefault(scope, {})[operation.arn] = operation


# Operations after which MSK gives the cluster a new CurrentVersion.
_VERSION_CHANGING = frozenset(
    {ops.INCREASE_BROKER_COUNT, ops.DECREASE_BROKER_COUNT, ops.UPDATE_CLUSTER_CONFIGURATION}
)


def _broker(cluster: ClusterRecord, broker_id: int) -> Broker:
    broker = cluster.brokers.get(broker_id)
    if broker is None:
        raise not_found(f"Broker {broker_id} does not exist in cluster {cluster.arn}.")
    return broker


def _eni_description(cluster: ClusterRecord) -> str:
    return f"Amazon MSK network interface for cluster {cluster.arn}"


def _operation_arn(cluster: ClusterRecord) -> str:
    cluster_path = cluster.arn.split(":cluster/", 1)[1]
    return (
        f"arn:aws:kafka:{cluster.region}:{cluster.account_id}:cluster-operation/"
        f"{cluster_path}/{uuid.uuid4()}"
    )
