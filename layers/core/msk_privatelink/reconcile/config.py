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

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.models import BROKER_PORTS, AuthScheme
from msk_privatelink.kernel.patterns import CLUSTER_ARN_RE, PRINCIPAL_ARN_RE, REGION_RE, SUBNET_RE
from msk_privatelink.kernel.records import (
    InvalidRecord,
    Meta,
    Record,
    field,
    force_setattr,
    parse,
    parse_json,
    to_data,
)
from msk_privatelink.reconcile.documents import load_mapping, looks_like_json
from msk_privatelink.reconcile.ports import MAX_PORT, check_ports
from msk_privatelink.reconcile.shards import check_capacity

LISTENERS_PER_NLB = 50
MAX_BROKER_IDS = 1000

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


class GuardConfig(Record, frozen=True):
    """Blast-radius limits checked before any destructive change."""

    max_broker_removal_ratio: Annotated[float, Meta(gt=0, le=1)] = 0.5


def _check_ports(value: dict[AuthScheme, int], name: str) -> dict[AuthScheme, int]:
    bad = {s.value: p for s, p in value.items() if not 1 <= p <= MAX_PORT}
    if bad:
        raise ValueError(f"{name} must be ports in 1..{MAX_PORT}, got {bad}")
    return dict(sorted(value.items()))


class SharedNlbConfig(Record, frozen=True):
    """The shared-nlb pattern: a listener per broker on base + broker id, on as
    many NLBs (shards) as the listener limit requires (reconcile/shards.py)."""

    port_bases: dict[AuthScheme, int] = field(default_factory=lambda: dict(DEFAULT_PORT_BASES))
    bootstrap_ports: dict[AuthScheme, int] = field(default_factory=lambda: dict(BROKER_PORTS))
    # ELB's listeners per Network Load Balancer: 50, not adjustable; a lower
    # value only makes smaller shards.
    listener_quota: Annotated[int, Meta(ge=2, le=LISTENERS_PER_NLB)] = LISTENERS_PER_NLB
    # None: as many as a shard's listeners allow for the configured schemes.
    brokers_per_load_balancer: Annotated[int, Meta(ge=1, le=LISTENERS_PER_NLB - 1)] | None = None
    # The broker count ports are checked for when the document is loaded:
    # MSK's default "Brokers per cluster" for KRaft clusters (adjustable).
    max_brokers: Annotated[int, Meta(ge=1, le=MAX_BROKER_IDS)] = 60
    provider_zone: bool = True

    def __post_init__(self) -> None:
        # A scheme left out keeps its default: a document may move one base only.
        force_setattr(
            self,
            "port_bases",
            _check_ports({**DEFAULT_PORT_BASES, **self.port_bases}, "port_bases"),
        )
        merged = _check_ports({**BROKER_PORTS, **self.bootstrap_ports}, "bootstrap_ports")
        seen: dict[int, str] = {}
        for scheme, port in merged.items():
            if port in seen:
                raise ValueError(
                    f"bootstrap_ports gives port {port} to both {seen[port]} and {scheme.value}"
                )
            seen[port] = scheme.value
        force_setattr(self, "bootstrap_ports", merged)

    def port_base(self, scheme: AuthScheme) -> int:
        return self.port_bases[scheme]

    def broker_port(self, scheme: AuthScheme, broker_id: int) -> int:
        """The listener port that broker ``broker_id`` is advertised on."""
        return self.port_bases[scheme] + broker_id

    def bootstrap_port(self, scheme: AuthScheme) -> int:
        return self.bootstrap_ports[scheme]


def _check_admin_bootstrap(value: str) -> None:
    if not ADMIN_BOOTSTRAP_RE.fullmatch(value):
        raise ValueError(f"admin_bootstrap must be host:port[,host:port...], got {value!r}")
    bad = [
        p for p in (int(hp.rsplit(":", 1)[1]) for hp in value.split(",")) if not 1 <= p <= MAX_PORT
    ]
    if bad:
        raise ValueError(f"admin_bootstrap ports must be in 1..{MAX_PORT}, got {bad}")


class AdvertisedListenersConfig(Record, frozen=True):
    """How brokers learn to advertise their shared-nlb ports."""

    mode: Literal["msk-configuration", "broker-override", "none"] = "none"
    admin_bootstrap: str | None = None
    admin_auth: AuthScheme | None = None
    scram_secret_arn: str | None = None

    def __post_init__(self) -> None:
        if self.admin_bootstrap is not None:
            _check_admin_bootstrap(self.admin_bootstrap)
        if self.scram_secret_arn is not None and not SCRAM_SECRET_ARN_RE.fullmatch(
            self.scram_secret_arn
        ):
            raise ValueError(
                "scram_secret_arn must be a Secrets Manager secret ARN whose name starts "
                f"with AmazonMSK_, got {self.scram_secret_arn!r}"
            )
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


