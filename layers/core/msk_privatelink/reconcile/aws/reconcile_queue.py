"""Reconcile requests onto the FIFO queue, ten per SendMessageBatch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import translate
from msk_privatelink.kernel.errors import AwsCallError
from msk_privatelink.reconcile.triggers import ReconcileRequest

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

SQS_BATCH = 10


def enqueue(sqs: SQSClient, queue_url: str, requests: Sequence[ReconcileRequest]) -> None:
    """Send every request; a partly failed batch raises (the caller's invocation
    is retried, and the queue's deduplication ids drop what already went)."""
    for start in range(0, len(requests), SQS_BATCH):
        batch = requests[start : start + SQS_BATCH]
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {
                "Id": str(i),
                "MessageBody": r.to_json(),
                "MessageGroupId": r.group_id,
                "MessageDeduplicationId": r.deduplication_id,
            }
            for i, r in enumerate(batch)
        ]
        try:
            result = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except ClientError as exc:
            raise translate(exc, "SendMessageBatch") from exc
        if result.get("Failed"):
            failed = result["Failed"][0]
            raise AwsCallError(
                f"SendMessageBatch failed for {len(result['Failed'])} message(s): "
                f"{failed.get('Code')}: {failed.get('Message')}"
            )
