"""Routing EventBridge events to reconcile requests (pure)."""

from __future__ import annotations

import pytest

from msk_privatelink.kernel.errors import InvalidEventError
from msk_privatelink.reconcile.triggers import (
    MAX_GROUP_ID,
    ReconcileRequest,
    message_group_id,
    route,
)
from tests.factories import CLUSTER_ARN

OTHER = CLUSTER_ARN.replace("demo-cluster", "other")


def cloudtrail(source: str, name: str, **detail: object) -> dict[str, object]:
    return {
        "id": "ev-1",
        "source": source,
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventName": name, **detail},
    }


def test_schedule_fans_out_to_every_configured_cluster() -> None:
    event = {"id": "s", "source": "aws.events", "detail-type": "Scheduled Event"}
    routing = route(event, [CLUSTER_ARN, OTHER, CLUSTER_ARN])
    assert [r.cluster_arn for r in routing.requests] == sorted([CLUSTER_ARN, OTHER])


def test_msk_call_targets_its_cluster_only() -> None:
    event = cloudtrail("aws.kafka", "RebootBroker", requestParameters={"clusterArn": CLUSTER_ARN})
    (request,) = route(event, [CLUSTER_ARN, OTHER]).requests
    assert request.cluster_arn == CLUSTER_ARN
    assert request.trigger == "RebootBroker"


def test_failed_calls_and_read_only_calls_are_ignored() -> None:
    failed = cloudtrail(
        "aws.kafka",
        "UpdateBrokerCount",
        errorCode="AccessDenied",
        requestParameters={"clusterArn": CLUSTER_ARN},
    )
    assert route(failed, [CLUSTER_ARN]).requests == ()
    listing = cloudtrail("aws.kafka", "ListClusters")
    assert route(listing, [CLUSTER_ARN]).requests == ()


def test_eni_calls_count_only_when_made_by_the_msk_service_role() -> None:
    by_msk = cloudtrail(
        "aws.ec2",
        "CreateNetworkInterface",
        userIdentity={"sessionContext": {"sessionIssuer": {"userName": "AWSServiceRoleForKafka"}}},
    )
    by_someone = cloudtrail("aws.ec2", "CreateNetworkInterface", userIdentity={"type": "IAMUser"})
    assert len(route(by_msk, [CLUSTER_ARN, OTHER]).requests) == 2
    assert route(by_someone, [CLUSTER_ARN]).requests == ()


@pytest.mark.parametrize(
    "event",
    [
        [],
        {"source": 1},
        {"id": "", "source": "aws.kafka", "detail-type": "x"},
        cloudtrail("aws.kafka", "UpdateBrokerCount", requestParameters={"clusterArn": "arn:x"}),
    ],
)
def test_malformed_events_raise_a_clear_error(event: object) -> None:
    with pytest.raises(InvalidEventError):
        route(event, [CLUSTER_ARN])  # type: ignore[arg-type]


def test_group_and_deduplication_ids_fit_sqs_limits() -> None:
    long_arn = CLUSTER_ARN.replace("demo-cluster", "c" * 64)
    assert len(long_arn) > MAX_GROUP_ID
    assert len(message_group_id(long_arn)) == 64
    assert message_group_id(CLUSTER_ARN) == CLUSTER_ARN
    a = ReconcileRequest(cluster_arn=CLUSTER_ARN, trigger="t", event_id="1")
    b = ReconcileRequest(cluster_arn=CLUSTER_ARN, trigger="t", event_id="2")
    assert a.deduplication_id != b.deduplication_id
    assert len(a.deduplication_id) <= 128


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"clusterArn": "x", "trigger": "t", "eventId": "e"}',
        b'{"clusterArn": "%s", "trigger": "", "eventId": "e"}' % CLUSTER_ARN.encode(),
        b'{"clusterArn": "%s", "trigger": "t"}' % CLUSTER_ARN.encode(),
        b'{"clusterArn": "%s", "trigger": "t", "eventId": "e", "x": 1}' % CLUSTER_ARN.encode(),
    ],
    ids=["not-json", "not-object", "bad-arn", "empty-trigger", "missing-field", "extra-field"],
)
def test_malformed_queue_messages_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidEventError):
        ReconcileRequest.from_json(body)


def test_queue_messages_round_trip() -> None:
    request = ReconcileRequest(cluster_arn=CLUSTER_ARN, trigger="schedule", event_id="e-1")
    assert ReconcileRequest.from_json(request.to_json()) == request
