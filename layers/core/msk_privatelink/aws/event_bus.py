"""Put one event on an event bus: the provider's publisher, the onboarding
workflow's requests and announcements, and the consumer's replies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import translate
from msk_privatelink.kernel.errors import AwsCallError

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


def put_event(
    events: EventBridgeClient,
    bus: str,
    *,
    source: str,
    detail_type: str,
    detail: str,
    resource: str,
) -> None:
    """One PutEvents entry; a failed entry (HTTP 200 with FailedEntryCount) raises too."""
    try:
        result = events.put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": detail,
                    "Resources": [resource],
                    "EventBusName": bus,
                }
            ]
        )
    except ClientError as exc:
        raise translate(exc, f"PutEvents {detail_type} to {bus}") from exc
    if result.get("FailedEntryCount", 0):
        entry = result["Entries"][0]
        raise AwsCallError(
            f"PutEvents {detail_type} to {bus}: {entry.get('ErrorCode')}: "
            f"{entry.get('ErrorMessage')}"
        )
