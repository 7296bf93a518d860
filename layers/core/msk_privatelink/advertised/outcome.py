"""What one advertised-listeners step did, for either mode."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from msk_privatelink.kernel.errors import RetryableError, TerminalError


class AdvertisedStatus(StrEnum):
    UP_TO_DATE = "up-to-date"  # brokers already advertise the mapping; nothing was changed
    APPLIED = "applied"  # changed now and verified (broker-override)
    IN_PROGRESS = "in-progress"  # our MSK operation runs; look again on a later run
    BUSY = "busy"  # another MSK operation (or state) holds the cluster; look again later
    FAILED = "failed"  # our MSK operation failed; a person has to look


class AdvertisedListenersFailedError(TerminalError):
    """Applying the advertised listeners failed; retrying as-is will not help."""


class AdvertisedListenersPendingError(RetryableError):
    """The networking is done, advertised listeners are on their way: look again soon."""


@dataclass(frozen=True)
class AdvertisedOutcome:
    mode: str
    status: AdvertisedStatus
    detail: str
    operation_arn: str | None = None
    configuration_arn: str | None = None
    configuration_revision: int | None = None
    changed_brokers: tuple[int, ...] = ()

    @property
    def done(self) -> bool:
        """Brokers advertise the mapping now."""
        return self.status in (AdvertisedStatus.UP_TO_DATE, AdvertisedStatus.APPLIED)

    @property
    def pending(self) -> bool:
        """Not there yet, and a later run is expected to get there."""
        return self.status in (AdvertisedStatus.IN_PROGRESS, AdvertisedStatus.BUSY)

    def raise_for_failure(self) -> None:
        if self.status is AdvertisedStatus.FAILED:
            raise AdvertisedListenersFailedError(self.detail)


@dataclass(frozen=True)
class PlannedWrite:
    """A write the advertised-listeners step would make, for `plan`."""

    action: str
    kind: str
    key: str
    detail: str
    impact: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "action": self.action,
            "kind": self.kind,
            "key": self.key,
            "detail": self.detail,
            "impact": self.impact,
        }


@dataclass(frozen=True)
class AdvertisedPreview:
    """What the advertised-listeners step would do now, read without writing."""

    mode: str
    writes: tuple[PlannedWrite, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "writes": [w.to_dict() for w in self.writes],
            "note": self.note,
        }
