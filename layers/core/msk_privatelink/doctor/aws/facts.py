"""Gather what the checks need, read-only: Describe, Get and List calls only.

Each fact is read on its own; a failed read becomes an ``Unread`` naming the
IAM action, so one missing permission costs one check, not the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code
from msk_privatelink.doctor.facts import (
    ClusterFacts,
    Facts,
    IngressRule,
    ManagementEvents,
    StackFacts,
    Subnet,
    Trail,
    Unread,
)
from msk_privatelink.doctor.management_events import management_events
from msk_privatelink.kernel.errors import ConfigError, MskPrivateLinkError
from msk_privatelink.reconcile.aws.account_limits import AccountLimits
from msk_privatelink.reconcile.aws.actual import ActualStateReader
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.aws.msk import MskInventoryReader
from msk_privatelink.reconcile.config import ClusterConfig, load_config_file

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

    from msk_privatelink.aws.clients import AwsClients

T = TypeVar("T")
# The stack the other commands read configurations from without --stack-name.
DEFAULT_STACK = "msk-privatelink"
# requirements/dev.txt pins no mypy-boto3-cloudtrail: the client is untyped.
CloudTrailClient = Any


@dataclass(frozen=True)
class Request:
    """What the command line asked for."""

    config_file: Path | None
    cluster_arn: str | None
    stack_name: str | None
    parameter_prefix: str | None


def stack_prefix(stack_name: str) -> str:
    """template.yaml's CONFIG_PARAMETER_PREFIX for a stack."""
    return f"/msk-privatelink/{stack_name}/clusters"


def _read(action: str, call: Callable[[], T]) -> T | Unread:
    try:
        return call()
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        return Unread(action, f"{error_code(exc)}: {message}".rstrip(": "))
    except MskPrivateLinkError as exc:
        return Unread(action, str(exc))


