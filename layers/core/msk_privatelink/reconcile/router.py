"""What the router handler calls: config listing and the FIFO queue, nothing
of the reconcile stack (kept out of the router's cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.aws.errors import translate
from msk_privatelink.kernel.errors import AwsCallError
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.settings import RouterSettings
from msk_privatelink.reconcile.triggers import route

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

SQS_BATCH = 10


@dataclass(frozen=True)
class RouteResult:
    enqueued: tuple[str, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"enqueued": list(self.enqueued), "note": self.note}


class RouterService:
    def __init__(self, clients: AwsClients, settings: RouterSettings) -> None:
        self._sqs = clients.sqs
        self._queue_url = settings.queue_url
        self.store = ConfigStore(clients.ssm, settings.config_parameter_prefix)

    def configured_clusters(self) -> list[str]:
        return self.store.cluster_arns()

    def route(self, event: dict[str, Any]) -> RouteResult:
        routing = route(event, self.configured_clusters())
        requests = list(routing.requests)
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
                result = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except ClientError as exc:
                raise translate(exc, "SendMessageBatch") from exc
            if result.get("Failed"):
                failed = result["Failed"][0]
                raise AwsCallError(
                    f"SendMessageBatch failed for {len(result['Failed'])} message(s): "
                    f"{failed.get('Code')}: {failed.get('Message')}"
                )
        return RouteResult(tuple(r.cluster_arn for r in requests), routing.note)
