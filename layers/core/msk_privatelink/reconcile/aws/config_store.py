"""Cluster configuration documents in SSM Parameter Store, one per cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.patterns import CLUSTER_ARN_RE
from msk_privatelink.reconcile.documents import load_mapping

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

    from msk_privatelink.reconcile.config import ClusterConfig


class ConfigStore:
    def __init__(self, ssm: SSMClient, prefix: str) -> None:
        if not prefix.startswith("/"):
            raise ConfigError(f"config parameter prefix must start with '/': {prefix!r}")
        self._ssm = ssm
        self._prefix = prefix.rstrip("/")

    def parameter_name(self, cluster_arn: str) -> str:
        return f"{self._prefix}/{cluster_arn.split('/')[1]}"

    def get(self, cluster_arn: str) -> ClusterConfig:
        from msk_privatelink.reconcile.config import (
            parse_config,  # records: kept off the router's import path
        )

        name = self.parameter_name(cluster_arn)
        try:
            value = self._ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as exc:
            if error_code(exc) == "ParameterNotFound":
                raise ConfigError(
                    f"no configuration for cluster {cluster_arn} (parameter {name})"
                ) from exc
            raise translate(exc, f"GetParameter {name}") from exc
        config = parse_config(value, f"parameter {name}")
        if config.cluster_arn != cluster_arn:
            raise ConfigError(
                f"parameter {name} configures {config.cluster_arn}, not {cluster_arn}"
            )
        return config

    def _parameters(self) -> Iterator[Any]:
        try:
            pages = self._ssm.get_paginator("get_parameters_by_path").paginate(
                Path=self._prefix, Recursive=True
            )
            for page in pages:
                yield from page["Parameters"]
        except ClientError as exc:
            raise translate(exc, f"GetParametersByPath {self._prefix}") from exc

    def cluster_arns(self) -> list[str]:
        """The clusters configured under the prefix, without validating whole
        documents (the router only routes; the reconcile validates and refuses)."""
        arns: list[str] = []
        for param in self._parameters():
            try:
                arn = load_mapping(param["Value"], f"parameter {param['Name']}").get("cluster_arn")
            except ConfigError:
                continue
            if isinstance(arn, str) and CLUSTER_ARN_RE.fullmatch(arn):
                arns.append(arn)
        return arns

    def put(self, config: ClusterConfig) -> str:
        from msk_privatelink.reconcile.config import dump_config

        name = self.parameter_name(config.cluster_arn)
        try:
            self._ssm.put_parameter(
                Name=name, Value=dump_config(config), Type="String", Overwrite=True
            )
        except ClientError as exc:
            raise translate(exc, f"PutParameter {name}") from exc
        return name
