"""What the reconciler handler calls: the reconcile stack around the core.

The configuration it reconciles is the operator's document plus the
admitted tenants of the cluster (onboarding/tenancy.py): without the merge a
reconcile would revoke every consumer the onboarding workflow allowed, and
endpoint services created by a scale-out would come up without them. The
merge happens before the plan, so new services carry every admitted tenant
before BrokerEndpointsChanged announces them.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.aws.errors import translate
from msk_privatelink.aws.pacing import DescribePacer
from msk_privatelink.onboarding.aws.tenants import TenantRegistry
from msk_privatelink.onboarding.settings import tenant_table_from_env
from msk_privatelink.onboarding.tenancy import with_tenants
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.aws.lease import ClusterLeases
from msk_privatelink.reconcile.aws.publisher import EndpointsPublisher
from msk_privatelink.reconcile.aws.reconcile_queue import enqueue
from msk_privatelink.reconcile.budget import TimeBudget
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.reconciler import ReconcileOutcome, Reconciler
from msk_privatelink.reconcile.settings import ReconcilerSettings
from msk_privatelink.reconcile.triggers import ReconcileRequest

if TYPE_CHECKING:
    from msk_privatelink.advertised.service import BrokerOverrideCall


# A fifth of the reconciler's 300 s timeout: past it a run reads at the API's
# pace, so pacing never makes a run time out.
PACED_SECONDS = 60.0
# The trigger of a request that carries on a run cut short by its time budget.
CONTINUE_TRIGGER = "continue"


class ReconcileService:
    def __init__(
        self,
        clients: AwsClients,
        settings: ReconcilerSettings,
        tenants: TenantRegistry | None = None,
        broker_override: BrokerOverrideCall | None = None,
    ) -> None:
        """``broker_override``: the call broker-override clusters use; by default
        the stack's Kafka admin function (KAFKA_ADMIN_FUNCTION_NAME). Without
        either, a broker-override cluster is refused with a ConfigError."""
        self._sqs = clients.sqs
        if tenants is None:
            table = tenant_table_from_env()
            tenants = TenantRegistry(clients.dynamodb, table) if table else None
        self.tenants = tenants
        self._retry_delay = settings.retry_delay_seconds
        self.store = ConfigStore(clients.ssm, settings.config_parameter_prefix)
        publisher = EndpointsPublisher(
            clients.events, clients.dynamodb, settings.event_bus_name, settings.state_table_name
        )
        leases = ClusterLeases(
            clients.dynamodb, settings.state_table_name, seconds=settings.lease_seconds
        )
        self.publisher = publisher
        if broker_override is None and settings.kafka_admin_function_name:
            # Only stacks deployed with the Kafka admin function load its client.
            from msk_privatelink.advertised.aws.kafka_admin_invoke import LambdaBrokerOverride

            broker_override = LambdaBrokerOverride(
                clients.lambda_, settings.kafka_admin_function_name
            )
        self.reconciler = Reconciler(
            clients, publisher, leases=leases, broker_override=broker_override
        )
        # Deep runs (the sweep) pace their Describe calls; event-driven runs
        # repair a broker's path as fast as the API answers.
        self.pacers: list[DescribePacer] = []
        for client, per_minute in (
            (clients.elbv2, settings.elb_describe_calls_per_minute),
            (clients.ec2, settings.ec2_describe_calls_per_minute),
        ):
            if per_minute > 0:
                pacer = DescribePacer(per_minute / 60, burst=max(1, per_minute // 15))
                pacer.attach(client)
                self.pacers.append(pacer)

    def effective_config(self, cluster_arn: str) -> ClusterConfig:
        """The stored configuration with the cluster's admitted tenants merged in."""
        config = self.store.get(cluster_arn)
        if self.tenants is None:
            return config
        return with_tenants(config, self.tenants.for_cluster(cluster_arn))

    def reconcile_cluster(
        self, cluster_arn: str, *, deep: bool = False, budget: TimeBudget | None = None
    ) -> ReconcileOutcome:
        return self.reconciler.reconcile(
            self.effective_config(cluster_arn), deep=deep, budget=budget
        )

    def reconcile(
        self, request: ReconcileRequest, budget: TimeBudget | None = None
    ) -> ReconcileOutcome:
        # The scheduled sweep is the deep check: it re-reads what event-driven
        # runs trust from marker tags, so changes made by hand are repaired.
        deep = request.trigger == "schedule"
        with ExitStack() as paced:
            if deep:
                for pacer in self.pacers:
                    paced.enter_context(pacer.active(PACED_SECONDS))
            return self.reconcile_cluster(request.cluster_arn, deep=deep, budget=budget)

    def continue_later(self, record: dict[str, Any], request: ReconcileRequest) -> None:
        """Queue the record's cluster again, behind this record in its message
        group: a run that stopped for time (or never started) carries on in the
        next invocation. The deduplication id comes from the record, so a
        retried invocation queues it once."""
        _, _, _, _, account, name = record["eventSourceARN"].split(":")
        try:
            url = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
        except ClientError as exc:
            raise translate(exc, "GetQueueUrl") from exc
        follow = ReconcileRequest(
            request.cluster_arn, CONTINUE_TRIGGER, f"continue:{record['messageId']}"[:128]
        )
        enqueue(self._sqs, url["QueueUrl"], [follow])

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
