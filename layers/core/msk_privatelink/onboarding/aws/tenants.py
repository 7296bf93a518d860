"""The tenant registry: one DynamoDB item per (cluster ARN, consumer account).

One item per account, not per account and Region: the endpoint services'
allow-list holds the account's root principal, which is account-wide, so two
Regions of one account would share a principal and revoking one would need
reference counting. An account reaches a cluster from one Region and VPC;
moving it is offboarding then onboarding.

Every transition is a conditional write, so two executions (or an execution
and an operator) can never move a tenant through an order the workflows do
not allow.

The consumer's last connectivity report is kept on the same item
(``connectivity``), written apart from the workflow's attributes: it never
changes ``state``, ``tokenHash`` or ``updatedAt`` (the version ``register``
conditions on), so a report can never make a workflow's write fail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.errors import TerminalError
from msk_privatelink.onboarding.connectivity import Connectivity

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TenantState = Literal["PENDING", "ACTIVE", "FAILED", "OFFBOARDING", "OFFBOARDED"]
# Tenants whose principal and Region the endpoint services must carry.
ADMITTED_STATES: frozenset[str] = frozenset({"PENDING", "ACTIVE"})
# A new onboarding may start over these.
RESTARTABLE_STATES: frozenset[str] = frozenset({"FAILED", "OFFBOARDED"})
# Tenants the cluster's events are delivered to: from registration until
# offboarding has finished (its request must still reach the consumer).
SUBSCRIBED_STATES: frozenset[str] = frozenset({"PENDING", "ACTIVE", "OFFBOARDING"})
# Tenants whose connectivity reports are stored: onboarded ones. While a
# tenant is PENDING the workflow checks its endpoints itself; the canary's
# next run after it is ACTIVE reports again.
REPORTING_STATES: frozenset[str] = frozenset({"ACTIVE"})
# The tenant table's index by consumer account (template.yaml): which
# clusters an account is a tenant of, without reading every cluster.
ACCOUNT_INDEX = "byConsumerAccount"


class TenantConflictError(TerminalError):
    """The request contradicts the tenant's recorded state."""


class TenantNotFoundError(TerminalError):
    """No tenant for this cluster and account."""


def token_hash(task_token: str) -> str:
    """What is stored instead of a task token: enough to recognise it, useless to replay."""
    return hashlib.sha256(task_token.encode()).hexdigest()


@dataclass(frozen=True)
class Tenant:
    cluster_arn: str
    account_id: str
    region: str
    vpc_id: str
    state: TenantState
    request_digest: str
    request: str
    consumer_bus_arn: str
    reason: str = ""
    token_hash: str = ""
    generation: int = 0
    created_at: str = ""
    updated_at: str = ""
    connectivity: Connectivity | None = None

    @property
    def principal(self) -> str:
        partition = self.cluster_arn.split(":")[1]
        return f"arn:{partition}:iam::{self.account_id}:root"

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Tenant:
        def s(name: str) -> str:
            return str(item.get(name, {}).get("S", ""))

        state = s("state")
        if state not in ("PENDING", "ACTIVE", "FAILED", "OFFBOARDING", "OFFBOARDED"):
            raise TerminalError(f"tenant item has an unknown state {state!r}")
        return cls(
            cluster_arn=s("clusterArn"),
            account_id=s("consumerAccountId"),
            region=s("consumerRegion"),
            vpc_id=s("vpcId"),
            state=state,  # type: ignore[arg-type]  # checked just above
            request_digest=s("requestDigest"),
            request=s("request"),
            consumer_bus_arn=s("consumerEventBusArn"),
            reason=s("reason"),
            token_hash=s("tokenHash"),
            generation=int(item.get("generation", {}).get("N", "0")),
            created_at=s("createdAt"),
            updated_at=s("updatedAt"),
            connectivity=Connectivity.from_attribute(item.get("connectivity")),
        )


def _now() -> str:
    return datetime.now(UTC).isoformat()


