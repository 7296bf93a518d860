"""Replays and reordering through the real handlers (router -> SQS FIFO -> reconciler).

EventBridge delivers at least once and in no particular order; MSK changes the
cluster whenever it likes. The reconciler is level-triggered, so neither may
matter: a replay writes nothing, and any delivery order ends where in-order
delivery ends.

The embedded SQS drops a duplicate MessageDeduplicationId only while the first
message is still queued (AWS: for five minutes, even after it was deleted), so
replays after a drain do reach the reconciler here: these tests prove the
reconciler itself idempotent, not just the queue's de-duplication.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.handlers
import pytest

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.config import ClusterConfig
from tests.faults.support import (
    POSITIVE,
    QUEUE_PLUMBING,
    actual_state,
    deliver,
    failures,
    normalized_state,
    reconcile_queue,
    record_calls,
    wire,
)
from tests.integration.harness import PREFIX, World, count_all_calls, load_event, world

pytestmark = [pytest.mark.integration, pytest.mark.faults]

DELIVERIES = 10


@pytest.mark.parametrize("name", POSITIVE)
def test_ten_deliveries_end_where_one_delivery_ends(
    name: str, record_property: Callable[[str, object], None]
) -> None:
    with world() as w:
        queue = reconcile_queue(w)
        event = load_event(name, w.cluster_arn)
        first = deliver(wire(w, queue), event)
        assert first, f"{name} did not reach the reconciler"
        assert failures(first) == 0
        assert w.residual_plan_size() == 0
        once = actual_state(w)
        published_once = w.published()
        fingerprint_once = w.published_fingerprint()
        assert fingerprint_once == w.current_view().fingerprint()

        # Fresh handler modules inside the block: their clients are counted.
        with count_all_calls() as calls, record_calls() as log:
            functions = wire(w, queue)
            responses = [deliver(functions, event) for _ in range(DELIVERIES - 1)]
        replays = log.calls

        assert [failures(r) for r in responses] == [0] * (DELIVERIES - 1)
        # Every replay reached the reconciler (nothing was silently dropped) ...
        reconciles = log.count(replays, "DescribeClusterV2")
        assert reconciles == DELIVERIES - 1
        assert calls.reads["DescribeClusterV2"] == reconciles  # the counter saw the handlers
        # ... and none wrote anything but queue and lease bookkeeping.
        assert log.resource_writes(replays) == Counter(), f"replaying {name}"
        assert set(calls.writes) <= QUEUE_PLUMBING | {"UpdateItem"}
        assert calls.writes["UpdateItem"] == sum(1 for c in replays if c.lease)
        # Same end state as one delivery, and consumers heard nothing new.
        assert actual_state(w) == once
        assert w.published_fingerprint() == fingerprint_once
        assert w.published() == []
        assert len(published_once) == 1  # the first delivery published the initial view

        record_property("replays_reconciled", reconciles)
        record_property("replay_bookkeeping_writes", dict(log.bookkeeping(replays)))


# ---------------------------------------------------------------- reordering

Change = Callable[[World], None]


def replace_broker(broker_id: int) -> Change:
    def change(w: World) -> None:
        w.aws.msk.replace_broker(w.cluster_arn, broker_id)

    change.__name__ = f"replace-broker-{broker_id}"
    return change


def scale_to(count: int) -> Change:
    def change(w: World) -> None:
        w.aws.msk.scale(w.cluster_arn, count)

    change.__name__ = f"scale-to-{count}"
    return change


# The story in order: each change is followed by the events it causes.
IN_ORDER: list[str | Change] = [
    "scheduled-reconcile.json",
    replace_broker(2),
    "ec2-create-network-interface.json",
    "ec2-attach-network-interface.json",
    "ec2-delete-network-interface.json",
    "kafka-reboot-broker.json",
    scale_to(6),
    "kafka-update-broker-count.json",
    "kafka-update-broker-type.json",
    replace_broker(5),
    "kafka-update-cluster-configuration.json",
    "kafka-update-connectivity.json",
    "kafka-delete-cluster.json",
]
CHANGES = [step for step in IN_ORDER if not isinstance(step, str)]
EVENT_NAMES = [step for step in IN_ORDER if isinstance(step, str)]
assert sorted(EVENT_NAMES) == POSITIVE


@dataclass
class Underneath:
    """Applies cluster changes in the middle of a reconcile: right after the
    reconciler read the broker list (so it plans from a stale inventory)."""

    w: World
    pending: list[Change] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)

    def __call__(self, **_: Any) -> None:
        while self.pending:
            change = self.pending.pop(0)
            change(self.w)
            self.fired.append(change.__name__)


@dataclass
class Step:
    event: str
    before: list[Change] = field(default_factory=list)  # between deliveries
    during: list[Change] = field(default_factory=list)  # mid-reconcile


def shuffled_story(seed: int) -> list[Step]:
    """Events in a seeded order; the changes, still in their own order, at
    seeded points before the last delivery, each either between deliveries or
    during a reconcile."""
    rng = random.Random(seed)
    events = EVENT_NAMES.copy()
    rng.shuffle(events)
    steps = [Step(e) for e in events]
    # Changes land at non-decreasing positions, never at the last delivery.
    positions = sorted(rng.randrange(len(steps) - 1) for _ in CHANGES)
    for change, position in zip(CHANGES, positions, strict=True):
        if rng.random() < 0.5 and not steps[position].during:
            steps[position].during.append(change)
        else:
            # After any change already planned during the previous step.
            steps[position + 1 if steps[position].during else position].before.append(change)
    return steps


def play_in_order() -> dict[str, object]:
    with world() as w:
        queue = reconcile_queue(w)
        functions = wire(w, queue)
        for step in IN_ORDER:
            if isinstance(step, str):
                responses = deliver(functions, load_event(step, w.cluster_arn))
                assert failures(responses) == 0, step
                assert w.residual_plan_size() == 0, step
            else:
                step(w)
        return normalized_state(w)


@pytest.fixture(scope="module")
def in_order_end_state() -> dict[str, object]:
    return play_in_order()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_shuffled_delivery_under_cluster_changes_ends_like_in_order(
    seed: int,
    in_order_end_state: dict[str, object],
    record_property: Callable[[str, object], None],
) -> None:
    steps = shuffled_story(seed)
    with world() as w:
        queue = reconcile_queue(w)
        underneath = Underneath(w)
        entry = ("after-call.kafka.ListNodes", underneath)
        botocore.handlers.BUILTIN_HANDLERS.append(entry)
        try:
            functions = wire(w, queue)
            retried = 0
            for step in steps:
                for change in step.before:
                    change(w)
                underneath.pending = list(step.during)
                responses = deliver(functions, load_event(step.event, w.cluster_arn))
                assert underneath.pending == [], f"seed {seed}: {step.event} never listed nodes"
                # A failed record comes back (RETRY_DELAY_SECONDS=0): drain it too.
                while failures(responses):
                    retried += failures(responses)
                    assert retried <= 5, f"seed {seed}: {step.event} keeps failing"
                    responses = functions.drain()
                if not step.during:
                    # Every reconcile converges on the world it read.
                    assert w.residual_plan_size() == 0, f"seed {seed}: after {step.event}"
        finally:
            botocore.handlers.BUILTIN_HANDLERS.remove(entry)

        story = [
            f"{[c.__name__ for c in s.before]}{s.event}{[c.__name__ for c in s.during]}"
            for s in steps
        ]
        record_property("story", " ".join(story))
        record_property("changes_mid_reconcile", len(underneath.fired))
        record_property("failed_records_redelivered", retried)
        assert w.residual_plan_size() == 0
        assert normalized_state(w) == in_order_end_state, f"seed {seed}: {story}"


def test_the_stories_change_the_cluster_between_and_during_reconciles() -> None:
    """The shuffled stories do exercise changes in the middle of a reconcile."""
    assert any(step.during for seed in (1, 2, 3, 4) for step in shuffled_story(seed))
    assert any(step.before for seed in (1, 2, 3, 4) for step in shuffled_story(seed))


# ------------------------------------------------------------ de-duplication


def test_the_same_event_enqueued_twice_has_one_deduplication_id() -> None:
    with world() as w:
        queue = reconcile_queue(w)
        with record_calls() as log:
            functions = wire(w, queue)
            for name in POSITIVE:
                event = load_event(name, w.cluster_arn)
                functions.route(event)
                functions.route(event)
        entries = log.enqueued_entries()

        assert len(entries) == 2 * len(POSITIVE)
        firsts, seconds = entries[0::2], entries[1::2]
        for name, a, b in zip(POSITIVE, firsts, seconds, strict=True):
            assert a["MessageDeduplicationId"] == b["MessageDeduplicationId"], name
            assert a["MessageGroupId"] == b["MessageGroupId"] == w.cluster_arn, name
            assert a["MessageBody"] == b["MessageBody"], name
        # Different events are different nudges.
        assert len({e["MessageDeduplicationId"] for e in firsts}) == len(POSITIVE)
        # The FIFO queue kept one message per event; the duplicates were dropped.
        attributes = w.aws.client("sqs").get_queue_attributes(
            QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == str(len(POSITIVE))
        # One message group, one batch at a time: coalesced into few reconciles.
        with record_calls() as drained:
            responses = wire(w, queue).drain()
        assert failures(responses) == 0
        assert sum(len(r.get("batchItemFailures", [])) for r in responses) == 0
        assert drained.count(drained.calls, "DescribeClusterV2") <= 2
        assert w.residual_plan_size() == 0


def test_a_fanned_out_event_has_one_deduplication_id_per_cluster() -> None:
    with world() as w:
        other = parse(
            ClusterConfig, {"cluster_arn": w.cluster_arn.replace("demo-cluster", "other-cluster")}
        )
        ConfigStore(AwsClients(w.aws.session()).ssm, PREFIX).put(other)
        queue = reconcile_queue(w)
        with record_calls() as log:
            functions = wire(w, queue)
            for name in ("scheduled-reconcile.json", "ec2-attach-network-interface.json"):
                event = load_event(name, w.cluster_arn)
                functions.route(event)
                functions.route(event)
        entries = log.enqueued_entries()

        assert len(entries) == 8
        for first, replay in ((entries[0:2], entries[2:4]), (entries[4:6], entries[6:8])):
            assert [e["MessageDeduplicationId"] for e in first] == [
                e["MessageDeduplicationId"] for e in replay
            ]
            assert sorted(e["MessageGroupId"] for e in first) == sorted(
                [w.cluster_arn, other.cluster_arn]
            )
            assert len({e["MessageDeduplicationId"] for e in first}) == 2
