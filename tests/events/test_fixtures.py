"""The events/ fixtures: shaped like real EventBridge events, routed by the right rule.

Each fixture doubles as a `sam local invoke -e` input and as test data for the
router, so it has to look like what EventBridge really delivers, and the rule
in template.yaml meant for it has to match it (and no other rule).

The patterns are evaluated by moto's EventBridge engine. moto 5.2.5 answers
TestEventPattern with an empty response (not implemented), so each pattern is
installed as a rule on a moto bus with an SQS target, the fixture is put on
the bus, and the queues that received it are the rules that matched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import moto  # imported before any boto3 session exists, so every client is intercepted
import pytest

REPO = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO / "events"
TEMPLATE = REPO / "template.yaml"
ROUTER = "EventRouterFunction"

# Tests substitute this exact string with the MSK simulator's cluster ARN.
FIXTURE_CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/"
    "7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
ACCOUNT = "123456789012"
REGION = "us-east-1"

# Fixture file -> the router event in template.yaml meant to deliver it.
# None: no rule may match it. Every file in events/ must be listed here.
EXPECTED_RULE: dict[str, str | None] = {
    "kafka-update-broker-count.json": "KafkaApiCalls",
    "kafka-update-broker-type.json": "KafkaApiCalls",
    "kafka-reboot-broker.json": "KafkaApiCalls",
    "kafka-update-cluster-configuration.json": "KafkaApiCalls",
    "kafka-update-connectivity.json": "KafkaApiCalls",
    "kafka-delete-cluster.json": "KafkaApiCalls",
    "ec2-create-network-interface.json": "MskNetworkInterfaceCalls",
    "ec2-delete-network-interface.json": "MskNetworkInterfaceCalls",
    "ec2-attach-network-interface.json": "MskNetworkInterfaceCalls",
    "scheduled-reconcile.json": "ReconcileSchedule",
    "unrelated-kafka-list-clusters.json": None,
    "unrelated-kafka-update-broker-count-denied.json": None,
    "ec2-create-network-interface-not-msk.json": None,
}
POSITIVE = sorted(name for name, rule in EXPECTED_RULE.items() if rule is not None)
NEGATIVE = sorted(name for name, rule in EXPECTED_RULE.items() if rule is None)

ENVELOPE_KEYS = {
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
}
CLOUDTRAIL_KEYS = {
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "requestID",
    "eventID",
    "readOnly",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
}
CLUSTER_ARN_IN_TEXT = re.compile(r"arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9/-]+")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def load_fixture(name: str) -> dict[str, Any]:
    with (EVENTS_DIR / name).open(encoding="utf-8") as fh:
        data = json.load(fh)
    assert isinstance(data, dict), f"{name} is not a JSON object"
    return data


def router_events() -> dict[str, dict[str, Any]]:
    """The router's SAM events, read with a CloudFormation-aware YAML loader."""
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(TEMPLATE))
    events = template["Resources"][ROUTER]["Properties"]["Events"]
    # Round-trip through JSON: plain dicts/lists/str instead of cfn-lint's node types.
    return dict(json.loads(json.dumps(events)))


def pattern_rules() -> dict[str, dict[str, Any]]:
    return {
        name: spec["Properties"]["Pattern"]
        for name, spec in router_events().items()
        if spec["Type"] == "EventBridgeRule"
    }


