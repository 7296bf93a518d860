"""The cluster configuration document: one per cluster, validated once.

The same document drives the Lambdas (stored in SSM Parameter Store under a
prefix, one parameter per cluster) and the CLI (a YAML/JSON file or the same
parameter), so both run the same code paths on the same input.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError
from .models import BROKER_PORTS, AuthScheme
from .patterns import CLUSTER_ARN_RE, PRINCIPAL_ARN_RE, REGION_RE, SUBNET_RE

MAX_PORT = 65535
# Per-broker listener port = base + broker id. 200 ports apart (360 for IAM),
# all below the broker ports 9092-9098 for broker ids up to 91, so the
# defaults never collide within the default listener quota.
DEFAULT_PORT_BASES: dict[AuthScheme, int] = {
    AuthScheme.PLAINTEXT: 8240,
    AuthScheme.TLS: 8440,
    AuthScheme.SASL_SCRAM: 8640,
    AuthScheme.SASL_IAM: 9000,
}
# MSK's admin listener for SCRAM reads its users from secrets with this prefix.
SCRAM_SECRET_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:AmazonMSK_[A-Za-z0-9/_+=.@-]+",
    re.ASCII,
)
ADMIN_BOOTSTRAP_RE = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*", re.ASCII)


class GuardConfig(BaseModel):
    """Blast-radius limits checked before any destructive change."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    max_broker_removal_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5


def _check_ports(value: dict[AuthScheme, int], field: str) -> dict[AuthScheme, int]:
    bad = {s.value: p for s, p in value.items() if not 1 <= p <= MAX_PORT}
    if bad:
        raise ValueError(f"{field} must be ports in 1..{MAX_PORT}, got {bad}")
    return dict(sorted(value.items()))


class SharedNlbConfig(BaseModel):
    """The shared-nlb pattern: one NLB, a listener per broker on base + broker id."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    port_bases: dict[AuthScheme, int] = Field(default_factory=lambda: dict(DEFAULT_PORT_BASES))
    bootstrap_ports: dict[AuthScheme, int] = Field(default_factory=lambda: dict(BROKER_PORTS))
    # ELBv2's default quota of listeners per network load balancer.
    listener_quota: Annotated[int, Field(ge=2, le=1000)] = 50
    provider_zone: bool = True

    @field_validator("port_bases")
    @classmethod
    def _bases(cls, value: dict[AuthScheme, int]) -> dict[AuthScheme, int]:
        # A scheme left out keeps its default: a document may move one base only.
        return _check_ports({**DEFAULT_PORT_BASES, **value}, "port_bases")

    @field_validator("bootstrap_ports")
    @classmethod
    def _bootstrap(cls, value: dict[AuthScheme, int]) -> dict[AuthScheme, int]:
        merged = _check_ports({**BROKER_PORTS, **value}, "bootstrap_ports")
        seen: dict[int, str] = {}
        for scheme, port in merged.items():
            if port in seen:
                raise ValueError(
                    f"bootstrap_ports gives port {port} to both {seen[port]} and {scheme.value}"
                )
            seen[port] = scheme.value
        return merged

    def port_base(self, scheme: AuthScheme) -> int:
        return self.port_bases[scheme]

    def broker_port(self, scheme: AuthScheme, broker_id: int) -> int:
        """The listener port that broker ``broker_id`` is advertised on."""
        return self.port_bases[scheme] + broker_id

    def bootstrap_port(self, scheme: AuthScheme) -> int:
        return self.bootstrap_ports[scheme]


class AdvertisedListenersConfig(BaseModel):
    """How brokers learn to advertise their shared-nlb ports."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    mode: Literal["msk-configuration", "broker-override", "none"] = "none"
    admin_bootstrap: str | None = None
    admin_auth: AuthScheme | None = None
    scram_secret_arn: str | None = None

    @field_validator("admin_bootstrap")
    @classmethod
    def _admin_bootstrap(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not ADMIN_BOOTSTRAP_RE.fullmatch(value):
            raise ValueError(f"admin_bootstrap must be host:port[,host:port...], got {value!r}")
        bad = [
            p
            for p in (int(hp.rsplit(":", 1)[1]) for hp in value.split(","))
            if not 1 <= p <= MAX_PORT
        ]
        if bad:
            raise ValueError(f"admin_bootstrap ports must be in 1..{MAX_PORT}, got {bad}")
        return value

    @field_validator("scram_secret_arn")
    @classmethod
    def _scram_secret(cls, value: str | None) -> str | None:
        if value is not None and not SCRAM_SECRET_ARN_RE.fullmatch(value):
            raise ValueError(
                "scram_secret_arn must be a Secrets Manager secret ARN whose name starts "
                f"with AmazonMSK_, got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AdvertisedListenersConfig:
        override_only = {
            name: getattr(self, name)
            for name in ("admin_bootstrap", "admin_auth", "scram_secret_arn")
            if getattr(self, name) is not None
        }
        if self.mode != "broker-override" and override_only:
            raise ValueError(
                f"{', '.join(sorted(override_only))} only apply with mode broker-override "
                f"(mode is {self.mode})"
            )
        if self.admin_auth is AuthScheme.SASL_SCRAM and self.scram_secret_arn is None:
            raise ValueError("admin_auth sasl_scram needs scram_secret_arn")
        return self


class ClusterConfig(BaseModel):
    """What the operator wants for one MSK cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    version: Literal[1] = 1
    cluster_arn: str
    pattern: Literal["nlb-per-broker", "shared-nlb"] = "nlb-per-broker"
    # None: every client scheme the cluster has enabled.
    auth_schemes: tuple[AuthScheme, ...] | None = None
    # None: the cluster's own client subnets.
    subnet_ids: tuple[str, ...] | None = None
    acceptance_required: bool = True
    allowed_principals: tuple[str, ...] = ()
    supported_regions: tuple[str, ...] = ()
    guard: GuardConfig = GuardConfig()
    shared_nlb: SharedNlbConfig = SharedNlbConfig()
    advertised_listeners: AdvertisedListenersConfig = AdvertisedListenersConfig()

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

    @model_validator(mode="after")
    def _pattern_fields(self) -> ClusterConfig:
        if self.pattern == "nlb-per-broker" and self.advertised_listeners.mode != "none":
            raise ValueError(
                "advertised_listeners.mode must be none with pattern nlb-per-broker "
                "(every broker keeps its own port there); use pattern shared-nlb to "
                "re-advertise brokers"
            )
        return self

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
