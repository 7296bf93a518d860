"""Shared set-up for tests on the embedded AWS: a cluster, its config, counters."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.naming import TAG_MANAGED_BY
from msk_privatelink.kernel.records import parse
from msk_privatelink.onboarding.aws.tenants import create_tenant_table
from msk_privatelink.reconcile.aws.actual import ActualStateReader
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.aws.lease import ClusterLeases
from msk_privatelink.reconcile.aws.msk import MskInventoryReader
from msk_privatelink.reconcile.aws.publisher import EndpointsPublisher
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.desired import build_desired
from msk_privatelink.reconcile.planner import compute_plan
from msk_privatelink.reconcile.reconciler import ReconcileOutcome, Reconciler
from msk_privatelink.reconcile.view import endpoints_view
from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.local.lambdas import (
    LocalFunctions,
    create_state_table,
    provider_environments,
)
from msk_privatelink_dev.local.stack import PROVIDER_TEMPLATE, Stack

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
FIXTURE_CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/"
    "7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
STACK = "test"
# template.yaml's names for the stack "test" (configuration prefix, bus); the
# tables CloudFormation would name itself are bound to these.
PREFIX = f"/msk-privatelink/{STACK}/clusters"
BUS = f"msk-privatelink-{STACK}"
TABLE = "msk-privatelink-test-state"
TENANT_TABLE = "msk-privatelink-test-tenants"

LEASE_SECONDS = 300
READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Query", "TestEventPattern", "Receive")


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


class CallCounter:
    """Counts AWS calls by operation name, made through one boto3 session.

    The cluster lease's DynamoDB writes are counted as ``UpdateItem:lease``
    and the change detector's baseline (the brokers a converged run applied)
    as ``UpdateItem:brokers``, apart from the publisher's ``UpdateItem``.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, params: Any = None, **_: Any) -> None:
        name = model.name
        if name == "UpdateItem" and isinstance(params, dict):
            body = params.get("body", b"")
            raw = body if isinstance(body, bytes) else str(body).encode()
            if b"lease#" in raw:
                name = "UpdateItem:lease"
            elif b"SET brokersFingerprint" in raw:
                name = "UpdateItem:brokers"
        self.calls[name] += 1

    @property
    def writes(self) -> Counter[str]:
        return Counter({k: v for k, v in self.calls.items() if is_mutating(k)})

    @property
    def reads(self) -> Counter[str]:
        return Counter({k: v for k, v in self.calls.items() if not is_mutating(k)})

    def reset(self) -> None:
        self.calls.clear()


class InjectedCrash(Exception):
    """Stands for the process dying at a chosen point."""


class CrashInjector:
    """Fails the Nth mutating call: before it reaches AWS, or right after it succeeded."""

    def __init__(self, at: int, *, after: bool = False) -> None:
        self.at = at
        self.after = after
        self.seen = 0
        self.operation: str | None = None
        # After the crash the process is gone: no further call (not even a
        # lease release in a `finally`) reaches AWS.
        self.dead = False

    def before(self, model: Any, **_: Any) -> None:
        if self.dead:
            raise InjectedCrash(f"process already dead, {model.name} never sent")
        if not is_mutating(model.name):
            return
        self.seen += 1
        if self.seen == self.at and not self.after:
            self.operation = model.name
            self.dead = True
            raise InjectedCrash(f"injected failure before call #{self.at} ({model.name})")

    def after_call(self, model: Any, **_: Any) -> None:
        if self.after and not self.dead and is_mutating(model.name) and self.seen == self.at:
            self.operation = model.name
            self.dead = True
            raise InjectedCrash(f"injected crash after call #{self.at} ({model.name})")


