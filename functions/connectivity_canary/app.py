"""Connectivity canary Lambda: on its schedule, probes every cluster this
consumer stack serves; after consumer-sync's ``ready`` answer, the cluster it
names; as the stack's ProberCleanup custom resource, removes the prober
functions when the stack is deleted. Probing happens in one prober function
per consumer network; this function stays outside any VPC."""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.canary.cleanup import handle_custom_resource, is_custom_resource_request
from msk_privatelink.canary.environment import CanaryEnvironment
from msk_privatelink.canary.iam_token import msk_iam_token
from msk_privatelink.canary.probers import ProberFunctions
from msk_privatelink.canary.service import CanaryService, CanarySettings, ClusterResult
from msk_privatelink.consumer.aws.views import AppliedViews
from msk_privatelink.kernel.consumer_events import CONSUMER_EVENT_SOURCE

logger = Logger()
metrics = Metrics()


@lru_cache(maxsize=1)
def _service(env: CanaryEnvironment) -> CanaryService:
    clients = AwsClients(region=env.region)
    return CanaryService(
        views=AppliedViews(clients.dynamodb, env.views_table),
        ec2=clients.ec2,
        events=clients.events,
        # lambda_ waits long enough for the prober's run (INVOKE_CONFIG).
        probers=ProberFunctions(clients.lambda_, env.prober),
        # The metadata check's SCRAM secrets (canary/credentials.py) and,
        # where enabled, its IAM tokens, signed with this function's role.
        secrets=clients.secretsmanager,
        iam_token=partial(_sign, clients) if env.metadata_iam else None,
        settings=CanarySettings(
            account_id=env.account_id,
            region=env.region,
            event_bus_name=env.event_bus_name,
            probe=env.probe,
        ),
    )


def _sign(clients: AwsClients, region: str) -> str:
    credentials = clients.session.get_credentials()
    if credentials is None:
        raise ValueError("no AWS credentials")
    return msk_iam_token(credentials.get_frozen_credentials(), region)


def cluster_of(event: dict[str, Any]) -> str | None:
    """The cluster a consumer-sync ``ready`` answer names; None: every cluster."""
    detail = event.get("detail")
    if (
        event.get("source") == CONSUMER_EVENT_SOURCE
        and event.get("detail-type") == "ConsumerEndpointsReady"
        and isinstance(detail, dict)
        and detail.get("state") == "ready"
        and isinstance(detail.get("clusterArn"), str)
    ):
        return str(detail["clusterArn"])
    return None


def _publish(outcome: ClusterResult) -> None:
    cluster = outcome.check.cluster_arn.split("/")[1]
    unreachable = outcome.unreachable_brokers()
    with single_metric(
        name="UnreachableBrokers",
        unit=MetricUnit.Count,
        value=len(unreachable),
        namespace=metrics.namespace,
    ) as metric:
        metric.add_dimension(name="ClusterName", value=cluster)
    # Only brokers that failed get a metric of their own: one per broker
    # and run would cost a custom metric per broker for every cluster.
    for broker in unreachable:
        with single_metric(
            name="BrokerUnreachable", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="ClusterName", value=cluster)
            metric.add_dimension(name="Broker", value=broker)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    service = _service(CanaryEnvironment.from_env())
    if is_custom_resource_request(event):
        # The stack's ProberCleanup resource: on delete, the probers go too.
        answer = handle_custom_resource(event, service.probers)
        metrics.add_metric(
            name="ProbersRemoved", unit=MetricUnit.Count, value=int(answer["Data"]["Removed"])
        )
        return answer
    outcomes = service.run(cluster_of(event))
    for outcome in outcomes:
        _publish(outcome)
        logger.info(
            "cluster checked",
            extra={
                "cluster_arn": outcome.check.cluster_arn,
                "state": outcome.state,
                "probes": len(outcome.results),
                "failed": [r.to_dict() for r in outcome.failed[:50]],
                "pending": list(outcome.check.pending),
                "misadvertised": {str(b): t for b, t in outcome.misadvertised.items()},
                "problems": [
                    *outcome.check.problems,
                    *outcome.problems,
                    *outcome.metadata_problems,
                    *outcome.notes,
                ],
            },
        )
    # The alarm's metric: every unreachable broker of every cluster, per run.
    metrics.add_metric(
        name="UnreachableBrokersTotal",
        unit=MetricUnit.Count,
        value=sum(len(o.unreachable_brokers()) for o in outcomes),
    )
    return {"clusters": {o.check.cluster_arn: o.state for o in outcomes}}
