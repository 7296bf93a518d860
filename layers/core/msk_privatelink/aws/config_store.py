"""Cluster configuration documents in SSM Parameter Store, one per cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ..config import ClusterConfig, dump_config, parse_config
from ..errors import ConfigError, MskPrivateLinkError
from .errors import error_code, translate

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


@dataclass(frozen=True)
class ConfigListing:
    configs: tuple[ClusterConfig, ...]
    # Parameters under the prefix that failed validation, with the reason.
    invalid: tuple[tuple[str, str], ...]


class ConfigStore:
    def __init__(self, ssm: SSMClient, prefix: str) -> None:
        if not prefix.startswith("/"):
            raise ConfigError(f"config parameter prefix must start with '/': {prefix!r}")
        self._ssm = ssm
        self._prefix = prefix.rstrip("/")

    def parameter_name(self, cluster_arn: str) -> str:
        return f"{self._prefix}/{cluster_arn.split('/')[1]}"

    def get(self, cluster_arn: str) -> ClusterConfig:
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

    def list(self) -> ConfigListing:
        configs: list[ClusterConfig] = []
        invalid: list[tuple[str, str]] = []
        try:
            pages = self._ssm.get_paginator("get_parameters_by_path").paginate(
                Path=self._prefix, Recursive=True
            )
            for page in pages:
                for param in page["Parameters"]:
                    try:
                        configs.append(parse_config(param["Value"], f"parameter {param['Name']}"))
                    except MskPrivateLinkError as exc:
                        invalid.append((param["Name"], str(exc)))
        except ClientError as exc:
            raise translate(exc, f"GetParametersByPath {self._prefix}") from exc
        return ConfigListing(tuple(configs), tuple(invalid))

    def put(self, config: ClusterConfig) -> str:
        name = self.parameter_name(config.cluster_arn)
        try:
            self._ssm.put_parameter(
                Name=name, Value=dump_config(config), Type="String", Overwrite=True
            )
        except ClientError as exc:
            raise translate(exc, f"PutParameter {name}") from exc
        return name
