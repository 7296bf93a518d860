"""The real Lambda handlers, wired as AWS wires them: EventBridge -> router ->
SQS FIFO -> reconciler, on the embedded AWS."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from msk_privatelink_dev.local.lambdas import LocalFunctions
from tests.integration.harness import (
    EVENTS,
    World,
    count_all_calls,
    load_event,
    local_functions,
    world,
)

pytestmark = pytest.mark.integration

POSITIVE = sorted(
    p.name
    for p in EVENTS.glob("*.json")
    if not p.name.startswith("unrelated-") and "not-msk" not in p.name
)
NEGATIVE = sorted(
    p.name for p in EVENTS.glob("*.json") if p.name.startswith("unrelated-") or "not-msk" in p.name
)


@dataclass
class Wired:
    w: World
    functions: LocalFunctions
    queue_url: str

    def deliver(self, event: dict[str, object]) -> list[dict[str, object]]:
        self.functions.route(event)
        return self.functions.drain()

    def send(self, bodies: list[dict[str, object]], group: str) -> None:
        sqs = self.w.aws.client("sqs")
        for i, body in enumerate(bodies):
            sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps(body),
                MessageGroupId=group,
                MessageDeduplicationId=f"{group[-20:]}-{i}-{len(bodies)}",
            )


@pytest.fixture
def wired() -> Iterator[Wired]:
    with world() as w:
        functions, queue_url = local_functions(w)
        yield Wired(w, functions, queue_url)


@pytest.mark.parametrize("name", POSITIVE)
def test_each_event_converges_and_its_replay_makes_no_write(wired: Wired, name: str) -> None:
    event = load_event(name, wired.w.cluster_arn)

    first = wired.deliver(event)

    assert first, f"{name} did not reach the reconciler"
    assert all(not r["batchItemFailures"] for r in first)
    assert wired.w.residual_plan_size() == 0
    with count_all_calls() as calls:
        # Fresh handlers: their clients must be built inside the counting block.
        fresh = LocalFunctions(wired.w.aws.session(), wired.functions.env, wired.queue_url)
        fresh.route(event)
        second = fresh.drain()
    assert second, f"the replay of {name} did not reach the reconciler"
    assert all(not r["batchItemFailures"] for r in second)
    assert calls.reads["ListNodes"] >= 1  # the counter did see the replay's reconcile
    # Only the queue's own bookkeeping: no resource, lease or event write.
    assert set(calls.writes) <= {"SendMessageBatch", "DeleteMessage"}, dict(calls.writes)


@pytest.mark.parametrize("name", NEGATIVE)
def test_unrelated_events_enqueue_nothing_and_write_nothing(wired: Wired, name: str) -> None:
    with count_all_calls() as calls:
        routed = wired.functions.route(load_event(name, wired.w.cluster_arn))
        batches = wired.functions.drain()
    assert routed["enqueued"] == []
    assert batches == []
    assert calls.writes == Counter()


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"source": "aws.kafka"},
        {
            "id": "1",
            "source": "aws.kafka",
            "detail-type": "AWS API Call via CloudTrail",
            "detail": "x",
        },
        {
            "id": "1",
            "source": "aws.kafka",
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {
                "eventName": "UpdateBrokerCount",
                "requestParameters": {"clusterArn": "'; DROP"},
            },
        },
        {"id": "x" * 5000, "source": "aws.events", "detail-type": "Scheduled Event"},
    ],
    ids=["empty", "no-detail-type", "detail-not-object", "bad-cluster-arn", "huge-id"],
)
def test_malformed_events_are_skipped_with_a_reason(wired: Wired, event: dict[str, object]) -> None:
    with count_all_calls() as calls:
        routed = wired.functions.route(event)
    assert routed["enqueued"] == []
    assert routed["note"].startswith("skipped:")
    assert calls.writes == Counter()


def test_event_for_an_unmanaged_cluster_is_ignored(wired: Wired) -> None:
    other = wired.w.cluster_arn.replace("demo-cluster", "other-cluster")
    routed = wired.functions.route(load_event("kafka-update-broker-count.json", other))
    assert routed["enqueued"] == []
    assert "unmanaged" in routed["note"]


def test_messages_for_one_cluster_in_a_batch_coalesce_into_one_reconcile(wired: Wired) -> None:
    body = {"clusterArn": wired.w.cluster_arn, "trigger": "test", "eventId": "e"}
    wired.send([dict(body, eventId=f"e{i}") for i in range(4)], group=wired.w.cluster_arn)

    with count_all_calls() as calls:
        responses = wired.functions.drain()

    assert [r["batchItemFailures"] for r in responses] == [[]]
    assert calls.calls["DescribeClusterV2"] == 1
    assert wired.w.residual_plan_size() == 0


def test_terminal_errors_are_dropped_and_retryable_ones_redelivered(wired: Wired) -> None:
    # No configuration stored for this cluster: terminal, retrying cannot help.
    unknown = wired.w.cluster_arn.replace("demo-cluster", "unconfigured")
    wired.send([{"clusterArn": unknown, "trigger": "test", "eventId": "a"}], group=unknown)
    dropped = wired.functions.drain()
    assert [r["batchItemFailures"] for r in dropped] == [[]]
    assert '"ReconcileErrors":[1.0]' in wired.functions.log.getvalue()
    assert wired.functions.drain() == []  # deleted, not redelivered

    # A failing AWS call is retryable: the record (and the rest of its group) fails.
    import botocore.handlers
    from botocore.exceptions import ClientError

    def failing(model: object, **_: object) -> None:
        if getattr(model, "name", "") == "CreateTargetGroup":
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": "boom"}}, "CreateTargetGroup"
            )

    body = {"clusterArn": wired.w.cluster_arn, "trigger": "test"}
    wired.send([dict(body, eventId="b1"), dict(body, eventId="b2")], group=wired.w.cluster_arn)
    entry = ("before-call.*.CreateTargetGroup", failing)
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    try:
        functions = LocalFunctions(wired.w.aws.session(), wired.functions.env, wired.queue_url)
        failed = functions.drain()
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)
    assert len(failed[0]["batchItemFailures"]) == 2

    # Once the fault is gone the redelivered message converges.
    recovered = LocalFunctions(wired.w.aws.session(), wired.functions.env, wired.queue_url).drain()
    assert recovered
    assert all(not r["batchItemFailures"] for r in recovered)
    assert wired.w.residual_plan_size() == 0


def test_a_poison_message_fails_so_the_queue_can_dead_letter_it(wired: Wired) -> None:
    wired.send([{"clusterArn": "not-an-arn", "trigger": "x", "eventId": "p"}], group="poison")
    responses = wired.functions.drain()
    assert len(responses[0]["batchItemFailures"]) == 1


def test_a_failed_record_is_hidden_for_the_retry_delay_only(wired: Wired) -> None:
    import botocore.handlers
    from botocore.exceptions import ClientError

    def failing(**_: object) -> None:
        raise ClientError(
            {"Error": {"Code": "ValidationError", "Message": "x"}}, "CreateTargetGroup"
        )

    env = {
        name: {k: v for k, v in values.items() if k != "RETRY_DELAY_SECONDS"}
        for name, values in wired.functions.env.items()
    }
    wired.send([{"clusterArn": wired.w.cluster_arn, "trigger": "t", "eventId": "r"}], group="g")
    entry = ("before-call.*.CreateTargetGroup", failing)
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    try:
        functions = LocalFunctions(wired.w.aws.session(), env, wired.queue_url)
        (response,) = functions.drain()
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)

    assert len(response["batchItemFailures"]) == 1
    # Received with a zero visibility timeout, it would be visible again now;
    # the handler hid it for the 30 s retry delay instead.
    attrs = wired.w.aws.client("sqs").get_queue_attributes(
        QueueUrl=wired.queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert functions.drain() == []


def test_a_quota_error_is_terminal_named_and_not_retried(
    wired: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    import botocore.handlers
    from botocore.exceptions import ClientError

    def refused(**_: object) -> None:
        raise ClientError(
            {"Error": {"Code": "TooManyLoadBalancers", "Message": "limit reached"}},
            "CreateLoadBalancer",
        )

    wired.send([{"clusterArn": wired.w.cluster_arn, "trigger": "t", "eventId": "q"}], group="g")
    entry = ("before-call.*.CreateLoadBalancer", refused)
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    try:
        functions = LocalFunctions(wired.w.aws.session(), wired.functions.env, wired.queue_url)
        (response,) = functions.drain()
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)

    # Dropped, not returned to the queue: a retry would only hit the quota again.
    assert response["batchItemFailures"] == []
    (refusal,) = [r for r in caplog.records if r.getMessage() == "reconcile refused"]
    assert refusal.__dict__["kind"] == "QuotaExceededError"
    assert "Network Load Balancers per Region" in refusal.__dict__["error"]