@dataclass
class World:
    aws: EmbeddedAws
    cluster_arn: str
    config: ClusterConfig
    vpc_id: str
    subnet_ids: tuple[str, ...]
    events_queue_url: str = ""
    counter: CallCounter = field(default_factory=CallCounter)
    # The leases' clock: tests move it forward to let a crashed holder's lease expire.
    now: float = 1_800_000_000.0

    def clock(self) -> float:
        return self.now

    def leases(self, clients: AwsClients) -> ClusterLeases:
        return ClusterLeases(clients.dynamodb, TABLE, seconds=LEASE_SECONDS, clock=self.clock)

    def published(self) -> list[dict[str, Any]]:
        """BrokerEndpointsChanged events that reached the provider bus so far."""
        sqs = self.aws.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            msgs = sqs.receive_message(
                QueueUrl=self.events_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.events_queue_url, ReceiptHandle=m["ReceiptHandle"])

    def session(self, *hooks: tuple[str, Callable[..., Any]]) -> boto3.Session:
        session = self.aws.session()
        session.events.register("before-call.*.*", self.counter)
        for event, hook in hooks:
            session.events.register(event, hook)
        return session

    def clients(self, *hooks: tuple[str, Callable[..., Any]]) -> AwsClients:
        return AwsClients(self.session(*hooks), region=self.aws.region)

    def reconciler(self, clients: AwsClients | None = None) -> Reconciler:
        clients = clients or self.clients()
        return Reconciler(
            clients,
            EndpointsPublisher(clients.events, clients.dynamodb, BUS, TABLE),
            leases=self.leases(clients),
        )

    def reconcile(self, config: ClusterConfig | None = None) -> ReconcileOutcome:
        return self.reconciler().reconcile(config or self.config)

    def residual_plan_size(self) -> int:
        clients = AwsClients(self.aws.session(), region=self.aws.region)
        if self.config.pattern == "shared-nlb":
            # Also the provider hosted zone, which only the reconciler reads.
            return len(Reconciler(clients).assess(self.config, deep=True).plan)
        inventory = MskInventoryReader(clients.kafka, clients.ec2).read(self.cluster_arn)
        actual = ActualStateReader(clients.elbv2, clients.ec2).read(self.cluster_arn)
        return len(compute_plan(build_desired(self.config, inventory), actual))

    def current_view(self) -> BrokerEndpointsChanged:
        clients = AwsClients(self.aws.session(), region=self.aws.region)
        inventory = MskInventoryReader(clients.kafka, clients.ec2).read(self.cluster_arn)
        actual = ActualStateReader(clients.elbv2, clients.ec2).read(self.cluster_arn)
        return endpoints_view(inventory, actual)

    def published_fingerprint(self) -> str | None:
        clients = AwsClients(self.aws.session(), region=self.aws.region)
        publisher = EndpointsPublisher(clients.events, clients.dynamodb, BUS, TABLE)
        return publisher.last_published(self.cluster_arn)[1]

    def broker_ips(self) -> dict[int, str]:
        kafka = self.aws.client("kafka")
        nodes = kafka.list_nodes(ClusterArn=self.cluster_arn)["NodeInfoList"]
        return {
            int(n["BrokerNodeInfo"]["BrokerId"]): n["BrokerNodeInfo"]["ClientVpcIpAddress"]
            for n in nodes
            if n["BrokerNodeInfo"].get("ClientVpcIpAddress")
        }

    def inventory_of_everything(self) -> dict[str, Any]:
        """Every NLB, target group (with targets), listener and endpoint service in the account."""
        elbv2 = self.aws.client("elbv2")
        ec2 = self.aws.client("ec2")
        lbs = elbv2.describe_load_balancers()["LoadBalancers"]
        tgs = elbv2.describe_target_groups()["TargetGroups"]
        targets = {
            tg["TargetGroupName"]: sorted(
                (d["Target"]["Id"], d["Target"]["Port"])
                for d in elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])[
                    "TargetHealthDescriptions"
                ]
            )
            for tg in tgs
        }
        listeners = {
            lb["LoadBalancerName"]: sorted(
                (
                    listener["Port"],
                    listener["DefaultActions"][0]["TargetGroupArn"].split("/")[-2],
                )
                for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])[
                    "Listeners"
                ]
            )
            for lb in lbs
        }
        services = ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
        return {
            "load_balancers": sorted(lb["LoadBalancerName"] for lb in lbs),
            "target_groups": targets,
            "listeners": listeners,
            "endpoint_services": sorted(
                (
                    next((t["Value"] for t in s.get("Tags", []) if t["Key"] == TAG_MANAGED_BY), ""),
                    tuple(s.get("NetworkLoadBalancerArns", [])),
                )
                for s in services
            ),
            "endpoint_service_count": len(services),
        }


def prepare_initial(w: World) -> None:
    """Nothing exists yet: the next reconcile creates everything."""


def prepare_ip_change(w: World) -> None:
    w.reconcile()
    w.published()
    w.aws.msk.replace_broker(w.cluster_arn, 2)


def prepare_scale_out(w: World) -> None:
    w.reconcile()
    w.published()
    w.aws.msk.scale(w.cluster_arn, 6)


