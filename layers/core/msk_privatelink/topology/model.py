"""The live topology of one cluster's connectivity, drawn from the status
document (cli/status.py) so a picture never says something `status` does
not: consumer accounts and their Regions, endpoint services, load balancers
with their listeners, and brokers by Availability Zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

BOOTSTRAP = None  # a listener of no broker: shared-nlb's bootstrap listener


@dataclass(frozen=True)
class Listener:
    scheme: str
    port: int
    # None: a bootstrap listener (every broker of its group answers).
    broker_id: int | None


@dataclass(frozen=True)
class LoadBalancer:
    name: str
    state: str
    listeners: tuple[Listener, ...]
    # The endpoint service in front of it (None: not created yet).
    service_name: str | None


@dataclass(frozen=True)
class Broker:
    broker_id: int
    ip: str | None
    zone: str
    sync: str


@dataclass(frozen=True)
class Consumer:
    """A principal an endpoint service admits (an account, or a role or user)."""

    principal: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class Topology:
    cluster_arn: str
    pattern: str
    region: str
    # Regions consumers may connect from besides the cluster's (cross-Region).
    consumer_regions: tuple[str, ...]
    consumers: tuple[Consumer, ...]
    load_balancers: tuple[LoadBalancer, ...]
    brokers: tuple[Broker, ...]

    @property
    def cluster_name(self) -> str:
        return self.cluster_arn.split("/")[1] if "/" in self.cluster_arn else self.cluster_arn

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(sorted({b.zone for b in self.brokers}))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def account_of(principal: str) -> str:
    """The account of an ``arn:aws:iam::<account>:root`` (or role) principal."""
    parts = principal.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else principal


def topology_of(status: Mapping[str, Any], zones: Mapping[str, str]) -> Topology:
    """``status``: a status document; ``zones``: subnet id -> Availability Zone
    (a subnet missing from it is shown by its id)."""
    listeners_by_lb: dict[str, list[Listener]] = {}
    for broker in status["brokers"]:
        for entry in broker["listeners"]:
            listeners_by_lb.setdefault(entry["load_balancer"], []).append(
                Listener(entry["scheme"], entry["port"], broker["broker_id"])
            )
    for entry in status["bootstrap"]:
        listeners_by_lb.setdefault(entry["load_balancer"], []).append(
            Listener(entry["scheme"], entry["port"], BOOTSTRAP)
        )
    service_of_lb = {s["load_balancer"]: s["service_name"] for s in status["endpoint_services"]}
    balancers = tuple(
        LoadBalancer(
            lb["name"],
            lb["state"],
            tuple(sorted(listeners_by_lb.get(lb["name"], ()), key=lambda x: x.port)),
            service_of_lb.get(lb["name"]),
        )
        for lb in status["load_balancers"]
    )
    admitted: dict[str, set[str]] = {}
    regions: set[str] = set()
    for svc in status["endpoint_services"]:
        regions.update(svc["supported_regions"])
        for principal in svc["allowed_principals"]:
            admitted.setdefault(principal, set()).add(svc["service_name"])
    region = status["cluster_arn"].split(":")[3]
    return Topology(
        cluster_arn=status["cluster_arn"],
        pattern=status["pattern"],
        region=region,
        consumer_regions=tuple(sorted(regions - {region})),
        consumers=tuple(Consumer(p, tuple(sorted(s))) for p, s in sorted(admitted.items())),
        load_balancers=balancers,
        brokers=tuple(
            Broker(
                b["broker_id"],
                b["ip"],
                zones.get(b["subnet_id"] or "", b["subnet_id"] or "?"),
                b["sync"],
            )
            for b in status["brokers"]
        ),
    )
