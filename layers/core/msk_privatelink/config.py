"""The cluster configuration document: one per cluster, validated once.

The same document drives the Lambdas (stored in SSM Parameter Store under a
prefix, one parameter per cluster) and the CLI (a YAML/JSON file or the same
parameter), so both run the same code paths on the same input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError
from .models import AuthScheme
from .patterns import CLUSTER_ARN_RE, PRINCIPAL_ARN_RE, REGION_RE, SUBNET_RE


class GuardConfig(BaseModel):
    """Blast-radius limits checked before any destructive change."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    max_broker_removal_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5


class ClusterConfig(BaseModel):
    """What the operator wants for one MSK cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    version: Literal[1] = 1
    cluster_arn: str
    pattern: Literal["nlb-per-broker"] = "nlb-per-broker"
    # None: every client scheme the cluster has enabled.
    auth_schemes: tuple[AuthScheme, ...] | None = None
    # None: the cluster's own client subnets.
    subnet_ids: tuple[str, ...] | None = None
    acceptance_required: bool = True
    allowed_principals: tuple[str, ...] = ()
    supported_regions: tuple[str, ...] = ()
    guard: GuardConfig = GuardConfig()

    @field_validator("cluster_arn")
    @classmethod
    def _cluster_arn(cls, value: str) -> str:
        if not CLUSTER_ARN_RE.fullmatch(value):
            raise ValueError(f"not an MSK cluster ARN: {value!r}")
        return value

    @field_validator("auth_schemes")
    @classmethod
    def _schemes(cls, value: tuple[AuthScheme, ...] | None) -> tuple[AuthScheme, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("auth_schemes must name at least one scheme (or be omitted)")
        if len(set(value)) != len(value):
            raise ValueError("auth_schemes lists a scheme twice")
        return tuple(sorted(value))

    @field_validator("subnet_ids")
    @classmethod
    def _subnets(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        bad = [s for s in value if not SUBNET_RE.fullmatch(s)]
        if bad or not value:
            raise ValueError(f"subnet_ids must be non-empty subnet ids, got {list(value)!r}")
        return tuple(sorted(set(value)))

    @field_validator("allowed_principals")
    @classmethod
    def _principals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for principal in value:
            # A wildcard would open every broker to every AWS account.
            if principal == "*" or not PRINCIPAL_ARN_RE.fullmatch(principal):
                raise ValueError(
                    f"allowed principal {principal!r} is not an IAM account-root, role or user ARN"
                )
        return tuple(sorted(set(value)))

    @field_validator("supported_regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for region in value:
            if not REGION_RE.fullmatch(region):
                raise ValueError(f"not an AWS Region name: {region!r}")
        return tuple(sorted(set(value)))

    @property
    def region(self) -> str:
        return self.cluster_arn.split(":")[3]

    @property
    def cluster_name(self) -> str:
        return self.cluster_arn.split("/")[1]

    @property
    def remote_regions(self) -> frozenset[str]:
        """Consumer Regions other than the cluster's own (always implied)."""
        return frozenset(self.supported_regions) - {self.region}


def parse_config(document: str | bytes | dict[str, Any], source: str) -> ClusterConfig:
    """Validate a configuration document, naming ``source`` in any error."""
    try:
        if isinstance(document, dict):
            return ClusterConfig.model_validate(document)
        return ClusterConfig.model_validate_json(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<document>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid cluster configuration in {source}: {problems}") from exc


def load_config_file(path: Path) -> ClusterConfig:
    """Read a YAML or JSON configuration file (the CLI's way in)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".json":
        return parse_config(text, str(path))
    import yaml  # only the CLI reads YAML; keep it out of the Lambda import path

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {path} must hold a mapping")
    return parse_config(data, str(path))


def dump_config(config: ClusterConfig) -> str:
    """The canonical JSON form stored in Parameter Store."""
    return json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
