"""A consumer's last connectivity report, as the provider keeps it (pure).

The consumer stack's canary sends a ``ConsumerConnectivityReport`` after
every run; the task callback function stores a summary of it on the tenant
item as the ``connectivity`` attribute (onboarding/aws/tenants.py writes it),
and ``msk-privatelink status`` shows it per consumer account. The summary is
bounded whatever the cluster's size: the counts are complete, the lists are
their first entries (the report lists failures in broker id order).

``checkedAt`` is stored in one fixed-width UTC form so that DynamoDB's string
comparison in the write's condition orders reports by time: a report
replaces the stored one only when it was checked later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from msk_privatelink.kernel.consumer_events import ConsumerConnectivityReport

# Enough to name what to look at first; the consumer account's own metrics
# and logs hold the rest.
MAX_STORED_FAILURES = 5
MAX_STORED_PENDING = 20
MAX_STORED_PROBLEMS = 3
# Pending entries are broker ids or "bootstrap" (the failures' broker field
# has the same bound).
MAX_PENDING_LABEL = 16
# A report dated further ahead than this is refused: stored, it would hold
# back every later report of the tenant until the provider's clock caught up.
MAX_CLOCK_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class ConnectivityFailure:
    broker: str
    scheme: str
    port: int
    step: str
    detail: str = ""


@dataclass(frozen=True)
class Connectivity:
    """What the provider stores of a tenant's last connectivity report."""

    state: str
    generation: int
    checked_at: str
    probes: int
    failed: int
    pending: tuple[str, ...] = ()
    failures: tuple[ConnectivityFailure, ...] = ()
    problems: tuple[str, ...] = ()

    def to_attribute(self) -> dict[str, Any]:
        """The DynamoDB map stored as the tenant item's ``connectivity``."""
        return {
            "M": {
                "state": {"S": self.state},
                "generation": {"N": str(self.generation)},
                "checkedAt": {"S": self.checked_at},
                "probes": {"N": str(self.probes)},
                "failed": {"N": str(self.failed)},
                "pending": {"L": [{"S": p} for p in self.pending]},
                "failures": {
                    "L": [
                        {
                            "M": {
                                "broker": {"S": f.broker},
                                "scheme": {"S": f.scheme},
                                "port": {"N": str(f.port)},
                                "step": {"S": f.step},
                                "detail": {"S": f.detail},
                            }
                        }
                        for f in self.failures
                    ]
                },
                "problems": {"L": [{"S": p} for p in self.problems]},
            }
        }

    @classmethod
    def from_attribute(cls, value: Any) -> Connectivity | None:
        """The stored map back; ``None`` when absent or not of this shape.

        Lenient on purpose: every reader of the tenant item (the reconciler's
        tenant merge, the delivery function) decodes it, and a display
        attribute must never stop them."""
        if not isinstance(value, dict) or "M" not in value:
            return None
        try:
            m = value["M"]
            return cls(
                state=m["state"]["S"],
                generation=int(m["generation"]["N"]),
                checked_at=m["checkedAt"]["S"],
                probes=int(m["probes"]["N"]),
                failed=int(m["failed"]["N"]),
                pending=tuple(p["S"] for p in m.get("pending", {}).get("L", [])),
                failures=tuple(
                    ConnectivityFailure(
                        broker=f["M"]["broker"]["S"],
                        scheme=f["M"]["scheme"]["S"],
                        port=int(f["M"]["port"]["N"]),
                        step=f["M"]["step"]["S"],
                        detail=f["M"].get("detail", {}).get("S", ""),
                    )
                    for f in m.get("failures", {}).get("L", [])
                ),
                problems=tuple(p["S"] for p in m.get("problems", {}).get("L", [])),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def to_document(self) -> dict[str, Any]:
        """The stored attribute as JSON, with its stored (camelCase) keys."""
        return {
            "state": self.state,
            "generation": self.generation,
            "checkedAt": self.checked_at,
            "probes": self.probes,
            "failed": self.failed,
            "pending": list(self.pending),
            "failures": [
                {
                    "broker": f.broker,
                    "scheme": f.scheme,
                    "port": f.port,
                    "step": f.step,
                    "detail": f.detail,
                }
                for f in self.failures
            ],
            "problems": list(self.problems),
        }


def stored_time(checked_at: str, now: datetime) -> str:
    """``checkedAt`` in the stored form (UTC, milliseconds: fixed width, so
    string order is time order). Raises ``ValueError`` for a time without a
    zone or one too far ahead of ``now``."""
    when = datetime.fromisoformat(checked_at)
    if when.tzinfo is None:
        raise ValueError(f"checkedAt {checked_at!r} has no time zone")
    if when - now > MAX_CLOCK_SKEW:
        raise ValueError(
            f"checkedAt {checked_at} is ahead of the provider's clock ({now.isoformat()}) by "
            f"more than {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes"
        )
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def summarise(report: ConsumerConnectivityReport, now: datetime) -> Connectivity:
    """What is kept of a validated report (see ``stored_time`` for its errors)."""
    return Connectivity(
        state=report.state,
        generation=report.generation,
        checked_at=stored_time(report.checked_at, now),
        probes=report.probes,
        failed=report.failed,
        pending=tuple(p[:MAX_PENDING_LABEL] for p in report.pending[:MAX_STORED_PENDING]),
        failures=tuple(
            ConnectivityFailure(
                broker=f.broker, scheme=f.scheme, port=f.port, step=f.step, detail=f.detail
            )
            for f in report.failures[:MAX_STORED_FAILURES]
        ),
        problems=report.problems[:MAX_STORED_PROBLEMS],
    )
