"""Consumer-sync Lambda: onboarding, offboarding and BrokerEndpointsChanged
events from the provider, delivered by the consumer bus (one at a time)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.consumer.service import ConsumerSyncService, ConsumerSyncSettings
from msk_privatelink.kernel.errors import MskPrivateLinkError

logger = Logger()
metrics = Metrics()


@lru_cache(maxsize=1)
def _service(settings: ConsumerSyncSettings) -> ConsumerSyncService:
    return ConsumerSyncService(AwsClients(region=settings.region), settings)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    # Outside the try: a broken deployment must fail loudly (and reach the DLQ).
    service = _service(ConsumerSyncSettings.from_env())
    try:
        handled = service.handle(event)
    except MskPrivateLinkError as exc:
        metrics.add_metric("ConsumerSyncErrors", MetricUnit.Count, 1)
        if exc.retryable:
            # Lambda retries the invocation, then the failure destination.
            logger.warning("consumer sync failed, will retry", extra={"error": str(exc)})
            raise
        # Terminal (e.g. a corrupt tenancy parameter): retrying cannot fix it.
        metrics.add_metric("ConsumerSyncFailures", MetricUnit.Count, 1)
        logger.error(
            "consumer sync failed, not retried",
            extra={"error": str(exc), "kind": type(exc).__name__},
        )
        return {"status": "failed", "reason": str(exc)}
    result = handled.to_dict()
    logger.append_keys(cluster_arn=handled.cluster_arn, detail_type=handled.kind)
    if handled.status == "refused":
        metrics.add_metric("RefusedEvents", MetricUnit.Count, 1)
        logger.error("event refused, nothing changed", extra=result)
    elif handled.status == "failed":
        metrics.add_metric("ConsumerSyncFailures", MetricUnit.Count, 1)
        logger.error("consumer side failed, provider told", extra=result)
    else:
        metrics.add_metric("AppliedChanges", MetricUnit.Count, handled.changes)
        logger.info(f"event {handled.status}", extra=result)
    return result
