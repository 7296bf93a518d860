"""The view each cluster's consumer side was last built from: one DynamoDB
item per cluster in the consumer stack's ``AppliedViewsTable``.

The hosted zone's generation tag says *which* view is in place; the
connectivity canary needs *what* it holds (every broker name, its ports per
scheme, the endpoint serving it) and where the consumer's clients live (the
VPC, subnets and security groups onboarding named). A table rather than the
tenancy parameter: a 180-broker view is tens of kilobytes, past Parameter
Store's 8 KB, while a DynamoDB item holds 400 KB and an EventBridge event (the
view arrived in one) at most 256 KB.

Written after the view is applied (a crash before the write leaves the
retried event to write it), only forwards: a view never replaces a newer one.
Removed at offboarding before the tenancy is forgotten.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.consumer.aws.registry import Tenancy
from msk_privatelink.kernel.consumer_events import ClusterArn
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import CamelRecord, InvalidRecord, parse_json, to_json

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY = "clusterArn"


class AppliedView(CamelRecord, frozen=True, kw_only=True):
    """One cluster's consumer side as the last applied event made it."""

    version: Literal[1] = 1
    cluster_arn: ClusterArn
    generation: int
    tenancy: Tenancy
    view: BrokerEndpointsChanged
    # Endpoint service name -> the interface endpoint serving it here.
    endpoints: dict[str, str]
    applied_at: str = ""


class AppliedViews:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._dynamodb = dynamodb
        self._table = table_name

    def put(
        self,
        tenancy: Tenancy,
        view: BrokerEndpointsChanged,
        generation: int,
        endpoints: dict[str, str],
    ) -> bool:
        """Store the view applied at ``generation``; False when it or a newer
        one is already stored (a repeated event writes nothing)."""
        current = self.get(tenancy.cluster_arn)
        if current is not None and (
            current.generation > generation
            or (current.generation, current.tenancy, current.view, current.endpoints)
            == (generation, tenancy, view, endpoints)
        ):
            return False
        record = AppliedView(
            cluster_arn=tenancy.cluster_arn,
            generation=generation,
            tenancy=tenancy,
            view=view,
            endpoints=dict(sorted(endpoints.items())),
            applied_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    KEY: {"S": tenancy.cluster_arn},
                    "generation": {"N": str(generation)},
                    "document": {"S": to_json(record)},
                },
                # The same generation again is written (onboarding into another
                # VPC keeps the generation); an older one never.
                ConditionExpression="attribute_not_exists(#k) OR generation <= :g",
                ExpressionAttributeNames={"#k": KEY},
                ExpressionAttributeValues={":g": {"N": str(generation)}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise translate(exc, f"PutItem {self._table}") from exc
        return True

    def get(self, cluster_arn: str) -> AppliedView | None:
        try:
            item = self._dynamodb.get_item(
                TableName=self._table, Key={KEY: {"S": cluster_arn}}, ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise translate(exc, f"GetItem {self._table}") from exc
        return None if item is None else self._decode(item)

    def forget(self, cluster_arn: str) -> None:
        try:
            self._dynamodb.delete_item(TableName=self._table, Key={KEY: {"S": cluster_arn}})
        except ClientError as exc:
            raise translate(exc, f"DeleteItem {self._table}") from exc

    def all(self) -> Iterator[AppliedView]:
        """Every stored view (one consumer stack serves a handful of clusters)."""
        paginator = self._dynamodb.get_paginator("scan")
        try:
            for page in paginator.paginate(TableName=self._table, ConsistentRead=True):
                for item in page.get("Items", []):
                    yield self._decode(item)
        except ClientError as exc:
            raise translate(exc, f"Scan {self._table}") from exc

    def _decode(self, item: Mapping[str, Any]) -> AppliedView:
        name = str(item.get(KEY, {}))
        document = item.get("document")
        if not isinstance(document, dict) or "S" not in document:
            raise ConfigError(f"{self._table} item {name[:120]} has no document")
        try:
            # Checked again when read: the table is writable by anyone with
            # DynamoDB access in the account.
            return parse_json(AppliedView, document["S"])
        except InvalidRecord as exc:
            raise ConfigError(f"{self._table} item is not an applied view: {exc}") from exc
