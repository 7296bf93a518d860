"""Brokers at scale: 60, 120 and 180 brokers with one and four auth schemes,
for both patterns, at AWS's default Elastic Load Balancing quotas.

Each row is one initial create on a fresh embedded AWS, which answers the
documented quotas and enforces the load balancer count; its MSK accepts the
cluster as an account whose (adjustable) brokers-per-cluster quota was
raised would. A row either converges, with the load balancers, listeners and
targets it took (each within its quota), or is refused before any write with
the quota named. shared-nlb rows use port bases 200 apart from 10000 (the
default ones meet the bootstrap ports at broker 92) and ``max_brokers`` of
the row. Calls are counted exactly; the seconds are the embedded AWS's.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from msk_privatelink.kernel.errors import QuotaExceededError
from msk_privatelink.reconcile.account_quotas import (
    LISTENERS_PER_NLB,
    NETWORK_LOAD_BALANCERS,
    TARGETS_PER_AZ_PER_NLB,
)
from msk_privatelink.reconcile.resources import ActualState
from msk_privatelink_dev.embedded import EmbeddedAws
from tests.integration.harness import create_world

BROKER_COUNTS: tuple[int, ...] = (60, 120, 180)
QUICK_BROKER_COUNTS: tuple[int, ...] = (60,)
PATTERNS: tuple[str, ...] = ("nlb-per-broker", "shared-nlb")
# The embedded MSK's names for the client schemes (plaintext: unauthenticated
# over TLS_PLAINTEXT).
SCHEMES: dict[int, tuple[str, ...]] = {
    1: ("iam",),
    4: ("iam", "scram", "tls", "unauthenticated"),
}
WIDE_PORT_BASES = {"plaintext": 10000, "tls": 10200, "sasl_scram": 10400, "sasl_iam": 10600}


@dataclass
class ScaleRow:
    pattern: str
    schemes: int
    brokers: int
    status: str  # converged, refused (before any write) or error
    detail: str = ""
    load_balancers: int = 0
    endpoint_services: int = 0
    most_listeners: int = 0
    most_targets: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "schemes": self.schemes,
            "brokers": self.brokers,
            "status": self.status,
            "detail": self.detail,
            "load_balancers": self.load_balancers,
            "endpoint_services": self.endpoint_services,
            "most_listeners_per_nlb": self.most_listeners,
            "most_targets_per_nlb": self.most_targets,
            "calls": sum(self.calls.values()),
            "writes": self.writes,
            "seconds": round(self.seconds, 1),
        }


def _overrides(pattern: str, brokers: int) -> dict[str, Any]:
    if pattern != "shared-nlb":
        return {"pattern": pattern}
    return {
        "pattern": pattern,
        "shared_nlb": {"port_bases": WIDE_PORT_BASES, "max_brokers": brokers},
    }


def _per_load_balancer(actual: ActualState) -> tuple[int, int]:
    """The most listeners, and the most targets behind, any one load balancer."""
    listeners: Counter[str] = Counter()
    targets: Counter[str] = Counter()
    for listener in actual.listeners.values():
        listeners[listener.load_balancer] += 1
        group = actual.target_groups.get(listener.target_group or "")
        if group is not None:
            targets[listener.load_balancer] += len(group.targets)
    return max(listeners.values(), default=0), max(targets.values(), default=0)


def measure_one(pattern: str, schemes: int, brokers: int) -> ScaleRow:
    row = ScaleRow(pattern, schemes, brokers, "error")
    with EmbeddedAws() as aws:
        aws.msk.broker_quota = max(aws.msk.broker_quota, brokers)
        world = create_world(
            aws,
            brokers=brokers,
            auth=SCHEMES[schemes],
            client_broker="TLS_PLAINTEXT",
            config_overrides=_overrides(pattern, brokers),
        )
        world.counter.reset()
        started = time.perf_counter()
        try:
            outcome = world.reconcile()
        except QuotaExceededError as exc:
            row.writes = world.counter.writes.total()
            row.status = "refused" if row.writes == 0 else "error"
            row.detail = str(exc)
        except Exception as exc:
            row.detail = f"{type(exc).__name__}: {exc}"
        else:
            row.writes = world.counter.writes.total()
            row.status = outcome.status
            actual = outcome.actual
            if actual is not None:
                row.load_balancers = len(actual.load_balancers)
                row.endpoint_services = len(actual.endpoint_services)
                row.most_listeners, row.most_targets = _per_load_balancer(actual)
        row.seconds = time.perf_counter() - started
        row.calls = Counter(world.counter.calls)
    return row


def measure(counts: Sequence[int], progress: Callable[[str], None]) -> list[ScaleRow]:
    rows: list[ScaleRow] = []
    for pattern in PATTERNS:
        for schemes in sorted(SCHEMES):
            for brokers in counts:
                row = measure_one(pattern, schemes, brokers)
                progress(
                    f"brokers at scale: {pattern} {schemes} scheme(s) {brokers} brokers "
                    f"{row.status} [{row.seconds:.1f}s]"
                )
                rows.append(row)
    return rows


def render(rows: Sequence[ScaleRow]) -> list[str]:
    lines = [
        "## Brokers at scale: 60, 120 and 180 brokers at AWS's default quotas",
        "",
        f"One initial create per row on a fresh embedded AWS. Quotas: "
        f"{NETWORK_LOAD_BALANCERS.title} {NETWORK_LOAD_BALANCERS.default}, "
        f"{LISTENERS_PER_NLB.title} {LISTENERS_PER_NLB.default} (not adjustable), "
        f"targets per cross-zone Network Load Balancer {TARGETS_PER_AZ_PER_NLB.default}. "
        "shared-nlb uses port bases 200 apart from 10000.",
        "",
        "| pattern | schemes | brokers | outcome | NLBs | endpoint services "
        "| most listeners per NLB | most targets per NLB | AWS calls | writes | seconds |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        outcome = row.status
        if row.status == "refused":
            outcome = f"refused before any write: {row.detail}"
        elif row.status == "error":
            outcome = f"error: {row.detail}"
        lines.append(
            f"| {row.pattern} | {row.schemes} | {row.brokers} | {outcome} | "
            f"{row.load_balancers} | {row.endpoint_services} | {row.most_listeners} | "
            f"{row.most_targets} | {sum(row.calls.values())} | {row.writes} | "
            f"{row.seconds:.1f} |"
        )
    return lines