class FactReader:
    def __init__(
        self,
        clients: AwsClients,
        cloudtrail: CloudTrailClient,
        cloudformation: CloudFormationClient,
    ) -> None:
        self._clients = clients
        self._cloudtrail = cloudtrail
        self._cloudformation = cloudformation

    def gather(self, request: Request, cluster_arn: str, region: str) -> Facts:
        config, source, problem = self._config(request, cluster_arn)
        stack = self._stack(request.stack_name, cluster_arn, config, source)
        cluster = self._cluster(cluster_arn, config)
        subnet_ids: set[str] = set()
        if config is not None and config.subnet_ids:
            subnet_ids.update(config.subnet_ids)
        if isinstance(cluster, ClusterFacts):
            inventory = cluster.inventory
            if config is not None and not config.subnet_ids:
                subnet_ids.update(inventory.client_subnet_ids)
            subnet_ids.update(b.subnet_id for b in inventory.brokers if b.subnet_id)
        if isinstance(stack, StackFacts):
            admin = stack.parameters.get("KafkaAdminSubnetIds", "")
            subnet_ids.update(s.strip() for s in admin.split(",") if s.strip())
        return Facts(
            region=region,
            cluster_arn=cluster_arn,
            config=config,
            config_source=source,
            config_problem=problem,
            config_from_file=request.config_file is not None,
            cluster=cluster,
            trails=self._trails(region),
            subnets=_read("ec2:DescribeSubnets", lambda: self._subnets(subnet_ids)),
            ingress=self._ingress(cluster),
            actual=_read(
                "elasticloadbalancing:DescribeLoadBalancers",
                lambda: ActualStateReader(self._clients.elbv2, self._clients.ec2).read(cluster_arn),
            ),
            limits=_read(
                "elasticloadbalancing:DescribeAccountLimits",
                lambda: AccountLimits(self._clients.elbv2).read(),
            ),
            stack=stack,
        )

    def _config(
        self, request: Request, cluster_arn: str
    ) -> tuple[ClusterConfig | None, str, str | None]:
        if request.config_file is not None:
            # Loaded before: the cluster ARN comes from it.
            return load_config_file(request.config_file), str(request.config_file), None
        prefix = request.parameter_prefix or stack_prefix(request.stack_name or DEFAULT_STACK)
        store = ConfigStore(self._clients.ssm, prefix)
        name = store.parameter_name(cluster_arn)
        try:
            return store.get(cluster_arn), f"parameter {name}", None
        except MskPrivateLinkError as exc:
            return None, f"parameter {name}", str(exc)

    def _cluster(self, cluster_arn: str, config: ClusterConfig | None) -> ClusterFacts | Unread:
        kafka = self._clients.kafka

        def read() -> ClusterFacts:
            info = kafka.describe_cluster_v2(ClusterArn=cluster_arn)["ClusterInfo"]
            group = info.get("Provisioned", {}).get("BrokerNodeGroupInfo", {})
            shared = config is not None and config.pattern == "shared-nlb"
            inventory = MskInventoryReader(kafka, self._clients.ec2).read(
                cluster_arn, read_operation=shared
            )
            return ClusterFacts(inventory, tuple(group.get("SecurityGroups", ())))

        return _read("kafka:DescribeClusterV2", read)

    def _trails(self, region: str) -> tuple[Trail, ...] | Unread:
        answer = _read(
            "cloudtrail:DescribeTrails",
            lambda: self._cloudtrail.describe_trails(includeShadowTrails=True),
        )
        if isinstance(answer, Unread):
            return answer
        trails = []
        for t in answer.get("trailList", []):
            home = str(t.get("HomeRegion", region))
            multi = bool(t.get("IsMultiRegionTrail", False))
            if not multi and home != region:
                continue
            # A shadow trail (another Region's multi-Region trail, or an
            # organization trail) is only addressed by its ARN.
            arn = str(t["TrailARN"])
            trails.append(
                Trail(
                    name=str(t.get("Name", arn)),
                    arn=arn,
                    home_region=home,
                    multi_region=multi,
                    logging=_read("cloudtrail:GetTrailStatus", self._is_logging(arn)),
                    management=_read("cloudtrail:GetEventSelectors", self._selectors(arn)),
                )
            )
        return tuple(trails)

    def _is_logging(self, arn: str) -> Callable[[], bool]:
        return lambda: bool(self._cloudtrail.get_trail_status(Name=arn).get("IsLogging"))

    def _selectors(self, arn: str) -> Callable[[], ManagementEvents]:
        def read() -> ManagementEvents:
            answer = self._cloudtrail.get_event_selectors(TrailName=arn)
            return management_events(
                answer.get("EventSelectors") or (), answer.get("AdvancedEventSelectors") or ()
            )

        return read

    def _subnets(self, subnet_ids: Iterable[str]) -> dict[str, Subnet]:
        ids = sorted(set(subnet_ids))
        if not ids:
            return {}
        # A filter, not SubnetIds: one missing id would fail the whole call.
        pages = self._clients.ec2.get_paginator("describe_subnets").paginate(
            Filters=[{"Name": "subnet-id", "Values": ids}]
        )
        return {
            s["SubnetId"]: Subnet(s["SubnetId"], s["VpcId"], s["AvailabilityZone"], s["CidrBlock"])
            for page in pages
            for s in page["Subnets"]
        }

    def _ingress(self, cluster: ClusterFacts | Unread) -> tuple[IngressRule, ...] | Unread:
        if not isinstance(cluster, ClusterFacts) or not cluster.security_group_ids:
            return ()

        def read() -> tuple[IngressRule, ...]:
            groups = self._clients.ec2.describe_security_groups(
                GroupIds=list(cluster.security_group_ids)
            )["SecurityGroups"]
            return tuple(
                IngressRule(
                    group_id=g["GroupId"],
                    protocol=str(p.get("IpProtocol", "-1")),
                    from_port=p.get("FromPort"),
                    to_port=p.get("ToPort"),
                    cidrs=tuple(r["CidrIp"] for r in p.get("IpRanges", ()) if "CidrIp" in r),
                    prefix_lists=tuple(
                        r["PrefixListId"] for r in p.get("PrefixListIds", ()) if "PrefixListId" in r
                    ),
                )
                for g in groups
                for p in g.get("IpPermissions", ())
            )

        return _read("ec2:DescribeSecurityGroups", read)

    def _stack(
        self,
        stack_name: str | None,
        cluster_arn: str,
        config: ClusterConfig | None,
        source: str,
    ) -> StackFacts | Unread | None:
        if stack_name is None:
            return None
        answer = _read(
            "cloudformation:DescribeStacks",
            lambda: self._cloudformation.describe_stacks(StackName=stack_name)["Stacks"],
        )
        if isinstance(answer, Unread):
            return answer
        if not answer:
            return Unread("cloudformation:DescribeStacks", f"no stack {stack_name}")
        stack = answer[0]
        parameters = {
            p["ParameterKey"]: p.get("ParameterValue", "")
            for p in stack.get("Parameters", [])
            if "ParameterKey" in p
        }
        outputs = {
            o["OutputKey"]: o.get("OutputValue", "")
            for o in stack.get("Outputs", [])
            if "OutputKey" in o
        }
        prefix = outputs.get("ClusterConfigParameterPrefix") or stack_prefix(stack_name)
        store = ConfigStore(self._clients.ssm, prefix)
        name = store.parameter_name(cluster_arn)
        stored: ClusterConfig | Unread | None
        problem = None
        if config is not None and source == f"parameter {name}":
            stored = config  # read from this very parameter already
        else:
            try:
                stored = store.get(cluster_arn)
            except ConfigError as exc:
                stored, problem = None, str(exc)
            except MskPrivateLinkError as exc:
                stored = Unread("ssm:GetParameter", str(exc))
        return StackFacts(
            name=stack_name,
            status=str(stack.get("StackStatus", "")),
            parameters=parameters,
            parameter_prefix=prefix,
            parameter_name=name,
            stored=stored,
            stored_problem=problem,
        )