def prepare_scale_in(w: World) -> None:
    w.aws.msk.scale(w.cluster_arn, 6)
    w.reconcile()
    w.published()
    w.aws.msk.scale(w.cluster_arn, 3)


def create_world(
    aws: EmbeddedAws,
    *,
    brokers: int = 3,
    auth: tuple[str, ...] = ("iam",),
    config_overrides: dict[str, Any] | None = None,
    client_broker: str = "TLS",
) -> World:
    network = aws.create_network(subnet_count=3)
    arn = aws.msk.create_cluster(
        "demo-cluster",
        list(network.subnet_ids),
        broker_count=brokers,
        auth=auth,
        client_broker=client_broker,
    )
    document: dict[str, Any] = {"cluster_arn": arn}
    document.update(config_overrides or {})
    config = parse(ClusterConfig, document)
    clients = AwsClients(aws.session(), region=aws.region)
    ConfigStore(clients.ssm, PREFIX).put(config)
    clients.events.create_event_bus(Name=BUS)
    create_state_table(clients.dynamodb, TABLE)
    # Everything published on the bus lands in a queue the tests can read.
    queue_url = clients.sqs.create_queue(QueueName="published-events")["QueueUrl"]
    queue_arn = clients.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    clients.events.put_rule(
        Name="capture", EventBusName=BUS, EventPattern=json.dumps({"source": ["msk-privatelink"]})
    )
    clients.events.put_targets(
        Rule="capture", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}]
    )
    return World(aws, arn, config, network.vpc_id, tuple(network.subnet_ids), queue_url)


@contextmanager
def world(**kwargs: Any) -> Iterator[World]:
    with EmbeddedAws() as aws:
        yield create_world(aws, **kwargs)


@contextmanager
def count_all_calls() -> Iterator[CallCounter]:
    """Count calls of every botocore session created inside the block.

    For code that builds its own sessions (the Lambda handlers, the CLI).
    """
    import botocore.handlers

    counter = CallCounter()
    entry = ("before-call.*.*", counter)
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    try:
        yield counter
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)


def with_cluster(text: str, cluster_arn: str) -> str:
    """The fixture's cluster replaced by another, in both forms CloudTrail
    writes it: URL-encoded in requestParameters, plain elsewhere."""
    return text.replace(quote(FIXTURE_CLUSTER_ARN, safe=""), quote(cluster_arn, safe="")).replace(
        FIXTURE_CLUSTER_ARN, cluster_arn
    )


def load_event(name: str, cluster_arn: str) -> dict[str, Any]:
    text = (EVENTS / name).read_text(encoding="utf-8")
    return json.loads(with_cluster(text, cluster_arn))


def stack_under_test(
    account: str = "123456789012", region: str = "us-east-1", **parameters: str
) -> Stack:
    """template.yaml deployed as the stack "test" (with the tables the tests name)."""
    return Stack(
        PROVIDER_TEMPLATE,
        STACK,
        account,
        region,
        parameters=parameters,
        names={"StateTable": TABLE, "TenantTable": TENANT_TABLE},
    )


def provider_stack(w: World) -> Stack:
    """The stack under test around this world's cluster."""
    return stack_under_test(w.aws.account_id, w.aws.region, ClusterArn=w.cluster_arn)


def local_functions(w: World, **overrides: str) -> tuple[LocalFunctions, str]:
    """The stack's handlers, with the environments template.yaml gives them,
    wired to the stack's reconcile queue (and its dead-letter queue) created
    as the template declares them: (functions, queue URL).

    Failed records come back at once here; after RETRY_DELAY_SECONDS (30 s)
    in a deployment."""
    queue_url = deploy_reconcile_queue(w)
    env = provider_environments(provider_stack(w), RETRY_DELAY_SECONDS="0", **overrides)
    return LocalFunctions(w.aws.session(), env, queue_url), queue_url


def deploy_reconcile_queue(w: World) -> str:
    """The stack's reconcile queue and its dead-letter queue as template.yaml
    declares them, and the tenant table the reconciler reads; the queue's URL."""
    stack = provider_stack(w)
    sqs = w.aws.client("sqs")
    stack.create_queue(sqs, "ReconcileDeadLetterQueue")
    queue_url = stack.create_queue(sqs, "ReconcileQueue")
    dynamodb = w.aws.client("dynamodb")
    if TENANT_TABLE not in dynamodb.list_tables()["TableNames"]:
        create_tenant_table(dynamodb, TENANT_TABLE)
    return queue_url
