"""What to probe: every broker name and scheme of a BrokerEndpointsChanged
view, or host:port endpoints given by hand, with the addresses each name may
(and may not) resolve to."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from msk_privatelink.connectivity.results import ProbeTarget
from msk_privatelink.kernel.dns import cluster_zone_name, normalize_dns
from msk_privatelink.kernel.errors import ConfigError, InvalidEventError
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import InvalidRecord, parse

# MSK's client ports: in the VPC (909x) and with public access (919x).
WELL_KNOWN_PORTS: Mapping[int, str] = {
    9092: "plaintext",
    9094: "tls",
    9096: "sasl_scram",
    9098: "sasl_iam",
    9194: "tls",
    9196: "sasl_scram",
    9198: "sasl_iam",
}
# MSK names its brokers b-<id>.<cluster domain>.
_BROKER_NAME_RE = re.compile(r"^b-(\d+)\.", re.IGNORECASE)
_BOOTSTRAP_LABEL = "bootstrap"


@dataclass(frozen=True)
class AddressExpectations:
    """Where names may resolve: ``everywhere`` applies to every name,
    ``by_host`` to one name (and wins over ``everywhere``); ``forbidden``
    are the cluster's own broker addresses, never right for a name that
    resolves through PrivateLink."""

    everywhere: frozenset[str] | None = None
    by_host: Mapping[str, frozenset[str]] = field(default_factory=dict)
    forbidden: frozenset[str] = frozenset()

    def expected_for(self, host: str) -> frozenset[str] | None:
        return self.by_host.get(normalize_dns(host), self.everywhere)

    def target(self, broker: str, host: str, port: int, scheme: str) -> ProbeTarget:
        return ProbeTarget(
            broker=broker,
            host=host,
            port=port,
            scheme=scheme,
            expected=self.expected_for(host),
            forbidden=self.forbidden,
        )


def parse_expectations(specs: Iterable[str], forbidden: Iterable[str] = ()) -> AddressExpectations:
    """``ADDR[,ADDR...]`` for every name, or ``NAME=ADDR[,ADDR...]`` for one."""
    everywhere: set[str] | None = None
    by_host: dict[str, set[str]] = {}
    for spec in specs:
        name, sep, addresses = spec.rpartition("=")
        parsed = _addresses(addresses, spec)
        if sep:
            by_host.setdefault(normalize_dns(name), set()).update(parsed)
        else:
            everywhere = (everywhere or set()) | parsed
    denied = set[str]()
    for spec in forbidden:
        denied |= _addresses(spec, spec)
    return AddressExpectations(
        everywhere=frozenset(everywhere) if everywhere is not None else None,
        by_host={host: frozenset(addrs) for host, addrs in by_host.items()},
        forbidden=frozenset(denied),
    )


def _addresses(text: str, spec: str) -> set[str]:
    found = {part.strip() for part in text.split(",") if part.strip()}
    if not found:
        raise ConfigError(f"{spec!r}: no address (give ADDR[,ADDR...] or NAME=ADDR[,ADDR...])")
    normal = set()
    for address in found:
        try:
            normal.add(str(ipaddress.ip_address(address)))
        except ValueError as exc:
            raise ConfigError(f"{spec!r}: {address!r} is not an IP address") from exc
    return normal


# ------------------------------------------------------------------ a view


def read_view(document: str) -> BrokerEndpointsChanged:
    """A BrokerEndpointsChanged as published: the EventBridge event (with its
    ``detail``), a PutEvents entry (``Detail`` as a JSON string) or the
    detail alone."""
    try:
        data: Any = json.loads(document)
    except ValueError as exc:
        raise ConfigError(f"the view is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("the view is not a JSON object")
    detail_type = data.get("detail-type", data.get("DetailType"))
    if detail_type is not None and detail_type != BrokerEndpointsChanged.detail_type:
        raise ConfigError(
            f"the event is a {detail_type!r}, not a {BrokerEndpointsChanged.detail_type}"
        )
    detail: Any = data
    if isinstance(data.get("detail"), dict):
        detail = data["detail"]
    elif isinstance(data.get("Detail"), str):
        try:
            detail = json.loads(data["Detail"])
        except ValueError as exc:
            raise ConfigError(f"the entry's Detail is not JSON: {exc}") from exc
    try:
        return parse(BrokerEndpointsChanged, detail)
    except InvalidRecord as exc:
        raise ConfigError(f"not a BrokerEndpointsChanged detail: {exc}") from exc


def targets_from_view(
    view: BrokerEndpointsChanged,
    expectations: AddressExpectations | None = None,
    schemes: Iterable[str] | None = None,
) -> list[ProbeTarget]:
    """Every host name of every broker, on every port of its schemes (only
    ``schemes`` when given), in broker id order; shared-nlb adds the
    bootstrap name (``bootstrap.<cluster domain>``) on its bootstrap ports.

    nlb-per-broker's bootstrap name is not probed: its aliases lead to the
    same broker endpoints the broker names do.
    """
    rules = expectations or AddressExpectations()
    wanted = set(schemes) if schemes is not None else None
    targets: list[ProbeTarget] = []
    for broker in sorted(view.brokers, key=lambda b: b.broker_id):
        for scheme, port in sorted(broker.ports.items()):
            if wanted is not None and scheme not in wanted:
                continue
            for host in broker.host_names:
                targets.append(rules.target(str(broker.broker_id), host, port, scheme))
    if view.bootstrap is not None:
        try:
            zone = cluster_zone_name(h for b in view.brokers for h in b.host_names)
        except InvalidEventError as exc:
            raise ConfigError(f"the view's bootstrap name is unknown: {exc}") from exc
        for scheme, port in sorted(view.bootstrap.ports.items()):
            if wanted is None or scheme in wanted:
                host = f"{_BOOTSTRAP_LABEL}.{zone}"
                targets.append(rules.target(_BOOTSTRAP_LABEL, host, port, scheme))
    if not targets:
        shown = ", ".join(sorted(wanted)) if wanted else "any scheme"
        raise ConfigError(f"the view of {view.cluster_arn} has no broker port for {shown}")
    return targets


# ------------------------------------------------------- endpoints by hand


def parse_endpoint(text: str) -> tuple[str, int]:
    """``host:port`` or ``[IPv6 address]:port``."""
    host, sep, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or (":" in host and not _is_ip(host)) or not port_text.isdigit():
        raise ConfigError(f"{text!r} is not host:port (an IPv6 address goes in brackets)")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(f"{text!r}: port {port} is out of range")
    return host, port


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def targets_from_endpoints(
    endpoints: Sequence[str],
    scheme: str | None,
    expectations: AddressExpectations | None = None,
) -> list[ProbeTarget]:
    """Endpoints as given (``host:port``), probed with ``scheme``, or with
    the scheme MSK serves on the port when none is given."""
    rules = expectations or AddressExpectations()
    targets = []
    for text in endpoints:
        host, port = parse_endpoint(text)
        chosen = scheme or WELL_KNOWN_PORTS.get(port)
        if chosen is None:
            raise ConfigError(
                f"{text}: port {port} is not one of MSK's, so its scheme is unknown: give --scheme"
            )
        broker = _BROKER_NAME_RE.match(host)
        targets.append(rules.target(broker[1] if broker else "-", host, port, chosen))
    if not targets:
        raise ConfigError("no endpoint to probe")
    return targets
