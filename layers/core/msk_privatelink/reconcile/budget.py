"""How much of one Lambda invocation a reconcile may use.

The first create of a big cluster does not fit in one invocation: 180
brokers with four schemes is about 2,200 ELB and EC2 writes (docs/scale.md).
Every change is idempotent and each run plans again from what exists, so a
run stops *starting* changes while it still has time to read back, publish
what is reachable and release its lease, and the handler queues the
cluster again: the next run carries on where this one stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# Kept free after the last change a run starts: one change (a few calls,
# with the SDK's retries), the read-back, the publish and the lease release.
APPLY_RESERVE_SECONDS = 25.0
# A queued cluster is not started with less than this left in the
# invocation (a deep read of a big cluster is paced for up to 60 s of it):
# it is queued again instead, so no run starts only to be cut off.
RECORD_START_SECONDS = 60.0


class RemainingTime(Protocol):
    """The part of a Lambda context a budget reads."""

    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class TimeBudget:
    """Seconds left in the invocation, read from the Lambda context each time."""

    remaining: Callable[[], float]

    @classmethod
    def of(cls, context: RemainingTime) -> TimeBudget:
        return cls(lambda: context.get_remaining_time_in_millis() / 1000)

    def below(self, seconds: float) -> bool:
        return self.remaining() < seconds

    def apply_exhausted(self) -> bool:
        """No further change may start (the applier asks before each one)."""
        return self.below(APPLY_RESERVE_SECONDS)