def _sorted_unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


class ClusterConfig(Record, frozen=True):
    """What the operator wants for one MSK cluster."""

    cluster_arn: str
    version: Literal[1] = 1
    pattern: Literal["nlb-per-broker", "shared-nlb"] = "nlb-per-broker"
    # None: every client scheme the cluster has enabled.
    auth_schemes: tuple[AuthScheme, ...] | None = None
    # None: the cluster's own client subnets.
    subnet_ids: tuple[str, ...] | None = None
    acceptance_required: bool = True
    allowed_principals: tuple[str, ...] = ()
    supported_regions: tuple[str, ...] = ()
    guard: GuardConfig = field(default_factory=GuardConfig)
    shared_nlb: SharedNlbConfig = field(default_factory=SharedNlbConfig)
    advertised_listeners: AdvertisedListenersConfig = field(
        default_factory=AdvertisedListenersConfig
    )

    def __post_init__(self) -> None:
        # Messages start with the field's name: checks made here are reported
        # for the whole document, not under a field's path.
        if not CLUSTER_ARN_RE.fullmatch(self.cluster_arn):
            raise ValueError(f"cluster_arn: not an MSK cluster ARN: {self.cluster_arn!r}")
        if self.auth_schemes is not None:
            if not self.auth_schemes:
                raise ValueError("auth_schemes must name at least one scheme (or be omitted)")
            if len(set(self.auth_schemes)) != len(self.auth_schemes):
                raise ValueError("auth_schemes lists a scheme twice")
            force_setattr(self, "auth_schemes", tuple(sorted(self.auth_schemes)))
        if self.subnet_ids is not None:
            if not self.subnet_ids or not all(SUBNET_RE.fullmatch(s) for s in self.subnet_ids):
                raise ValueError(
                    f"subnet_ids must be non-empty subnet ids, got {list(self.subnet_ids)!r}"
                )
            force_setattr(self, "subnet_ids", _sorted_unique(self.subnet_ids))
        for principal in self.allowed_principals:
            # A wildcard would open every broker to every AWS account.
            if principal == "*" or not PRINCIPAL_ARN_RE.fullmatch(principal):
                raise ValueError(
                    f"allowed_principals: {principal!r} is not an IAM account-root, role or "
                    "user ARN"
                )
        force_setattr(self, "allowed_principals", _sorted_unique(self.allowed_principals))
        for region in self.supported_regions:
            if not REGION_RE.fullmatch(region):
                raise ValueError(f"supported_regions: not an AWS Region name: {region!r}")
        force_setattr(self, "supported_regions", _sorted_unique(self.supported_regions))
        if self.pattern == "shared-nlb":
            # Every broker id the cluster can reach, not only today's: a clash
            # found at a scale-out would stop reconciles mid-incident.
            # Without auth_schemes any scheme may be enabled, alone.
            schemes = self.auth_schemes or tuple(AuthScheme)
            reach = range(1, self.shared_nlb.max_brokers + 1)
            try:
                check_capacity(self.shared_nlb, self.auth_schemes)
                check_ports(self.shared_nlb, schemes, reach)
            except ConfigError as exc:
                raise ValueError(
                    f"shared_nlb: {exc} (checked for broker ids 1..{reach[-1]}, "
                    "shared_nlb.max_brokers)"
                ) from exc
        if self.pattern == "nlb-per-broker" and self.advertised_listeners.mode != "none":
            raise ValueError(
                "advertised_listeners.mode must be none with pattern nlb-per-broker "
                "(every broker keeps its own port there); use pattern shared-nlb to "
                "re-advertise brokers"
            )

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
    """Validate a configuration document, naming ``source`` and the field in any error."""
    try:
        if isinstance(document, dict):
            return parse(ClusterConfig, document)
        if isinstance(document, bytes):
            if document.lstrip().startswith(b"{"):
                return parse_json(ClusterConfig, document)
            document = document.decode("utf-8")
        if looks_like_json(document):
            return parse_json(ClusterConfig, document)
        # YAML (a document written by hand into the parameter, or a file).
        return parse(ClusterConfig, load_mapping(document, source))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not valid UTF-8 text") from exc
    except InvalidRecord as exc:
        problem = f"{exc.path}: {exc.reason}" if exc.path else exc.reason
        raise ConfigError(f"invalid cluster configuration in {source}: {problem}") from exc


def load_config_file(path: Path) -> ClusterConfig:
    """Read a YAML or JSON configuration file (the CLI's way in)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".json":
        return parse_config(text, str(path))
    return parse_config(load_mapping(text, f"configuration file {path}"), str(path))


def dump_config(config: ClusterConfig) -> str:
    """The canonical JSON form stored in Parameter Store."""
    return json.dumps(to_data(config), sort_keys=True, separators=(",", ":"))
