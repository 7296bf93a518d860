"""Publish BrokerEndpointsChanged when the consumer-visible view changes.

The last published view's fingerprint and generation live in DynamoDB. The
event goes out *before* the record is updated, so a crash in between leads
to the same generation being published again (consumers apply it
idempotently), never to a change that nobody hears about.

The same item also records the fingerprint of the advertised-listener
mapping last applied by broker-override (`record_advertised`): the reconciler
reads it with the GetItem it makes anyway, so knowing whether the brokers
already advertise the current mapping costs no extra read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.aws.event_bus import put_event
from msk_privatelink.kernel.events import EVENT_SOURCE, BrokerEndpointsChanged
from msk_privatelink.kernel.records import replace
from msk_privatelink.reconcile.aws.state_item import BROKERS_FINGERPRINT, state_item_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient


@dataclass(frozen=True)
class PublishedState:
    """The cluster's item in the state table, as one GetItem read it."""

    generation: int = 0
    fingerprint: str | None = None
    # broker-override: the mapping the Kafka admin function last applied.
    advertised_fingerprint: str | None = None
    # The brokers (ids, IPs, names) of the last run that converged; the
    # change detector compares ListNodes with it.
    brokers_fingerprint: str | None = None


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
        return state_item_key(cluster_arn)

    def state(self, cluster_arn: str) -> PublishedState:
        try:
            item = self._dynamodb.get_item(
                TableName=self._table, Key=self._key(cluster_arn), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise translate(exc, f"GetItem {self._table}") from exc
        if not item:
            return PublishedState()
        return PublishedState(
            generation=int(item["generation"]["N"]) if "generation" in item else 0,
            fingerprint=item.get("fingerprint", {}).get("S"),
            advertised_fingerprint=item.get("advertisedFingerprint", {}).get("S"),
            brokers_fingerprint=item.get(BROKERS_FINGERPRINT, {}).get("S"),
        )

    def last_published(self, cluster_arn: str) -> tuple[int, str | None]:
        state = self.state(cluster_arn)
        return state.generation, state.fingerprint

    def publish_if_changed(
        self, view: BrokerEndpointsChanged, state: PublishedState | None = None
    ) -> int | None:
        """Publish ``view`` under the next generation unless it was already published.

        ``state``: the item as this run already read it (saves the GetItem).
        """
        if state is None:
            state = self.state(view.cluster_arn)
        generation, fingerprint = state.generation, state.fingerprint
        new_fingerprint = view.fingerprint()
        if fingerprint == new_fingerprint:
            return None
        event = replace(view, generation=generation + 1)
        put_event(
            self._events,
            self._bus,
            source=EVENT_SOURCE,
            detail_type=event.detail_type,
            detail=event.to_detail_json(),
            resource=view.cluster_arn,
        )
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(view.cluster_arn),
                UpdateExpression="SET generation = :g, fingerprint = :f, publishedAt = :t",
                # Never move the generation backwards if another run got further.
                # (The item may exist without a generation: the advertised record.)
                ConditionExpression="attribute_not_exists(generation) OR generation < :g",
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

    def record_brokers(self, cluster_arn: str, fingerprint: str) -> None:
        """Remember the brokers a converged run applied (the change detector's baseline)."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(cluster_arn),
                UpdateExpression=f"SET {BROKERS_FINGERPRINT} = :b",
                ExpressionAttributeValues={":b": {"S": fingerprint}},
            )
        except ClientError as exc:
            raise translate(exc, f"UpdateItem {self._table}") from exc

    def record_advertised(self, cluster_arn: str, fingerprint: str) -> None:
        """Remember the mapping broker-override applied (only after the function said so)."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(cluster_arn),
                UpdateExpression="SET advertisedFingerprint = :a, advertisedAt = :t",
                ExpressionAttributeValues={
                    ":a": {"S": fingerprint},
                    ":t": {"S": datetime.now(UTC).isoformat()},
                },
            )
        except ClientError as exc:
            raise translate(exc, f"UpdateItem {self._table}") from exc