class TenantRegistry:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    @staticmethod
    def _key(cluster_arn: str, account_id: str) -> dict[str, Any]:
        return {"clusterArn": {"S": cluster_arn}, "consumerAccountId": {"S": account_id}}

    def get(self, cluster_arn: str, account_id: str) -> Tenant | None:
        try:
            item = self._db.get_item(
                TableName=self._table, Key=self._key(cluster_arn, account_id), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise translate(exc, f"GetItem {self._table}") from exc
        return Tenant.from_item(item) if item else None

    def require(self, cluster_arn: str, account_id: str) -> Tenant:
        tenant = self.get(cluster_arn, account_id)
        if tenant is None:
            raise TenantNotFoundError(f"account {account_id} is not a tenant of {cluster_arn}")
        return tenant

    def for_cluster(self, cluster_arn: str) -> list[Tenant]:
        tenants: list[Tenant] = []
        try:
            pages = self._db.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="clusterArn = :c",
                ExpressionAttributeValues={":c": {"S": cluster_arn}},
                ConsistentRead=True,
            )
            for page in pages:
                tenants += [Tenant.from_item(item) for item in page.get("Items", [])]
        except ClientError as exc:
            raise translate(exc, f"Query {self._table}") from exc
        return tenants

    def subscriptions_of(self, account_id: str) -> dict[str, str]:
        """Cluster ARN -> state of every tenant item of the account (the
        account index: eventually consistent, a moment behind a write)."""
        found: dict[str, str] = {}
        try:
            pages = self._db.get_paginator("query").paginate(
                TableName=self._table,
                IndexName=ACCOUNT_INDEX,
                KeyConditionExpression="consumerAccountId = :a",
                ExpressionAttributeValues={":a": {"S": account_id}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    found[item["clusterArn"]["S"]] = item.get("state", {}).get("S", "")
        except ClientError as exc:
            raise translate(exc, f"Query {self._table} {ACCOUNT_INDEX}") from exc
        return found

    def register(
        self,
        *,
        cluster_arn: str,
        account_id: str,
        region: str,
        vpc_id: str,
        consumer_bus_arn: str,
        request_digest: str,
        request: str,
    ) -> tuple[Tenant, bool]:
        """Record a PENDING tenant. Returns the tenant and whether it was already
        ACTIVE for this very request (then nothing is written: a no-op success)."""
        current = self.get(cluster_arn, account_id)
        if current is not None:
            same = current.request_digest == request_digest
            if current.state == "ACTIVE" and same:
                return current, True
            if current.state == "PENDING" and same:
                # The same request again while it runs (or after a crash): resume.
                return current, False
            if current.state not in RESTARTABLE_STATES:
                raise TenantConflictError(
                    f"account {account_id} is already a tenant of {cluster_arn} in state "
                    f"{current.state} with a different request (region {current.region}, "
                    f"vpc {current.vpc_id}); offboard it first"
                )
        now = _now()
        item = {
            **self._key(cluster_arn, account_id),
            "state": {"S": "PENDING"},
            "consumerRegion": {"S": region},
            "vpcId": {"S": vpc_id},
            "consumerEventBusArn": {"S": consumer_bus_arn},
            "requestDigest": {"S": request_digest},
            "request": {"S": request},
            "createdAt": {"S": now},
            "updatedAt": {"S": now},
        }
        try:
            if current is None:
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(clusterArn)",
                )
            else:
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="#s = :seen AND updatedAt = :at",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues={
                        ":seen": {"S": current.state},
                        ":at": {"S": current.updated_at},
                    },
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise TenantConflictError(
                    f"tenant {account_id} of {cluster_arn} changed while registering; retry"
                ) from exc
            raise translate(exc, f"PutItem {self._table}") from exc
        return self.require(cluster_arn, account_id), False

    def transition(
        self,
        cluster_arn: str,
        account_id: str,
        *,
        allowed_from: frozenset[str],
        to: TenantState,
        reason: str = "",
        generation: int | None = None,
        request_digest: str | None = None,
    ) -> Tenant:
        """Move the tenant to ``to`` if it is in one of ``allowed_from`` (and,
        with ``request_digest``, still belongs to that request)."""
        values: dict[str, Any] = {
            ":to": {"S": to},
            ":now": {"S": _now()},
            ":reason": {"S": reason},
            **{f":f{i}": {"S": s} for i, s in enumerate(sorted(allowed_from))},
        }
        update = "SET #s = :to, updatedAt = :now, reason = :reason REMOVE tokenHash"
        if generation is not None:
            update = update.replace(" REMOVE", ", generation = :g REMOVE")
            values[":g"] = {"N": str(generation)}
        condition = "attribute_exists(clusterArn) AND #s IN ({})".format(
            ", ".join(f":f{i}" for i in range(len(allowed_from)))
        )
        if request_digest is not None:
            condition += " AND requestDigest = :d"
            values[":d"] = {"S": request_digest}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(cluster_arn, account_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                current = self.get(cluster_arn, account_id)
                if (
                    current is not None
                    and current.state == to
                    and (request_digest is None or current.request_digest == request_digest)
                ):
                    return current  # already done (a retried step)
                seen = current.state if current else "absent"
                raise TenantConflictError(
                    f"tenant {account_id} of {cluster_arn} is {seen}; cannot move it to {to} "
                    f"(allowed from {', '.join(sorted(allowed_from))})"
                ) from exc
            raise translate(exc, f"UpdateItem {self._table}") from exc
        return self.require(cluster_arn, account_id)

    def record_token(
        self, cluster_arn: str, account_id: str, task_token: str, *, expected_state: TenantState
    ) -> None:
        """Keep the hash of the task token the workflow is waiting on."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(cluster_arn, account_id),
                UpdateExpression="SET tokenHash = :h, updatedAt = :now",
                ConditionExpression="#s = :state",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":h": {"S": token_hash(task_token)},
                    ":now": {"S": _now()},
                    ":state": {"S": expected_state},
                },
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise TenantConflictError(
                    f"tenant {account_id} of {cluster_arn} is no longer {expected_state}"
                ) from exc
            raise translate(exc, f"UpdateItem {self._table}") from exc

    def record_connectivity(
        self,
        cluster_arn: str,
        account_id: str,
        *,
        region: str,
        vpc_id: str,
        connectivity: Connectivity,
    ) -> bool:
        """Store ``connectivity`` as the tenant's last report. Only on an
        existing item of a tenant in REPORTING_STATES with this Region and VPC
        (checked in the write itself, so a tenant offboarded meanwhile is not
        written), and only over a report checked earlier and of the same or an
        older generation. False when that condition failed: nothing written.

        SET of this one attribute: ``updatedAt``, ``state`` and ``tokenHash``
        belong to the workflows and stay as they are."""
        states = sorted(REPORTING_STATES)
        values: dict[str, Any] = {
            ":c": connectivity.to_attribute(),
            ":r": {"S": region},
            ":v": {"S": vpc_id},
            ":g": {"N": str(connectivity.generation)},
            ":at": {"S": connectivity.checked_at},
            **{f":s{i}": {"S": s} for i, s in enumerate(states)},
        }
        condition = (
            "attribute_exists(clusterArn) AND #s IN ({}) AND consumerRegion = :r "
            "AND vpcId = :v AND (attribute_not_exists(#c) OR (#c.#g <= :g AND #c.#at < :at))"
        ).format(", ".join(f":s{i}" for i in range(len(states))))
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(cluster_arn, account_id),
                UpdateExpression="SET #c = :c",
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    "#s": "state",
                    "#c": "connectivity",
                    "#g": "generation",
                    "#at": "checkedAt",
                },
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise translate(exc, f"UpdateItem {self._table}") from exc
        return True


def create_tenant_table(dynamodb: DynamoDBClient, name: str) -> None:
    """The tenant table as template.yaml declares it (for the embedded AWS)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "clusterArn", "KeyType": "HASH"},
            {"AttributeName": "consumerAccountId", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "clusterArn", "AttributeType": "S"},
            {"AttributeName": "consumerAccountId", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": ACCOUNT_INDEX,
                "KeySchema": [
                    {"AttributeName": "consumerAccountId", "KeyType": "HASH"},
                    {"AttributeName": "clusterArn", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["state"]},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