def strings_in(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


# ---------------------------------------------------------------------------
# The harness: template patterns installed as rules on moto's EventBridge
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleHarness:
    events: Any
    sqs: Any
    bus: str
    queue_urls: dict[str, str]

    def matching_rules(self, event: dict[str, Any]) -> set[str]:
        """Put ``event`` on the bus; return the names of the rules it reached."""
        response = self.events.put_events(
            Entries=[
                {
                    "EventBusName": self.bus,
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                    "Time": datetime.fromisoformat(event["time"]),
                }
            ]
        )
        assert response["FailedEntryCount"] == 0, response["Entries"]
        matched = set()
        for rule, url in self.queue_urls.items():
            # moto delivers synchronously inside PutEvents: no wait needed.
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            for message in messages:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                delivered = json.loads(message["Body"])
                assert delivered["detail"] == event["detail"]
                matched.add(rule)
        return matched


@pytest.fixture(scope="module")
def harness() -> Iterator[RuleHarness]:
    with pytest.MonkeyPatch.context() as mp:
        # Fake credentials first: moto must never let a request reach AWS.
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            mp.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            mp.delenv(key, raising=False)
        import boto3

        with moto.mock_aws():
            events = boto3.client("events", region_name=REGION)
            sqs = boto3.client("sqs", region_name=REGION)
            bus = "fixture-pattern-check"
            events.create_event_bus(Name=bus)
            queue_urls = {}
            for rule, pattern in pattern_rules().items():
                url = sqs.create_queue(QueueName=f"matched-{rule}")["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                    "Attributes"
                ]["QueueArn"]
                events.put_rule(
                    Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED"
                )
                events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
                queue_urls[rule] = url
            yield RuleHarness(events=events, sqs=sqs, bus=bus, queue_urls=queue_urls)


# ---------------------------------------------------------------------------
# Inventory
# ---------------------------------------------------------------------------
def test_every_fixture_is_classified() -> None:
    on_disk = {path.name for path in EVENTS_DIR.glob("*.json")}
    assert on_disk == set(EXPECTED_RULE), (
        "events/*.json and EXPECTED_RULE disagree: "
        f"unlisted {sorted(on_disk - set(EXPECTED_RULE))}, "
        f"missing {sorted(set(EXPECTED_RULE) - on_disk)}"
    )


def test_every_router_event_has_a_positive_fixture() -> None:
    covered = {rule for rule in EXPECTED_RULE.values() if rule is not None}
    assert covered == set(router_events())


def test_negative_fixtures_exist_for_both_sources() -> None:
    sources = {load_fixture(name)["source"] for name in NEGATIVE}
    assert sources == {"aws.kafka", "aws.ec2"}


# ---------------------------------------------------------------------------
# Shape
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPECTED_RULE))
def test_fixture_has_the_eventbridge_envelope(name: str) -> None:
    event = load_fixture(name)

    assert set(event) == ENVELOPE_KEYS
    assert event["version"] == "0"
    assert UUID.match(event["id"])
    assert event["account"] == ACCOUNT
    assert event["region"] == REGION
    assert isinstance(event["resources"], list)
    assert isinstance(event["detail"], dict)
    assert datetime.fromisoformat(event["time"]).tzinfo is not None
    assert event["time"].endswith("Z")


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED_RULE if not n.startswith("scheduled")))
def test_cloudtrail_fixture_has_the_cloudtrail_detail(name: str) -> None:
    event = load_fixture(name)
    detail = event["detail"]

    assert event["detail-type"] == "AWS API Call via CloudTrail"
    assert set(detail) >= CLOUDTRAIL_KEYS
    assert detail["eventType"] == "AwsApiCall"
    assert detail["eventCategory"] == "Management"
    assert detail["managementEvent"] is True
    assert detail["awsRegion"] == event["region"]
    assert detail["recipientAccountId"] == event["account"]
    assert detail["eventTime"] == event["time"]
    assert detail["eventSource"] == f"{event['source'].removeprefix('aws.')}.amazonaws.com"
    assert UUID.match(detail["eventID"])
    assert detail["userIdentity"]["accountId"] == ACCOUNT


def test_scheduled_fixture_has_the_scheduled_event_shape() -> None:
    event = load_fixture("scheduled-reconcile.json")

    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["detail"] == {}
    [rule_arn] = event["resources"]
    assert rule_arn.startswith(f"arn:aws:events:{REGION}:{ACCOUNT}:rule/")


@pytest.mark.parametrize("name", sorted(EXPECTED_RULE))
def test_every_cluster_arn_is_the_shared_fixture_arn(name: str) -> None:
    event = load_fixture(name)
    found = {
        arn for text in strings_in(event) for arn in CLUSTER_ARN_IN_TEXT.findall(text)
    }  # cluster-operation/... ARNs do not match the "cluster/" pattern
    assert found <= {FIXTURE_CLUSTER_ARN}


@pytest.mark.parametrize(
    "name", sorted(n for n, rule in EXPECTED_RULE.items() if rule == "KafkaApiCalls")
)
def test_msk_fixture_names_its_cluster_and_operation(name: str) -> None:
    detail = load_fixture(name)["detail"]

    # URL-encoded as a URI path parameter, as the MSK guide's CloudTrail sample shows.
    assert detail["requestParameters"]["clusterArn"] == quote(FIXTURE_CLUSTER_ARN, safe="")
    assert detail["responseElements"]["clusterArn"] == FIXTURE_CLUSTER_ARN
    assert detail["readOnly"] is False
    assert "errorCode" not in detail
    if detail["eventName"] != "DeleteCluster":
        operation = detail["responseElements"]["clusterOperationArn"]
        assert operation.startswith(
            f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster-operation/demo-cluster/"
        )


