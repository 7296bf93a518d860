"""Change detector Lambda: every minute, ListNodes per configured cluster;
a cluster whose brokers differ from the last converged reconcile's gets a
reconcile request on the FIFO queue."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.reconcile.detector import ChangeDetector
from msk_privatelink.reconcile.settings import DetectorSettings

logger = Logger()
metrics = Metrics()


@lru_cache(maxsize=1)
def _service(settings: DetectorSettings) -> ChangeDetector:
    return ChangeDetector(AwsClients(), settings)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    # The schedule's event says only "now": every tick looks at every cluster.
    result = _service(DetectorSettings.from_env()).detect()
    metrics.add_metric("BrokerChangesDetected", MetricUnit.Count, len(result.changed))
    metrics.add_metric("ClustersUnread", MetricUnit.Count, len(result.unread))
    logger.info("detected", extra=result.to_dict())
    return result.to_dict()
