"""What a connectivity check found: one result per (broker, name, scheme),
and the summary over them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Step(StrEnum):
    """The steps in the order they run; ``OK``: every step passed."""

    DNS = "dns"
    TCP = "tcp"
    TLS = "tls"
    KAFKA = "kafka"
    OK = "ok"


STEP_ORDER = (Step.DNS, Step.TCP, Step.TLS, Step.KAFKA, Step.OK)


@dataclass(frozen=True)
class ProbeTarget:
    """One name and port a client would connect to, and how.

    ``broker`` labels the row ("1" for broker 1, "bootstrap", or the
    host:port as given). ``expected`` (when set) holds every address the
    name may resolve to (the consumer's interface endpoint IPs);
    ``forbidden`` the cluster's own broker addresses, which a name resolving
    through PrivateLink never returns.
    """

    broker: str
    host: str
    port: int
    scheme: str
    expected: frozenset[str] | None = None
    forbidden: frozenset[str] = frozenset()

    @property
    def uses_tls(self) -> bool:
        # Every MSK listener but plaintext is TLS (tls, sasl_scram, sasl_iam).
        return self.scheme != "plaintext"

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class ProbeResult:
    """``step`` is where the probe stopped: the failing step, or ``ok``."""

    target: ProbeTarget
    step: Step
    ok: bool
    detail: str
    elapsed_ms: int
    addresses: tuple[str, ...] = ()
    connected_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "broker": self.target.broker,
            "scheme": self.target.scheme,
            "host": self.target.host,
            "port": self.target.port,
            "step": self.step.value,
            "ok": self.ok,
            "detail": self.detail,
            "elapsed_ms": self.elapsed_ms,
            "addresses": list(self.addresses),
            "connected_to": self.connected_to,
        }


@dataclass(frozen=True)
class CheckReport:
    results: tuple[ProbeResult, ...]
    elapsed_ms: int
    deadline_reached: bool = False

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> tuple[ProbeResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    def failures_by_step(self) -> dict[str, int]:
        counts = Counter(r.step for r in self.failed)
        return {step.value: counts[step] for step in STEP_ORDER if counts[step]}

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "total": len(self.results),
            "passed": len(self.results) - len(self.failed),
            "failed": len(self.failed),
            "failed_by_step": self.failures_by_step(),
            "deadline_reached": self.deadline_reached,
            "elapsed_ms": self.elapsed_ms,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "results": [r.to_dict() for r in self.results]}
