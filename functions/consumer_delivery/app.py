"""Consumer delivery Lambda: provider events queued by the provider bus's one
consumer rule -> PutEvents on each subscribed tenant's bus."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.onboarding.aws.tenants import TenantRegistry
from msk_privatelink.onboarding.delivery import ConsumerDelivery, DeliveryQueue, handle
from msk_privatelink.onboarding.settings import DeliverySettings

logger = Logger()
metrics = Metrics()
# A record that raises (the registry unreadable) comes back through the
# queue and, after its receives, lands in the dead-letter queue.
processor = BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=1)
def _delivery(settings: DeliverySettings) -> tuple[ConsumerDelivery, DeliveryQueue]:
    clients = AwsClients()
    by_region: dict[str, Any] = {}

    def events_in(region: str) -> Any:
        # PutEvents goes to the Region of the bus it names.
        if region not in by_region:
            by_region[region] = AwsClients(region=region).events
        return by_region[region]

    sqs = clients.sqs

    def send(url: str, body: str, delay: int) -> None:
        sqs.send_message(QueueUrl=url, MessageBody=body, DelaySeconds=delay)

    return (
        ConsumerDelivery(TenantRegistry(clients.dynamodb, settings.tenant_table_name), events_in),
        DeliveryQueue(send, settings.queue_url, settings.dead_letter_queue_url),
    )


def _record_handler(record: SQSRecord) -> None:
    delivery, queue = _delivery(DeliverySettings.from_env())
    handled = handle(delivery, queue, record.body)
    metrics.add_metric("ConsumerDeliveries", MetricUnit.Count, len(handled.result.delivered))
    metrics.add_metric("ConsumerDeliveryRetries", MetricUnit.Count, handled.retried)
    metrics.add_metric("ConsumerDeliveryDeadLetters", MetricUnit.Count, handled.dead_lettered)
    if handled.result.failed:
        logger.warning("deliveries failed", extra=handled.result.to_dict())
    else:
        logger.info("delivered", extra=handled.result.to_dict())


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=_record_handler, processor=processor, context=context
    )
