"""What every act of the demo shares: the stack's names, the story's headings,
the fixture events and a view of what the provider bus publishes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.naming import cluster_token
from msk_privatelink.kernel.records import to_data
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink_dev.local.lambdas import REPO_ROOT
from msk_privatelink_dev.local.stack import PROVIDER_TEMPLATE, Stack

EVENTS_DIR = REPO_ROOT / "events"
FIXTURE_CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/"
    "7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
STACK = "demo"
PREFIX = f"/msk-privatelink/{STACK}/clusters"
BUS = f"msk-privatelink-{STACK}"
TABLE = f"msk-privatelink-{STACK}-state"
TENANT_TABLE = f"msk-privatelink-{STACK}-tenants"
# The cross-Region consumer's Region (template.yaml parameter ConsumerRegions).
OTHER_REGION = "eu-west-1"
# Deliveries of one message before the demo calls it a failure (the stack's
# queue sends a message to the DLQ after 5).
MAX_DELIVERIES = 5
PER_BROKER_VERIFIED = "Verified: every broker reaches exactly its own address; re-plan is empty."


def demo_stack(account: str, region: str, cluster_arn: str) -> Stack:
    """template.yaml deployed as the stack "demo": what the handlers are wired with."""
    return Stack(
        PROVIDER_TEMPLATE,
        STACK,
        account,
        region,
        parameters={"ClusterArn": cluster_arn, "ConsumerRegions": OTHER_REGION},
        names={"StateTable": TABLE, "TenantTable": TENANT_TABLE},
    )


class DemoFailure(Exception):
    pass


def load_event(name: str, cluster_arn: str, **detail_overrides: Any) -> dict[str, Any]:
    # CloudTrail writes the ARN URL-encoded in requestParameters, plain elsewhere.
    text = (
        (EVENTS_DIR / name)
        .read_text(encoding="utf-8")
        .replace(quote(FIXTURE_CLUSTER_ARN, safe=""), quote(cluster_arn, safe=""))
        .replace(FIXTURE_CLUSTER_ARN, cluster_arn)
    )
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


@dataclass
class DemoCluster:
    """A cluster of the story: how to show it and how to check it independently."""

    label: str
    arn: str
    capture: Callable[[], list[dict[str, Any]]]
    check: Callable[[], list[str]]
    show: Callable[[], None]
    verified: str


def capture_bus_events(clients: AwsClients, cluster_arn: str) -> Callable[[], list[dict[str, Any]]]:
    """A queue subscribed to the cluster's BrokerEndpointsChanged on the provider bus."""
    name = f"demo-view-{cluster_token(cluster_arn)}"
    url = clients.sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    clients.events.put_rule(
        Name=name,
        EventBusName=BUS,
        EventPattern=json.dumps(
            {
                "source": ["msk-privatelink"],
                "detail-type": ["BrokerEndpointsChanged"],
                "detail": {"clusterArn": [cluster_arn]},
            }
        ),
    )
    clients.events.put_targets(
        Rule=name, EventBusName=BUS, Targets=[{"Id": "view", "Arn": queue_arn}]
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


def config_lines(config: ClusterConfig) -> str:
    """The document as an operator writes it: only what differs from the defaults."""
    document = to_data(config)
    defaults = to_data(ClusterConfig(cluster_arn=config.cluster_arn))
    shown = {k: v for k, v in document.items() if k == "cluster_arn" or v != defaults.get(k)}
    lines = []
    for key, value in shown.items():
        lines.append(f"  {key}: {json.dumps(value)}")
    return "\n".join(lines)
