"""What the reconciler handler calls: the reconcile stack around the core."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .aws.clients import AwsClients
from .aws.config_store import ConfigStore
from .aws.lease import ClusterLeases
from .aws.publisher import EndpointsPublisher
from .reconcile import ReconcileOutcome, Reconciler
from .settings import ReconcilerSettings
from .triggers import ReconcileRequest


class ReconcileService:
    def __init__(self, clients: AwsClients, settings: ReconcilerSettings) -> None:
        self._sqs = clients.sqs
        self._retry_delay = settings.retry_delay_seconds
        self.store = ConfigStore(clients.ssm, settings.config_parameter_prefix)
        publisher = EndpointsPublisher(
            clients.events, clients.dynamodb, settings.event_bus_name, settings.state_table_name
        )
        leases = ClusterLeases(
            clients.dynamodb, settings.state_table_name, seconds=settings.lease_seconds
        )
        self.reconciler = Reconciler(clients, publisher, leases=leases)

    def reconcile(self, request: ReconcileRequest) -> ReconcileOutcome:
        # The scheduled sweep is the deep check: it re-reads what event-driven
        # runs trust from marker tags, so changes made by hand are repaired.
        deep = request.trigger == "schedule"
        return self.reconciler.reconcile(self.store.get(request.cluster_arn), deep=deep)

    def retry_soon(self, records: list[dict[str, Any]]) -> None:
        """Shorten the visibility timeout of failed SQS records (best effort)."""
        by_queue: dict[str, list[str]] = {}
        for record in records:
            by_queue.setdefault(record["eventSourceARN"], []).append(record["receiptHandle"])
        for queue_arn, handles in by_queue.items():
            _, _, _, _, account, name = queue_arn.split(":")
            try:
                url = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
                for handle in handles:
                    self._sqs.change_message_visibility(
                        QueueUrl=url["QueueUrl"],
                        ReceiptHandle=handle,
                        VisibilityTimeout=self._retry_delay,
                    )
            except ClientError:
                # The record still comes back after the queue's own timeout.
                continue
