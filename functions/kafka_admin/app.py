"""Kafka admin Lambda: apply a broker-override request to the brokers (runs in the cluster's VPC).

Invoked by the reconciler with Invoke (RequestResponse); answers an
AdvertisedResponse as a dict. A request that does not validate is answered
as failed (never retried); Kafka trouble is answered too, with ``retryable``
saying whether a later run may succeed. Credentials never reach a log line.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from msk_privatelink.advertised.kafka_admin import apply_request
from msk_privatelink.advertised.outcome import AdvertisedStatus
from msk_privatelink.advertised.request import AdvertisedRequest, AdvertisedResponse
from msk_privatelink.aws.clients import BOTO_CONFIG, AwsClients
from msk_privatelink.kernel.errors import InvalidEventError

logger = Logger()
metrics = Metrics()
# Per Kafka call; the function's own timeout must leave room for verification.
KAFKA_TIMEOUT_SECONDS = float(os.environ.get("KAFKA_TIMEOUT_SECONDS", "15"))


@lru_cache(maxsize=1)
def _secrets() -> Any:
    clients = AwsClients()
    return clients.session.client("secretsmanager", region_name=clients.region, config=BOTO_CONFIG)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    try:
        request = AdvertisedRequest.from_dict(event)
    except InvalidEventError as exc:
        logger.error("request refused", extra={"error": str(exc)})
        return AdvertisedResponse(AdvertisedStatus.FAILED, str(exc), error="request").to_dict()
    logger.append_keys(cluster_arn=request.cluster_arn, admin_auth=request.connection.auth.value)
    secrets = _secrets() if request.connection.scram_secret_arn else None
    response = apply_request(request, secrets=secrets, timeout=KAFKA_TIMEOUT_SECONDS)
    metrics.add_metric(f"BrokerOverride_{response.status.value}", MetricUnit.Count, 1)
    metrics.add_metric("ReAdvertisedBrokers", MetricUnit.Count, len(response.changed_brokers))
    logger.info("broker override", extra=response.to_dict())
    return response.to_dict()
