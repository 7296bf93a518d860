"""Provider events to consumer buses: one rule, any number of tenants.

One rule on the provider bus sends every event consumers get to a queue;
ConsumerDeliveryFunction reads the cluster's tenants from the registry and
puts the event on each subscribed tenant's bus with PutEvents, which takes a
bus ARN in another account or Region (EventBridge API Reference,
"PutEventsRequestEntry"; the consumer bus policy admits this account,
EventBridge User Guide, "Permissions for event buses"). Nothing on the
provider bus grows with tenants: rules per bus (300) and targets per rule (5)
stay where the stack leaves them.

Events carrying ``consumerAccountId`` (the onboarding and offboarding
requests) go to that tenant only; the others (BrokerEndpointsChanged) to every
subscribed tenant of the cluster.

Delivery is at least once and per tenant: a tenant whose bus refuses or is
gone is retried on its own (its entries are sent again after a growing
delay) without holding back or repeating the others, and after
``MAX_EVENT_AGE_SECONDS`` what is still undelivered goes to the dead-letter
queue with the error, as EventBridge's own retry policy would have done.
Consumers apply events by generation, so a late or repeated one is harmless.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code
from msk_privatelink.kernel.consumer_events import PROVIDER_EVENT_SOURCE
from msk_privatelink.onboarding.aws.tenants import SUBSCRIBED_STATES, TenantRegistry

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

logger = logging.getLogger(__name__)

# Provider events every tenant of the cluster gets; the requests are for one
# account only (their detail names it).
FORWARDED_DETAIL_TYPES = (
    "BrokerEndpointsChanged",
    "ConsumerOnboardingRequested",
    "ConsumerOffboardingRequested",
)
# PutEvents takes at most 10 entries (botocore events model,
# PutEventsRequestEntryList max 10) and 256 KB in all (EventBridge User Guide,
# "Calculating PutEvents event entry size").
MAX_ENTRIES_PER_CALL = 10
MAX_BYTES_PER_CALL = 256 * 1024
# EventBridge's own defaults for a rule target (24 hours), kept for the
# tenants so an undeliverable event is given the same chance as before.
MAX_EVENT_AGE_SECONDS = 86_400
# SQS DelaySeconds is at most 900 (botocore sqs model).
MAX_RETRY_DELAY_SECONDS = 900
FIRST_RETRY_DELAY_SECONDS = 10


@dataclass(frozen=True)
class Recipient:
    account_id: str
    region: str
    bus_arn: str

    def key(self) -> str:
        return f"{self.account_id}/{self.region}"


@dataclass(frozen=True)
class Failure:
    recipient: Recipient
    error: str


@dataclass(frozen=True)
class DeliveryResult:
    delivered: list[Recipient]
    failed: list[Failure]
    calls: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivered": len(self.delivered),
            "failed": [{"to": f.recipient.key(), "error": f.error} for f in self.failed],
            "putEventsCalls": self.calls,
        }


def is_forwarded(event: dict[str, Any]) -> bool:
    return (
        event.get("source") == PROVIDER_EVENT_SOURCE
        and event.get("detail-type") in FORWARDED_DETAIL_TYPES
        and isinstance(event.get("detail"), dict)
        and isinstance(event["detail"].get("clusterArn"), str)
    )


def retry_delay(attempt: int) -> int:
    """Seconds before retry ``attempt`` (1, 2, ...): doubling, capped by SQS."""
    return int(min(MAX_RETRY_DELAY_SECONDS, FIRST_RETRY_DELAY_SECONDS * 2 ** (attempt - 1)))


def event_age_seconds(event: dict[str, Any], now: datetime | None = None) -> float:
    """How long ago EventBridge took the event (its ``time``); 0 if unreadable."""
    try:
        taken = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return 0.0
    if taken.tzinfo is None:
        taken = taken.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - taken).total_seconds()


class ConsumerDelivery:
    def __init__(
        self, tenants: TenantRegistry, events_in: Callable[[str], EventBridgeClient]
    ) -> None:
        self._tenants = tenants
        self._events_in = events_in

    def recipients(self, event: dict[str, Any]) -> list[Recipient]:
        detail = event["detail"]
        only = detail.get("consumerAccountId")
        found = [
            Recipient(t.account_id, t.region, t.consumer_bus_arn)
            for t in self._tenants.for_cluster(detail["clusterArn"])
            if t.state in SUBSCRIBED_STATES
            and t.consumer_bus_arn
            and (only is None or t.account_id == only)
        ]
        return sorted(found, key=lambda r: (r.region, r.account_id))

    def deliver(self, event: dict[str, Any], only: Sequence[str] | None = None) -> DeliveryResult:
        """Put the event on every recipient's bus (or only those whose
        ``key()`` is listed: a retry); recipients no longer subscribed are
        dropped, not retried."""
        recipients = self.recipients(event)
        if only is not None:
            wanted = set(only)
            recipients = [r for r in recipients if r.key() in wanted]
        entry = {
            "Source": str(event["source"]),
            "DetailType": str(event["detail-type"]),
            "Detail": json.dumps(event["detail"], separators=(",", ":")),
            "Resources": [str(r) for r in event.get("resources", [])],
        }
        delivered: list[Recipient] = []
        failed: list[Failure] = []
        calls = 0
        by_region: dict[str, list[Recipient]] = {}
        for r in recipients:
            by_region.setdefault(r.region, []).append(r)
        for region, group in by_region.items():
            client = self._events_in(region)
            for batch in _batches(group, _entry_size(entry)):
                done, refused, used = _put(client, entry, batch)
                delivered += done
                failed += refused
                calls += used
        return DeliveryResult(delivered, failed, calls)


def _entry_size(entry: dict[str, Any]) -> int:
    # The documented calculation: Source, DetailType and Detail in UTF-8
    # bytes, each resource, 14 bytes for a Time (none is sent here).
    return (
        len(entry["Source"].encode())
        + len(entry["DetailType"].encode())
        + len(entry["Detail"].encode())
        + sum(len(r.encode()) for r in entry["Resources"])
    )


def _batches(recipients: list[Recipient], entry_size: int) -> Iterator[list[Recipient]]:
    per_call = max(1, min(MAX_ENTRIES_PER_CALL, MAX_BYTES_PER_CALL // max(entry_size, 1)))
    for start in range(0, len(recipients), per_call):
        yield recipients[start : start + per_call]


def _put(
    client: EventBridgeClient, entry: dict[str, Any], batch: list[Recipient]
) -> tuple[list[Recipient], list[Failure], int]:
    entries: list[PutEventsRequestEntryTypeDef] = [
        {
            "Source": entry["Source"],
            "DetailType": entry["DetailType"],
            "Detail": entry["Detail"],
            "Resources": entry["Resources"],
            "EventBusName": r.bus_arn,
        }
        for r in batch
    ]
    try:
        answer = client.put_events(Entries=entries)
    except ClientError as exc:
        if len(batch) > 1:
            # One bus refusing the whole call must not hold back the others:
            # each recipient is tried on its own.
            delivered: list[Recipient] = []
            failed: list[Failure] = []
            calls = 1
            for r in batch:
                done, refused, used = _put(client, entry, [r])
                delivered += done
                failed += refused
                calls += used
            return delivered, failed, calls
        return [], [Failure(batch[0], f"{error_code(exc)}: {exc}")], 1
    delivered = []
    failed = []
    for r, result in zip(batch, answer.get("Entries", []), strict=False):
        if result.get("ErrorCode"):
            failed.append(Failure(r, f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"))
        else:
            delivered.append(r)
    # Entries the answer does not account for are failures, never assumed sent.
    answered = len(answer.get("Entries", []))
    failed += [Failure(r, "no result for this entry") for r in batch[answered:]]
    return delivered, failed, 1


@dataclass(frozen=True)
class Envelope:
    """A queued delivery: the provider event as EventBridge put it on the
    queue, or a retry of it for the recipients that failed."""

    event: dict[str, Any]
    only: tuple[str, ...] | None = None
    attempt: int = 0

    @classmethod
    def from_body(cls, body: str) -> Envelope:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("a delivery message must be a JSON object")
        retry = data.get("retry")
        if isinstance(retry, dict):
            return cls(data["event"], tuple(retry["to"]), int(retry["attempt"]))
        return cls(data)

    def to_body(self) -> str:
        if self.only is None:
            return json.dumps(self.event)
        return json.dumps(
            {"event": self.event, "retry": {"to": list(self.only), "attempt": self.attempt}}
        )


@dataclass(frozen=True)
class Handled:
    result: DeliveryResult
    retried: int
    dead_lettered: int


class DeliveryQueue:
    """Where a delivery goes when recipients failed: back on the queue after
    a delay, or, once the event is too old, to the dead-letter queue."""

    def __init__(self, send: Callable[[str, str, int], None], queue_url: str, dlq_url: str):
        self._send = send
        self._queue = queue_url
        self._dlq = dlq_url

    def retry(self, envelope: Envelope) -> None:
        self._send(self._queue, envelope.to_body(), retry_delay(envelope.attempt))

    def dead_letter(self, envelope: Envelope, failures: list[Failure]) -> None:
        body = json.dumps(
            {
                "event": envelope.event,
                "undelivered": [
                    {"to": f.recipient.key(), "bus": f.recipient.bus_arn, "error": f.error}
                    for f in failures
                ],
                "attempts": envelope.attempt + 1,
            }
        )
        self._send(self._dlq, body, 0)


def handle(
    delivery: ConsumerDelivery, queue: DeliveryQueue, body: str, now: datetime | None = None
) -> Handled:
    """One queued message: deliver, then retry or dead-letter what failed.
    A message that is not a forwarded provider event is dropped with a log
    line (the rule only sends those; anything else is not ours to deliver)."""
    envelope = Envelope.from_body(body)
    if not is_forwarded(envelope.event):
        logger.warning("not a provider event for consumers; dropped")
        return Handled(DeliveryResult([], [], 0), 0, 0)
    result = delivery.deliver(envelope.event, envelope.only)
    if not result.failed:
        return Handled(result, 0, 0)
    failed_keys = tuple(f.recipient.key() for f in result.failed)
    again = Envelope(envelope.event, failed_keys, envelope.attempt + 1)
    if event_age_seconds(envelope.event, now) + retry_delay(again.attempt) > MAX_EVENT_AGE_SECONDS:
        queue.dead_letter(envelope, result.failed)
        return Handled(result, 0, len(result.failed))
    queue.retry(again)
    return Handled(result, len(result.failed), 0)
