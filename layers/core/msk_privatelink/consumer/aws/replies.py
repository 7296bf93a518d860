"""Put the consumer's answers on its own event bus; the consumer stack's rule
forwards them to the provider bus (no cross-account call from code)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from msk_privatelink.aws.event_bus import put_event
from msk_privatelink.kernel.consumer_events import CONSUMER_EVENT_SOURCE, ConsumerEndpointsReady

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


class ReplyPublisher:
    def __init__(self, events: EventBridgeClient, bus_name: str) -> None:
        self._events = events
        self._bus = bus_name

    def put(self, reply: ConsumerEndpointsReady) -> None:
        put_event(
            self._events,
            self._bus,
            source=CONSUMER_EVENT_SOURCE,
            detail_type=reply.detail_type,
            detail=reply.to_detail_json(),
            resource=reply.cluster_arn,
        )
