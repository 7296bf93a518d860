"""A per-cluster lease in DynamoDB: two reconciles of one cluster never both write.

The FIFO message group already serializes the reconciler's own runs; the
lease also covers the CLI's `apply` and a redelivery that overlaps a run that
is still going. A holder that crashed stops blocking others when its lease
expires (the lease outlives the function timeout, so a live holder never
loses it). Expiry is compared in code: DynamoDB's TTL deletion is only
housekeeping and may lag by days.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.errors import RetryableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_LEASE_SECONDS = 300


class LeaseHeldError(RetryableError):
    """Another reconcile of the same cluster holds the lease."""


# Clocks of different hosts may disagree by this much.
CLOCK_SKEW_SECONDS = 5.0


@dataclass(frozen=True)
class Lease:
    cluster_arn: str
    owner: str
    expires_at: float
    # When the previous holder's write window ended at the latest (its release
    # or its expiry); None when nobody else held this lease before.
    previous_holder_until: float | None = None

    def others_wrote_since(self, moment: float) -> bool:
        """Could another holder have written after ``moment``?"""
        if self.previous_holder_until is None:
            return False
        return self.previous_holder_until > moment - CLOCK_SKEW_SECONDS


class ClusterLeases:
    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        seconds: int = DEFAULT_LEASE_SECONDS,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._seconds = seconds
        self._owner = owner or str(uuid.uuid4())
        self._clock = clock

    @staticmethod
    def _key(cluster_arn: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"lease#{cluster_arn}"}}

    def now(self) -> float:
        return self._clock()

    def acquire(self, cluster_arn: str) -> Lease:
        now = self._clock()
        expires = now + self._seconds
        try:
            answer = self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(cluster_arn),
                UpdateExpression="SET holder = :me, expiresAt = :exp, #ttl = :ttl",
                ConditionExpression="attribute_not_exists(pk) OR expiresAt <= :now OR holder = :me",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":me": {"S": self._owner},
                    ":exp": {"N": f"{expires:.3f}"},
                    ":now": {"N": f"{now:.3f}"},
                    ":ttl": {"N": str(int(expires) + 86_400)},
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise LeaseHeldError(
                    f"another reconcile of {cluster_arn} holds the lease; this one retries later"
                ) from exc
            raise translate(exc, f"UpdateItem {self._table} (lease)") from exc
        old = answer.get("Attributes", {})
        previous = None
        if old and old.get("holder", {}).get("S") != self._owner:
            previous = float(old["expiresAt"]["N"])
        return Lease(cluster_arn, self._owner, expires, previous)

    def release(self, lease: Lease) -> None:
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(lease.cluster_arn),
                # Expired from now on; the time also tells the next holder when
                # this one's writes ended.
                UpdateExpression="SET expiresAt = :now",
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={
                    ":me": {"S": lease.owner},
                    ":now": {"N": f"{self._clock():.3f}"},
                },
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return  # expired and taken over: nothing of ours to release
            raise translate(exc, f"UpdateItem {self._table} (lease release)") from exc

    @contextmanager
    def held(self, cluster_arn: str) -> Iterator[Lease]:
        lease = self.acquire(cluster_arn)
        try:
            yield lease
        finally:
            self.release(lease)
