"""Consumers' events on the provider bus: ConsumerEndpointsReady -> the waiting
workflow's task token; ConsumerConnectivityReport -> the tenant's stored
connectivity (onboarding/callback.py checks who sent each)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from msk_privatelink.aws.clients import BOTO_CONFIG, AwsClients
from msk_privatelink.onboarding.aws.tenants import TenantRegistry
from msk_privatelink.onboarding.callback import TaskCallbacks
from msk_privatelink.onboarding.settings import tenant_table_from_env

logger = Logger()
metrics = Metrics()


@lru_cache(maxsize=1)
def _callbacks(table: str) -> TaskCallbacks:
    clients = AwsClients()
    sfn = clients.session.client("stepfunctions", region_name=clients.region, config=BOTO_CONFIG)
    return TaskCallbacks(TenantRegistry(clients.dynamodb, table), sfn, clients.ec2)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    table = tenant_table_from_env()
    if table is None:
        raise RuntimeError("TENANT_TABLE_NAME is not set")
    outcome = _callbacks(table).handle(event)
    metrics.add_metric(f"Callback_{outcome.verdict}", MetricUnit.Count, 1)
    logger.info("consumer reply", extra={"verdict": outcome.verdict, "why": outcome.why})
    return {"verdict": outcome.verdict, "why": outcome.why}
