"""`make demo`: the whole story on the embedded AWS, no account needed.

A VPC with three subnets and a three-broker MSK cluster; the configuration
document stored as the stack stores it; then the real router and reconciler
handlers react to the events in ``events/`` while MSK replaces a broker and
scales 3 -> 6 -> 3. After every step the converged state is verified
independently of the planner, and the demo exits non-zero if it does not hold.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .aws.clients import AwsClients
from .aws.config_store import ConfigStore
from .config import ClusterConfig
from .local_lambda import REPO_ROOT, LocalFunctions, create_state_table, handler_environment
from .naming import load_balancer_name, target_group_name
from .reconcile import Reconciler
from .render import render_plan, render_status, table

if TYPE_CHECKING:
    from .embedded import EmbeddedAws

EVENTS_DIR = REPO_ROOT / "events"
FIXTURE_CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/"
    "7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
STACK = "demo"
PREFIX = f"/msk-privatelink/{STACK}/clusters"
BUS = f"msk-privatelink-{STACK}"
TABLE = f"msk-privatelink-{STACK}-state"


class DemoFailure(Exception):
    pass


def load_event(name: str, cluster_arn: str, **detail_overrides: Any) -> dict[str, Any]:
    text = (EVENTS_DIR / name).read_text(encoding="utf-8").replace(FIXTURE_CLUSTER_ARN, cluster_arn)
    event: dict[str, Any] = json.loads(text)
    for key, value in detail_overrides.items():
        event["detail"]["requestParameters"][key] = value
    return event


class Story:
    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.step_no = 0

    def heading(self, title: str) -> None:
        self.step_no += 1
        self.out(f"\n=== {self.step_no}. {title} ===")


def _provision_stack(clients: AwsClients) -> str:
    """What `sam deploy` creates that the handlers talk to."""
    dlq = clients.sqs.create_queue(
        QueueName="msk-privatelink-demo-dlq.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    dlq_arn = clients.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    queue = clients.sqs.create_queue(
        QueueName="msk-privatelink-demo-reconcile.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    clients.events.create_event_bus(Name=BUS)
    create_state_table(clients.dynamodb, TABLE)
    return queue


def verify(clients: AwsClients, config: ClusterConfig, reconciler: Reconciler) -> list[str]:
    """Independent checks of the converged state; returns the problems found."""
    problems: list[str] = []
    arn = config.cluster_arn
    nodes = clients.kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]
    ips = {
        int(n["BrokerNodeInfo"]["BrokerId"]): n["BrokerNodeInfo"]["ClientVpcIpAddress"]
        for n in nodes
    }
    lbs = {
        lb["LoadBalancerName"]: lb
        for lb in clients.elbv2.describe_load_balancers()["LoadBalancers"]
    }
    ours = {n for n in lbs if n.startswith(load_balancer_name(arn, 0)[:-2])}
    expected = {load_balancer_name(arn, b) for b in ips}
    if ours != expected:
        problems.append(f"load balancers {sorted(ours)} != expected {sorted(expected)}")
    for broker_id, ip in ips.items():
        name = target_group_name(arn, broker_id, 9098)
        try:
            tg = clients.elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]
        except ClientError:
            problems.append(f"broker {broker_id}: target group {name} missing")
            continue
        health = clients.elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
        targets = sorted(
            f"{d['Target']['Id']}:{d['Target'].get('Port')}"
            for d in health["TargetHealthDescriptions"]
        )
        if targets != [f"{ip}:9098"]:
            problems.append(f"broker {broker_id}: targets {targets} != ['{ip}:9098']")
    services = clients.ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
    if len(services) != len(ips):
        problems.append(f"{len(services)} endpoint services for {len(ips)} brokers")
    assessment = reconciler.assess(config)
    if not assessment.plan.is_empty:
        problems.append(f"re-plan is not empty: {len(assessment.plan)} change(s)")
    return problems


class DemoRun:
    """One run of the story on an entered EmbeddedAws."""

    def __init__(self, aws: EmbeddedAws, out: Callable[[str], None]) -> None:
        self.aws = aws
        self.out = out
        self.story = Story(out)
        self.clients = AwsClients(aws.session(), region=aws.region)
        self.summary: list[tuple[object, ...]] = []

    def setup(self) -> None:
        out = self.out
        self.story.heading("Embedded AWS: VPC with 3 subnets, 3-broker MSK cluster (IAM auth)")
        network = self.aws.create_network(subnet_count=3)
        self.arn = self.aws.msk.create_cluster(
            "demo-cluster", list(network.subnet_ids), broker_count=3
        )
        out(f"VPC {network.vpc_id}, subnets {', '.join(network.subnet_ids)}")
        out(f"Cluster {self.arn}")
        self.config = ClusterConfig(
            cluster_arn=self.arn,
            allowed_principals=("arn:aws:iam::111122223333:root",),
            supported_regions=("eu-west-1",),
        )
        queue_url = _provision_stack(self.clients)
        parameter = ConfigStore(self.clients.ssm, PREFIX).put(self.config)
        out(f"Configuration document stored in {parameter}")
        env = handler_environment(
            prefix=PREFIX,
            queue_url=queue_url,
            bus=BUS,
            table=TABLE,
            AWS_DEFAULT_REGION=self.aws.region,
        )
        self.functions = LocalFunctions(self.aws.session(), env, queue_url)
        self.reconciler = Reconciler(self.clients)
        self.capture = _capture_bus_events(self.clients)

    def react(self, step: str, event_file: str, **overrides: Any) -> None:
        """Deliver an event through the real handlers, then verify and report."""
        out = self.out
        assessment = self.reconciler.assess(self.config)
        out(f"Plan before the event ({event_file}):")
        out(render_plan(assessment.plan, assessment.decision))
        routed = self.functions.route(load_event(event_file, self.arn, **overrides))
        out(f"Router: {routed['note']}; enqueued {len(routed['enqueued'])}")
        batches = self.functions.drain()
        for response in batches:
            if response.get("batchItemFailures"):
                raise DemoFailure(f"reconciler reported failures: {response}")
        out(f"Reconciler: {len(batches)} invocation(s) from the FIFO queue")
        problems = verify(self.clients, self.config, self.reconciler)
        out(render_status(self.reconciler.assess(self.config)))
        if problems:
            raise DemoFailure("; ".join(problems))
        out("Verified: every broker reaches exactly its own address; re-plan is empty.")
        events = self.capture()
        for event in events:
            detail = event["detail"]
            out(
                f"Published BrokerEndpointsChanged generation {detail['generation']}: "
                f"brokers {[b['brokerId'] for b in detail['brokers']]}"
            )
        generations = ", ".join(str(e["detail"]["generation"]) for e in events) or "-"
        brokers = len(self.aws.msk.brokers(self.arn))
        self.summary.append((step, brokers, len(assessment.plan), len(batches), generations))

    def update_broker_count(self, count: int) -> None:
        kafka = self.clients.kafka
        version = kafka.describe_cluster_v2(ClusterArn=self.arn)["ClusterInfo"]["CurrentVersion"]
        kafka.update_broker_count(
            ClusterArn=self.arn, CurrentVersion=version, TargetNumberOfBrokerNodes=count
        )

    def run(self) -> None:
        self.setup()
        self.story.heading("Scheduled sweep: first reconcile creates the NLB layer")
        self.react("initial sweep", "scheduled-reconcile.json")

        self.story.heading("MSK heals broker 2: new ENI, new IP (EC2 CloudTrail event)")
        old = {b.broker_id: b.ip_address for b in self.aws.msk.brokers(self.arn)}
        self.aws.msk.replace_broker(self.arn, 2)
        new = {b.broker_id: b.ip_address for b in self.aws.msk.brokers(self.arn)}
        self.out(f"Broker 2 moved {old[2]} -> {new[2]}")
        self.react("broker replaced", "ec2-create-network-interface.json")

        self.story.heading("Scale out 3 -> 6 (UpdateBrokerCount)")
        self.update_broker_count(6)
        self.react("scale out", "kafka-update-broker-count.json", targetNumberOfBrokerNodes=6)

        self.story.heading("Scale in 6 -> 4, then 6 -> 3 (UpdateBrokerCount)")
        try:
            self.update_broker_count(4)
        except ClientError as exc:
            # MSK keeps brokers balanced: the count must be a multiple of the AZs.
            self.out(f"MSK refuses 4 brokers in 3 AZs: {exc.response['Error']['Message']}")
        else:
            raise DemoFailure("MSK accepted 4 brokers across 3 subnets")
        self.update_broker_count(3)
        self.react("scale in", "kafka-update-broker-count.json", targetNumberOfBrokerNodes=3)

        self.story.heading("The same event delivered again: nothing left to change")
        self.react("replayed event", "kafka-update-broker-count.json", targetNumberOfBrokerNodes=3)

        self.story.heading("Summary")
        headers = ("STEP", "BROKERS", "PLANNED CHANGES", "RECONCILES", "EVENTS (GENERATION)")
        self.out(table(headers, self.summary))


def run_demo(out: Callable[[str], None] = print) -> int:
    from .embedded import EmbeddedAws

    with EmbeddedAws() as aws:
        try:
            DemoRun(aws, out).run()
        except DemoFailure as exc:
            out(f"\nDEMO FAILED: {exc}")
            return 1
    out("\nDemo complete: the NLB layer followed every broker change.")
    return 0


def _capture_bus_events(clients: AwsClients) -> Callable[[], list[dict[str, Any]]]:
    """Subscribe a queue to the provider bus, as a consumer account would."""
    url = clients.sqs.create_queue(QueueName="demo-consumer-view")["QueueUrl"]
    queue_arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    clients.events.put_rule(
        Name="demo-consumer-view",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": ["msk-privatelink"]}),
    )
    clients.events.put_targets(
        Rule="demo-consumer-view", EventBusName=BUS, Targets=[{"Id": "view", "Arn": queue_arn}]
    )

    def received() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        while messages := clients.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                events.append(json.loads(message["Body"]))
                clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return events

    return received


def main() -> None:
    sys.exit(run_demo())


if __name__ == "__main__":
    main()
