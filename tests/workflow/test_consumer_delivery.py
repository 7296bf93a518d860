"""Delivery of provider events to consumer buses: only to buses the
delivery role may write to, and never silently lost (retry policy and
dead-letter queue on every tenant rule's target)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from msk_privatelink.onboarding.aws.subscriptions import (
    RETRY_POLICY,
    TARGET_ID,
    Subscriptions,
    rule_name,
)
from msk_privatelink.onboarding.request import (
    InvalidRequestError,
    OnboardingRequest,
    parse_request,
)
from msk_privatelink_dev.embedded import EmbeddedAws

pytestmark = pytest.mark.integration

CLUSTER = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
ACCOUNT = "111122223333"
REQUEST: dict[str, Any] = {
    "clusterArn": CLUSTER,
    "consumerAccountId": ACCOUNT,
    "consumerRegion": "eu-west-1",
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "subnetIds": ["subnet-0a1b2c3d4e5f60718"],
}


@pytest.mark.parametrize("name", ["default", "payments-events", "msk-privatelink-provider"])
def test_a_bus_the_delivery_role_cannot_write_to_is_refused_before_anything_is_written(
    name: str,
) -> None:
    arn = f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/{name}"
    with pytest.raises(InvalidRequestError, match="must start with msk-privatelink-consumer"):
        parse_request(OnboardingRequest, {**REQUEST, "consumerEventBusArn": arn})


def test_a_bus_named_with_the_consumer_prefix_is_accepted() -> None:
    arn = f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/msk-privatelink-consumer-payments"
    request = parse_request(OnboardingRequest, {**REQUEST, "consumerEventBusArn": arn})
    assert request.bus_arn == arn


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


def test_every_tenant_target_retries_and_dead_letters_what_it_cannot_deliver(
    aws: EmbeddedAws,
) -> None:
    events = aws.client("events")
    events.create_event_bus(Name="provider")
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    role = f"arn:aws:iam::{aws.account_id}:role/consumer-events"
    subscriptions = Subscriptions(events, "provider", role, queue_arn)
    bus = f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/msk-privatelink-consumer"
    for _ in range(2):  # a resumed step writes the same target again
        subscriptions.subscribe(CLUSTER, ACCOUNT, "eu-west-1", bus)
    [target] = events.list_targets_by_rule(
        Rule=rule_name(CLUSTER, ACCOUNT, "eu-west-1"), EventBusName="provider"
    )["Targets"]
    assert target["Id"] == TARGET_ID
    assert (target["Arn"], target["RoleArn"]) == (bus, role)
    assert target["DeadLetterConfig"] == {"Arn": queue_arn}
    assert target["RetryPolicy"] == RETRY_POLICY


def test_the_retry_policy_is_within_what_eventbridge_accepts() -> None:
    # botocore's model bounds for RetryPolicy (events service model).
    import botocore.session

    shape = (
        botocore.session.get_session().get_service_model("events").shape_for("RetryPolicy").members  # type: ignore[attr-defined]
    )
    for key, value in RETRY_POLICY.items():
        metadata = shape[key].metadata
        assert metadata["min"] <= value <= metadata["max"], key
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", TARGET_ID)
