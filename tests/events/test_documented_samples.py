"""The router against event samples AWS documents, not against our own fixtures.

`aws_documented/` holds, verbatim:
- msk-cloudtrail-log-entries.json: the MSK developer guide, "Log API calls with
  AWS CloudTrail", "Example: Amazon MSK log file entries" (DescribeCluster and
  DeleteCluster). CloudTrail records the ClusterArn path parameter URL-encoded
  in requestParameters and plain in responseElements; responseElements is
  null for DescribeCluster.
- eventbridge-cloudtrail-envelope.json: the CloudWatch Events user guide,
  "Event Examples From Supported Services", "Events Delivered Via CloudTrail"
  (the envelope EventBridge wraps a CloudTrail record in).

Which MSK operations carry ClusterArn in the URI comes from botocore's kafka
service model, so the same encoding holds for every operation the router
reacts to.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import botocore.session
import pytest

from msk_privatelink.kernel.errors import InvalidEventError
from msk_privatelink.reconcile.triggers import MSK_EVENT_NAMES, route
from tests.events.test_fixtures import EVENTS_DIR, EXPECTED_RULE, FIXTURE_CLUSTER_ARN

DOCUMENTED = Path(__file__).resolve().parent / "aws_documented"
DOCUMENTED_ARN = (
    "arn:aws:kafka:us-east-1:012345678901:cluster/examplecluster/"
    "01234567-abcd-0123-abcd-abcd0123efa-2"
)


def documented(name: str) -> Any:
    return json.loads((DOCUMENTED / name).read_text(encoding="utf-8"))


def msk_record(event_name: str) -> dict[str, Any]:
    records = documented("msk-cloudtrail-log-entries.json")["Records"]
    [record] = [r for r in records if r["eventName"] == event_name]
    return dict(record)


def delivered(record: dict[str, Any], source: str = "aws.kafka") -> dict[str, Any]:
    """The record as EventBridge delivers it: the documented envelope around it."""
    event = documented("eventbridge-cloudtrail-envelope.json")
    event.update(
        source=source,
        account=record["recipientAccountId"],
        region=record["awsRegion"],
        time=record["eventTime"],
        detail=record,
    )
    return dict(event)


def kafka_uri_cluster_arn_operations() -> set[str]:
    model = botocore.session.get_session().get_service_model("kafka")
    found = set()
    for name in model.operation_names:
        shape = model.operation_model(name).input_shape
        member = shape.members.get("ClusterArn") if shape is not None else None
        if member is not None and member.serialization.get("location") == "uri":
            found.add(name)
    return found


def test_the_documented_sample_encodes_the_request_arn_and_not_the_response_arn() -> None:
    record = msk_record("DeleteCluster")
    assert record["requestParameters"]["clusterArn"] == quote(DOCUMENTED_ARN, safe="")
    assert record["responseElements"]["clusterArn"] == DOCUMENTED_ARN


def test_the_documented_delete_cluster_reaches_its_cluster() -> None:
    routing = route(delivered(msk_record("DeleteCluster")), [DOCUMENTED_ARN])
    assert [r.cluster_arn for r in routing.requests] == [DOCUMENTED_ARN], routing.note
    assert routing.requests[0].trigger == "DeleteCluster"


def test_the_documented_read_only_call_with_null_response_is_ignored() -> None:
    record = msk_record("DescribeCluster")
    assert record["responseElements"] is None
    assert route(delivered(record), [DOCUMENTED_ARN]).requests == ()


def test_every_reacted_to_operation_takes_the_cluster_arn_in_its_uri() -> None:
    """So CloudTrail records its clusterArn URL-encoded, as in the sample."""
    assert sorted(MSK_EVENT_NAMES - kafka_uri_cluster_arn_operations()) == []


@pytest.mark.parametrize("operation", sorted(MSK_EVENT_NAMES))
@pytest.mark.parametrize("response", ["null", "plain"])
def test_each_operation_routes_with_the_documented_encoding(operation: str, response: str) -> None:
    record = copy.deepcopy(msk_record("DeleteCluster"))
    record["eventName"] = operation
    record["responseElements"] = (
        None if response == "null" else {"clusterArn": DOCUMENTED_ARN, "state": "UPDATING"}
    )
    routing = route(delivered(record), [DOCUMENTED_ARN])
    assert [r.cluster_arn for r in routing.requests] == [DOCUMENTED_ARN], routing.note


@pytest.mark.parametrize(
    "raw",
    [
        quote(DOCUMENTED_ARN, safe="") + "%0A",  # a newline after decoding
        quote(quote(DOCUMENTED_ARN, safe=""), safe=""),  # encoded twice
        "%ff%fe",  # not UTF-8 once decoded
        quote(DOCUMENTED_ARN.replace("examplecluster", "../examplecluster"), safe=""),
    ],
)
def test_a_decoded_arn_is_held_to_the_same_pattern(raw: str) -> None:
    record = copy.deepcopy(msk_record("DeleteCluster"))
    record["requestParameters"]["clusterArn"] = raw
    record["responseElements"] = None
    with pytest.raises(InvalidEventError, match="no valid cluster ARN"):
        route(delivered(record), [DOCUMENTED_ARN])


@pytest.mark.parametrize("name", sorted(EXPECTED_RULE))
def test_every_fixture_has_the_documented_envelope(name: str) -> None:
    fixture = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    assert set(fixture) == set(documented("eventbridge-cloudtrail-envelope.json"))


@pytest.mark.parametrize(
    "name",
    sorted(n for n, rule in EXPECTED_RULE.items() if n.startswith(("kafka-", "unrelated-kafka-"))),
)
def test_msk_fixtures_carry_what_the_documented_record_carries(name: str) -> None:
    detail = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))["detail"]
    documented_keys = set(msk_record("DeleteCluster"))
    assert documented_keys <= set(detail)
    params = detail["requestParameters"]
    if "clusterArn" in params:
        # As the guide's sample: the path parameter URL-encoded, the response plain.
        assert params["clusterArn"] == quote(FIXTURE_CLUSTER_ARN, safe="")
        if detail["responseElements"] is not None:
            assert detail["responseElements"]["clusterArn"] == FIXTURE_CLUSTER_ARN


@pytest.mark.parametrize(
    "name", sorted(n for n in EXPECTED_RULE if n.startswith(("kafka-", "unrelated-kafka-")))
)
def test_msk_fixture_request_parameters_are_members_of_the_operation(name: str) -> None:
    """CloudTrail names request parameters after the API's wire names."""
    detail = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))["detail"]
    model = botocore.session.get_session().get_service_model("kafka")
    shape = model.operation_model(detail["eventName"]).input_shape
    wire = {member.serialization.get("name", key) for key, member in shape.members.items()}
    assert set(detail["requestParameters"]) <= wire
