"""Put the consumer's answers on its own event bus; the consumer stack's rule
forwards them to the provider bus (no cross-account call from code)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ..consumer_events import CONSUMER_EVENT_SOURCE, ConsumerEndpointsReady
from ..errors import AwsCallError
from .errors import translate

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


class ReplyPublisher:
    def __init__(self, events: EventBridgeClient, bus_name: str) -> None:
        self._events = events
        self._bus = bus_name

    def put(self, reply: ConsumerEndpointsReady) -> None:
        try:
            result = self._events.put_events(
                Entries=[
                    {
                        "Source": CONSUMER_EVENT_SOURCE,
                        "DetailType": reply.detail_type,
                        "Detail": reply.to_detail_json(),
                        "Resources": [reply.cluster_arn],
                        "EventBusName": self._bus,
                    }
                ]
            )
        except ClientError as exc:
            raise translate(exc, f"PutEvents {self._bus}") from exc
        if result.get("FailedEntryCount", 0):
            entry = result["Entries"][0]
            raise AwsCallError(
                f"PutEvents {self._bus}: {entry.get('ErrorCode', '')}: "
                f"{entry.get('ErrorMessage', '')}"
            )
