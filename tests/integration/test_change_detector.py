"""The change detector handler on the embedded AWS: one ListNodes per
cluster, a reconcile request only for a cluster whose brokers moved since
the last converged run, and nothing when they did not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from msk_privatelink.reconcile.detector import ChangeDetector
from msk_privatelink.reconcile.settings import DetectorSettings
from msk_privatelink_dev.local.lambdas import LocalFunctions
from tests.integration.harness import (
    PREFIX,
    TABLE,
    World,
    count_all_calls,
    local_functions,
    world,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def w() -> Iterator[World]:
    with world() as built:
        yield built


def targets(w: World) -> set[str]:
    elbv2 = w.aws.client("elbv2")
    out: set[str] = set()
    for group in elbv2.describe_target_groups()["TargetGroups"]:
        health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        out |= {t["Target"]["Id"] for t in health["TargetHealthDescriptions"]}
    return out


def test_an_unannounced_broker_replacement_is_caught_by_the_next_tick(w: World) -> None:
    functions, _ = local_functions(w)
    assert functions.detect()["changed"] == [w.cluster_arn]  # nothing applied yet
    functions.drain()
    assert functions.detect()["changed"] == []

    # MSK heals broker 2 onto a new address; no event reaches the router.
    old = w.broker_ips()[2]
    w.aws.msk.replace_broker(w.cluster_arn, 2)
    new = w.broker_ips()[2]
    assert new != old
    assert new not in targets(w)

    assert functions.detect()["changed"] == [w.cluster_arn]
    [response] = functions.drain()
    assert response["batchItemFailures"] == []
    assert new in targets(w)
    assert old not in targets(w)
    assert w.residual_plan_size() == 0
    assert functions.detect()["changed"] == []


def test_a_steady_tick_reads_one_broker_list_per_cluster_and_writes_nothing(w: World) -> None:
    functions, queue_url = local_functions(w)
    functions.detect()
    functions.drain()
    with count_all_calls() as calls:
        # Fresh handlers: their clients must be built inside the counting block.
        fresh = LocalFunctions(w.aws.session(), functions.env, queue_url)
        assert fresh.detect()["changed"] == []
    assert calls.reads["ListNodes"] == 1
    assert calls.reads["BatchGetItem"] == 1
    assert calls.reads["DescribeClusterV2"] == 0
    assert sum(calls.writes.values()) == 0


def test_the_same_difference_seen_again_is_enqueued_once(w: World) -> None:
    functions, queue_url = local_functions(w)
    functions.detect()
    functions.detect()  # the reconcile has not run yet
    sqs = w.aws.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"


def throttle_list_nodes(model: Any, **_: Any) -> None:
    if model.name == "ListNodes":
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListNodes"
        )


def test_a_cluster_that_cannot_be_read_is_reported_and_nothing_is_enqueued(w: World) -> None:
    _, queue_url = local_functions(w)
    settings = DetectorSettings(
        config_parameter_prefix=PREFIX, queue_url=queue_url, state_table_name=TABLE
    )
    detector = ChangeDetector(
        w.clients(("before-call.kafka.ListNodes", throttle_list_nodes)), settings
    )
    result = detector.detect()
    assert result.changed == ()
    [(arn, error)] = result.unread
    assert arn == w.cluster_arn
    assert "ListNodes" in error


def test_a_deleted_cluster_is_left_to_the_reconcile_that_follows_its_deletion(w: World) -> None:
    functions, _ = local_functions(w)
    w.aws.client("kafka").delete_cluster(ClusterArn=w.cluster_arn)
    result = functions.detect()
    assert (result["changed"], result["unread"]) == ([], [])