def test_update_broker_count_fixture_carries_the_target_count() -> None:
    params = load_fixture("kafka-update-broker-count.json")["detail"]["requestParameters"]

    assert set(params) == {"clusterArn", "currentVersion", "targetNumberOfBrokerNodes"}
    assert isinstance(params["targetNumberOfBrokerNodes"], int)


def test_reboot_broker_fixture_names_broker_ids() -> None:
    params = load_fixture("kafka-reboot-broker.json")["detail"]["requestParameters"]

    assert params["brokerIds"]
    assert all(isinstance(b, str) for b in params["brokerIds"])


@pytest.mark.parametrize(
    "name", sorted(n for n, rule in EXPECTED_RULE.items() if rule == "MskNetworkInterfaceCalls")
)
def test_eni_fixture_is_made_by_the_msk_service_linked_role(name: str) -> None:
    identity = load_fixture(name)["detail"]["userIdentity"]

    assert identity["type"] == "AssumedRole"
    assert identity["invokedBy"] == "kafka.amazonaws.com"
    assert identity["arn"].startswith(
        f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSServiceRoleForKafka/"
    )
    assert identity["sessionContext"]["sessionIssuer"]["userName"] == "AWSServiceRoleForKafka"


def test_create_eni_fixture_reports_the_new_interface() -> None:
    detail = load_fixture("ec2-create-network-interface.json")["detail"]
    request = detail["requestParameters"]
    eni = detail["responseElements"]["networkInterface"]

    assert {"subnetId", "description", "groupSet"} <= set(request)
    assert eni["networkInterfaceId"].startswith("eni-")
    assert eni["subnetId"] == request["subnetId"]
    assert eni["vpcId"].startswith("vpc-")
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", eni["privateIpAddress"])


def test_not_msk_fixture_differs_from_the_msk_one_only_in_who_called() -> None:
    msk = load_fixture("ec2-create-network-interface.json")["detail"]
    other = load_fixture("ec2-create-network-interface-not-msk.json")["detail"]

    assert other["eventName"] == msk["eventName"]
    assert other["eventSource"] == msk["eventSource"]
    assert "errorCode" not in other
    assert other["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] != (
        "AWSServiceRoleForKafka"
    )


# ---------------------------------------------------------------------------
# Routing by the template's rules (moto's EventBridge pattern engine)
# ---------------------------------------------------------------------------
def test_template_has_the_expected_rule_kinds() -> None:
    events = router_events()

    assert {n for n, e in events.items() if e["Type"] == "EventBridgeRule"} == {
        "KafkaApiCalls",
        "MskNetworkInterfaceCalls",
    }
    assert events["ReconcileSchedule"]["Type"] == "Schedule"
    assert events["ReconcileSchedule"]["Properties"]["Schedule"] == {"Ref": "ReconcileSchedule"}


@pytest.mark.parametrize("name", POSITIVE)
def test_positive_fixture_matches_exactly_its_rule(harness: RuleHarness, name: str) -> None:
    # Given a fixture meant for one rule
    event = load_fixture(name)
    expected = EXPECTED_RULE[name]

    # When it is put on a bus carrying every pattern rule of the template
    matched = harness.matching_rules(event)

    # Then only that rule fires (a scheduled tick comes from the Schedule
    # event, which has no pattern: no pattern rule may claim it)
    if router_events()[str(expected)]["Type"] == "Schedule":
        assert matched == set()
    else:
        assert matched == {expected}


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_fixture_matches_no_rule(harness: RuleHarness, name: str) -> None:
    assert harness.matching_rules(load_fixture(name)) == set()


@pytest.mark.parametrize("name", [n for n in POSITIVE if n.startswith(("kafka-", "ec2-"))])
def test_positive_fixture_stops_matching_when_its_event_name_changes(
    harness: RuleHarness, name: str
) -> None:
    # Guards against a pattern that matches too much (e.g. no eventName filter).
    event = load_fixture(name)
    event["detail"]["eventName"] = "DescribeClusterV2"

    assert harness.matching_rules(event) == set()


# ---------------------------------------------------------------------------
# Routing by the router's own logic (the fixtures are its test inputs too)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPECTED_RULE))
def test_router_logic_agrees_with_the_rules(name: str) -> None:
    from msk_privatelink.reconcile.triggers import route

    routing = route(load_fixture(name), [FIXTURE_CLUSTER_ARN])

    clusters = {request.cluster_arn for request in routing.requests}
    if EXPECTED_RULE[name] is None:
        assert clusters == set(), routing.note
    else:
        assert clusters == {FIXTURE_CLUSTER_ARN}, routing.note
