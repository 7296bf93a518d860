"""The reconciler handler with advertised listeners (msk-configuration), wired as AWS wires it.

A rollout in progress brings the record back soon on its first deliveries,
then leaves it to the schedule (never to the dead-letter queue); a failed
rollout is terminal and counted in the AdvertisedListenersFailed metric.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from msk_privatelink_dev.local.lambdas import LocalFunctions
from tests.integration.harness import World, local_functions, world

pytestmark = pytest.mark.integration

SHARED = {"pattern": "shared-nlb", "advertised_listeners": {"mode": "msk-configuration"}}


@dataclass
class Wired:
    w: World
    functions: LocalFunctions
    queue_url: str

    def nudge(self, n: int) -> None:
        self.w.aws.client("sqs").send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(
                {"clusterArn": self.w.cluster_arn, "trigger": "event", "eventId": f"e-{n}"}
            ),
            MessageGroupId=self.w.cluster_arn,
            MessageDeduplicationId=f"e-{n}",
        )

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery until the queue is empty (each failed one is redelivered)."""
        out: list[dict[str, Any]] = []
        for _ in range(10):
            batches = self.functions.drain()
            if not batches:
                return out
            out += batches
        raise AssertionError("the record kept coming back")

    def metrics(self, name: str) -> int:
        total = 0
        for line in self.functions.log.getvalue().splitlines():
            if line.startswith("{") and '"_aws"' in line:
                value = json.loads(line).get(name)
                if value is not None:
                    total += int(sum(value) if isinstance(value, list) else value)
        return total


@pytest.fixture
def wired() -> Iterator[Wired]:
    with world(auth=("tls", "iam"), config_overrides=SHARED) as w:
        functions, queue_url = local_functions(w)
        yield Wired(w, functions, queue_url)


def test_a_rollout_in_progress_is_retried_soon_then_left_to_the_schedule(wired: Wired) -> None:
    wired.w.aws.msk.complete_immediately = False
    wired.nudge(1)

    batches = wired.deliveries()

    failed = [b for b in batches if b["batchItemFailures"]]
    # Receives 1 and 2 come back at once; the third is accepted and the
    # schedule follows the rollout from there.
    assert len(failed) == 2
    assert not batches[-1]["batchItemFailures"]
    assert len(batches) == 3
    assert wired.metrics("AdvertisedListenersPending") == 3
    assert wired.metrics("ReconcileErrors") == 0
    operations = wired.w.aws.msk.operations_of(wired.w.cluster_arn)
    assert [o["OperationType"] for o in operations].count("UPDATE_CLUSTER_CONFIGURATION") == 1


def test_a_failed_rollout_is_terminal_and_alarmed(
    wired: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    wired.w.aws.msk.complete_immediately = False
    wired.nudge(1)
    wired.deliveries()
    wired.w.aws.msk.fail_operations(
        wired.w.cluster_arn, "InternalError", "broker 2 did not restart"
    )

    wired.nudge(2)
    batches = wired.deliveries()

    assert len(batches) == 1
    assert not batches[0]["batchItemFailures"]
    assert wired.metrics("AdvertisedListenersFailed") == 1
    [error] = [r for r in caplog.records if r.getMessage() == "advertised listeners failed"]
    assert "broker 2 did not restart" in error.__dict__["error"]
