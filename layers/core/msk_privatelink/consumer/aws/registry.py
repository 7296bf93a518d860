"""Which clusters this consumer stack serves, and where: one SSM parameter per
cluster in the consumer account.

``BrokerEndpointsChanged`` carries no VPC, subnets or security groups: the
onboarding request does, once. They are kept here so every later event can be
applied without the provider sending them again. A parameter rather than tags
on the cluster's hosted zone: the zone can only be found through the VPC
(``ListHostedZonesByVPC``), which is exactly what an event does not say, and
the parameter exists before the first endpoint does, so an onboarding cut short
by a crash is finished by the next event as well as by the retried request.

No parameter for a cluster: not onboarded here, its events are ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Annotated, Literal

from botocore.exceptions import ClientError

from msk_privatelink import PROJECT
from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.consumer.sync import ConsumerSettings
from msk_privatelink.kernel.consumer_events import (
    ClusterArn,
    Region,
    SecurityGroupId,
    SubnetId,
    VpcId,
)
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.naming import TAG_CLUSTER_ARN, TAG_MANAGED_BY
from msk_privatelink.kernel.records import CamelRecord, InvalidRecord, Meta, parse_json, to_data

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "/msk-privatelink/consumer/clusters"


class Tenancy(CamelRecord, frozen=True, kw_only=True):
    """What the onboarding request said about the consumer's network.

    Stored as JSON with camelCase keys; the ids are checked again when read
    (the parameter is writable by anyone with SSM access in the account)."""

    version: Literal[1] = 1
    cluster_arn: ClusterArn
    vpc_id: VpcId
    region: Region
    subnet_ids: Annotated[tuple[SubnetId, ...], Meta(min_length=1)]
    security_group_ids: tuple[SecurityGroupId, ...] = ()
    # Whether the connectivity canary probes the cluster (onboarding's choice).
    connectivity_canary: bool = True

    def settings(self) -> ConsumerSettings:
        return ConsumerSettings(
            vpc_id=self.vpc_id,
            subnet_ids=self.subnet_ids,
            security_group_ids=self.security_group_ids,
            region=self.region,
        )


def parameter_name(prefix: str, cluster_arn: str) -> str:
    """``<prefix>/<cluster name>-<hash>``: readable, and unique per ARN (the
    ARN itself holds characters parameter names refuse)."""
    name = cluster_arn.split("/")[1]
    digest = hashlib.sha256(cluster_arn.encode()).hexdigest()[:16]
    return f"{prefix.rstrip('/')}/{name}-{digest}"


class TenancyRegistry:
    def __init__(self, ssm: SSMClient, prefix: str = DEFAULT_PREFIX) -> None:
        self._ssm = ssm
        self._prefix = prefix

    def get(self, cluster_arn: str) -> Tenancy | None:
        name = parameter_name(self._prefix, cluster_arn)
        try:
            value = self._ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as exc:
            if error_code(exc) == "ParameterNotFound":
                return None
            raise translate(exc, f"GetParameter {name}") from exc
        try:
            tenancy = parse_json(Tenancy, value)
        except InvalidRecord as exc:
            raise ConfigError(f"{name} is not a consumer tenancy record: {exc}") from exc
        if tenancy.cluster_arn != cluster_arn:
            raise ConfigError(f"{name} belongs to {tenancy.cluster_arn}, not {cluster_arn}")
        return tenancy

    def put(self, tenancy: Tenancy, current: Tenancy | None) -> bool:
        """Remember ``tenancy``; no write when ``current`` already says the same."""
        if current == tenancy:
            return False
        name = parameter_name(self._prefix, tenancy.cluster_arn)
        data = to_data(tenancy)
        if tenancy.connectivity_canary:
            # Written only when false: the record earlier versions wrote and read.
            data.pop("connectivityCanary")
        value = json.dumps(data, sort_keys=True)
        common = {
            "Name": name,
            "Value": value,
            "Type": "String",
            "Description": f"{PROJECT} consumer tenancy of {tenancy.cluster_arn}"[:1024],
        }
        try:
            if current is None:
                try:
                    # Tags only on create: SSM refuses Tags together with Overwrite.
                    self._ssm.put_parameter(
                        **common,  # type: ignore[arg-type]
                        Tags=[
                            {"Key": TAG_MANAGED_BY, "Value": PROJECT},
                            {"Key": TAG_CLUSTER_ARN, "Value": tenancy.cluster_arn},
                        ],
                    )
                    return True
                except ClientError as exc:
                    if error_code(exc) != "ParameterAlreadyExists":
                        raise
            self._ssm.put_parameter(**common, Overwrite=True)  # type: ignore[arg-type]
        except ClientError as exc:
            raise translate(exc, f"PutParameter {name}") from exc
        return True

    def forget(self, cluster_arn: str) -> bool:
        name = parameter_name(self._prefix, cluster_arn)
        try:
            self._ssm.delete_parameter(Name=name)
        except ClientError as exc:
            if error_code(exc) == "ParameterNotFound":
                return False
            raise translate(exc, f"DeleteParameter {name}") from exc
        return True
