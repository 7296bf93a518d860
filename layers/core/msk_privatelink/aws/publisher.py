"""Publish BrokerEndpointsChanged when the consumer-visible view changes.

The last published view's fingerprint and generation live in DynamoDB. The
event goes out *before* the record is updated, so a crash in between leads
to the same generation being published again (consumers apply it
idempotently), never to a change that nobody hears about.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ..errors import AwsCallError
from ..events import EVENT_SOURCE, BrokerEndpointsChanged
from .errors import error_code, translate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient


class EndpointsPublisher:
    def __init__(
        self, events: EventBridgeClient, dynamodb: DynamoDBClient, bus_name: str, table_name: str
    ) -> None:
        self._events = events
        self._dynamodb = dynamodb
        self._bus = bus_name
        self._table = table_name

    @staticmethod
    def _key(cluster_arn: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"cluster#{cluster_arn}"}}

    def last_published(self, cluster_arn: str) -> tuple[int, str | None]:
        try:
            item = self._dynamodb.get_item(
                TableName=self._table, Key=self._key(cluster_arn), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise translate(exc, f"GetItem {self._table}") from exc
        if not item:
            return 0, None
        return int(item["generation"]["N"]), item.get("fingerprint", {}).get("S")

    def publish_if_changed(self, view: BrokerEndpointsChanged) -> int | None:
        """Publish ``view`` under the next generation unless it was already published."""
        generation, fingerprint = self.last_published(view.cluster_arn)
        new_fingerprint = view.fingerprint()
        if fingerprint == new_fingerprint:
            return None
        event = view.model_copy(update={"generation": generation + 1})
        try:
            result = self._events.put_events(
                Entries=[
                    {
                        "Source": EVENT_SOURCE,
                        "DetailType": "BrokerEndpointsChanged",
                        "Detail": event.to_detail_json(),
                        "Resources": [view.cluster_arn],
                        "EventBusName": self._bus,
                    }
                ]
            )
        except ClientError as exc:
            raise translate(exc, f"PutEvents {self._bus}") from exc
        if result.get("FailedEntryCount", 0):
            entry = result["Entries"][0]
            raise AwsCallError(
                f"PutEvents to {self._bus} failed: {entry.get('ErrorCode')}: "
                f"{entry.get('ErrorMessage')}"
            )
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(view.cluster_arn),
                UpdateExpression="SET generation = :g, fingerprint = :f, publishedAt = :t",
                # Never move the generation backwards if another run got further.
                ConditionExpression="attribute_not_exists(pk) OR generation < :g",
                ExpressionAttributeValues={
                    ":g": {"N": str(event.generation)},
                    ":f": {"S": new_fingerprint},
                    ":t": {"S": datetime.now(UTC).isoformat()},
                },
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, f"UpdateItem {self._table}") from exc
        return event.generation
