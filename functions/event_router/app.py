"""Event router Lambda: EventBridge (MSK/EC2 CloudTrail, schedule) -> SQS FIFO."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.errors import InvalidEventError
from msk_privatelink.reconcile.router import RouterService
from msk_privatelink.reconcile.settings import RouterSettings

logger = Logger()
metrics = Metrics()


@lru_cache(maxsize=1)
def _service(settings: RouterSettings) -> RouterService:
    return RouterService(AwsClients(), settings)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    try:
        result = _service(RouterSettings.from_env()).route(event)
    except InvalidEventError as exc:
        # Malformed events are dropped on purpose: a retry would fail the same way.
        event_id = event.get("id") if isinstance(event, dict) else None
        logger.error("event skipped", extra={"error": str(exc), "event_id": event_id})
        metrics.add_metric("EventsSkipped", MetricUnit.Count, 1)
        return {"enqueued": [], "note": f"skipped: {exc}"}
    metrics.add_metric("ReconcilesEnqueued", MetricUnit.Count, len(result.enqueued))
    logger.info("routed", extra=result.to_dict())
    return result.to_dict()
