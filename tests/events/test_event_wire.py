"""The events' JSON and what is stored from them, pinned to what deployed stacks hold.

The fingerprints, details, request documents and tenancy parameters below
were produced by the previous implementation of these models. A deployed
stack keeps the fingerprint of the last published view in its state table
and each consumer keeps its tenancy in SSM: a different digest would
re-publish every cluster once, an unreadable parameter would stop a
consumer following its cluster.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import pytest

from msk_privatelink.consumer.aws.registry import Tenancy, TenancyRegistry, parameter_name
from msk_privatelink.consumer.sync import ConsumerSettings
from msk_privatelink.kernel.consumer_events import (
    ACCOUNT_ID_PATTERN,
    CLUSTER_ARN_PATTERN,
    REGION_PATTERN,
    SECURITY_GROUP_ID_PATTERN,
    SUBNET_ID_PATTERN,
    TASK_TOKEN_PATTERN,
    VPC_ENDPOINT_ID_PATTERN,
    VPC_ID_PATTERN,
    ConsumerEndpointsReady,
    ConsumerOffboardingRequested,
    ConsumerOnboardingRequested,
)
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.events import BootstrapEndpoint, BrokerEndpoint, BrokerEndpointsChanged
from msk_privatelink.kernel.records import InvalidRecord, parse, parse_json, to_data
from msk_privatelink.onboarding.request import (
    AZ_ID_PATTERN,
    EVENT_BUS_ARN_PATTERN,
    InvalidRequestError,
    OffboardingRequest,
    OnboardingRequest,
    parse_request,
)

ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/"
    "7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
SHARED_SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0aa3456789abcdef0"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAd1Example+TaskToken/Base64=="


def host(broker_id: int) -> str:
    return f"b-{broker_id}.democluster.abc123.c2.kafka.us-east-1.amazonaws.com"


def _view(
    pattern: Literal["nlb-per-broker", "shared-nlb"],
    generation: int,
    brokers: tuple[tuple[int, dict[str, int], str], ...],
    bootstrap: BootstrapEndpoint | None = None,
) -> BrokerEndpointsChanged:
    """A view of (broker id, ports, endpoint service name) per broker."""
    return BrokerEndpointsChanged(
        cluster_arn=ARN,
        cluster_name="demo-cluster",
        region="us-east-1",
        pattern=pattern,
        generation=generation,
        brokers=tuple(
            BrokerEndpoint(
                broker_id=i,
                host_names=(host(i),),
                endpoint_service_name=service,
                endpoint_service_id=service.rsplit(".", 1)[1],
                ports=ports,
            )
            for i, ports, service in brokers
        ),
        bootstrap=bootstrap,
    )


def per_broker_view(ports: dict[str, int], broker_ids: tuple[int, ...]) -> BrokerEndpointsChanged:
    return _view(
        "nlb-per-broker",
        3,
        tuple(
            (i, ports, f"com.amazonaws.vpce.us-east-1.vpce-svc-0{i}23456789abcdef0")
            for i in broker_ids
        ),
    )


def shared_view() -> BrokerEndpointsChanged:
    return _view(
        "shared-nlb",
        2,
        tuple((i, {"sasl_iam": 9000 + i, "tls": 8440 + i}, SHARED_SERVICE) for i in (1, 2, 3)),
        BootstrapEndpoint(
            endpoint_service_name=SHARED_SERVICE,
            endpoint_service_id="vpce-svc-0aa3456789abcdef0",
            ports={"sasl_iam": 9098, "tls": 9094},
        ),
    )


# -- BrokerEndpointsChanged --------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "fingerprint"),
    [
        (
            per_broker_view({"sasl_iam": 9098}, (1, 2, 3)),
            "6a9a72eca9001a6c51f1d801c74c9fbf0ab324baffd1caf87eae6791e8ba3db4",
        ),
        (
            per_broker_view({"sasl_iam": 9098, "tls": 9094}, (1, 2)),
            "05b9f118c1c8622f363c29d31ac4845aace14caec6923f8072863a039d5bce14",
        ),
        (shared_view(), "5080861cf2f9f6413be494addf8440752ccecbb639bc7b89c0c5bd3c2dd15d7e"),
    ],
    ids=["nlb-per-broker", "nlb-per-broker-two-schemes", "shared-nlb-with-bootstrap"],
)
def test_fingerprints_are_the_ones_deployed_stacks_hold(
    view: BrokerEndpointsChanged, fingerprint: str
) -> None:
    assert view.fingerprint() == fingerprint
    # The generation is not part of it; anything consumers see is.
    assert parse(BrokerEndpointsChanged, {**to_data(view), "generation": 99}).fingerprint() == (
        fingerprint
    )
    assert per_broker_view({"sasl_iam": 9099}, (1, 2, 3)).fingerprint() != fingerprint


def broker(broker_id: int) -> dict[str, Any]:
    return {
        "brokerId": broker_id,
        "hostNames": [host(broker_id)],
        "endpointServiceName": SHARED_SERVICE,
        "endpointServiceId": "vpce-svc-0aa3456789abcdef0",
        "ports": {"sasl_iam": 9000 + broker_id, "tls": 8440 + broker_id},
    }


# Key order included: the detail is compared as JSON text.
SHARED_DETAIL: dict[str, Any] = {
    "schemaVersion": "1.0",
    "clusterArn": ARN,
    "clusterName": "demo-cluster",
    "region": "us-east-1",
    "pattern": "shared-nlb",
    "generation": 2,
    "brokers": [broker(1), broker(2), broker(3)],
    "bootstrap": {
        "endpointServiceName": SHARED_SERVICE,
        "endpointServiceId": "vpce-svc-0aa3456789abcdef0",
        "ports": {"sasl_iam": 9098, "tls": 9094},
    },
}
TENANT: dict[str, Any] = {
    "schemaVersion": "1.0",
    "clusterArn": ARN,
    "consumerAccountId": "111122223333",
    "consumerRegion": "us-east-1",
    "vpcId": "vpc-0a1b2c3d4e5f60718",
}
ONBOARDING_DETAIL: dict[str, Any] = {
    **TENANT,
    "subnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718"],
    "securityGroupIds": ["sg-0a1b2c3d4e5f60718"],
    "taskToken": TOKEN,
    "generation": 2,
    "endpoints": SHARED_DETAIL,
}
OFFBOARDING_DETAIL: dict[str, Any] = {**TENANT, "taskToken": TOKEN, "generation": 4}
READY_DETAIL: dict[str, Any] = {
    **TENANT,
    "generation": 4,
    "state": "ready",
    "reason": "",
    "taskToken": TOKEN,
    "endpoints": [
        {
            "serviceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
            "vpcEndpointId": "vpce-0f1e2d3c4b5a69788",
        }
    ],
}


def compact(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def test_a_view_is_put_on_the_bus_with_the_same_detail_as_before() -> None:
    assert shared_view().to_detail_json() == compact(SHARED_DETAIL)
    per_broker = json.loads(per_broker_view({"sasl_iam": 9098}, (1,)).to_detail_json())
    # No detailType in the detail (it is the envelope's detail-type), a null bootstrap.
    assert "detailType" not in per_broker
    assert per_broker["bootstrap"] is None


@pytest.mark.parametrize(
    ("kind", "detail"),
    [
        (BrokerEndpointsChanged, SHARED_DETAIL),
        (ConsumerOnboardingRequested, ONBOARDING_DETAIL),
        (ConsumerOffboardingRequested, OFFBOARDING_DETAIL),
        (ConsumerEndpointsReady, READY_DETAIL),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_every_detail_reads_and_writes_back_unchanged(kind: Any, detail: dict[str, Any]) -> None:
    event = parse_json(kind, compact(detail))
    # What goes on the bus: byte for byte what an earlier version wrote
    # (ConsumerOnboardingRequested leaves out connectivityCanary while true).
    assert event.to_detail_json() == compact(detail)
    assert parse_json(kind, event.to_detail_json()) == event


def test_a_report_without_token_or_reason_keeps_its_null_and_empty_fields() -> None:
    report = ConsumerEndpointsReady(
        cluster_arn=ARN,
        consumer_account_id="111122223333",
        consumer_region="us-east-1",
        vpc_id="vpc-0a1b2c3d4e5f60718",
        generation=4,
        state="removed",
    )
    assert json.loads(report.to_detail_json()) == {
        **TENANT,
        "generation": 4,
        "state": "removed",
        "reason": "",
        "taskToken": None,
        "endpoints": [],
    }


def test_only_wire_keys_are_read() -> None:
    snake = {**READY_DETAIL, "consumer_account_id": READY_DETAIL["consumerAccountId"]}
    del snake["consumerAccountId"]
    with pytest.raises(InvalidRecord, match="consumer_account_id"):
        parse(ConsumerEndpointsReady, snake)
    with pytest.raises(InvalidRecord, match="detailType"):
        parse(ConsumerEndpointsReady, {**READY_DETAIL, "detailType": "ConsumerEndpointsReady"})


def test_events_are_frozen() -> None:
    view = shared_view()
    with pytest.raises(AttributeError):
        view.generation = 5  # type: ignore[misc]


# -- trailing newlines ------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        (CLUSTER_ARN_PATTERN, ARN),
        (ACCOUNT_ID_PATTERN, "111122223333"),
        (REGION_PATTERN, "eu-west-1"),
        (VPC_ID_PATTERN, "vpc-0123abcd"),
        (SUBNET_ID_PATTERN, "subnet-0123abcd"),
        (SECURITY_GROUP_ID_PATTERN, "sg-0123abcd"),
        (VPC_ENDPOINT_ID_PATTERN, "vpce-0123abcd"),
        (TASK_TOKEN_PATTERN, TOKEN),
        (AZ_ID_PATTERN, "use1-az1"),
        (EVENT_BUS_ARN_PATTERN, "arn:aws:events:us-east-1:111122223333:event-bus/b"),
    ],
)
def test_every_pattern_matches_the_whole_value_only(pattern: str, valid: str) -> None:
    # As the decoder applies it: re.search.
    assert re.search(pattern, valid)
    for broken in (valid + "\n", "\n" + valid, valid + "x\n", " " + valid, valid + " "):
        assert not re.search(pattern, broken), broken


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("vpcId", {"vpcId": "vpc-0123abcd\n"}),
        ("consumerAccountId", {"consumerAccountId": "111122223333\n"}),
        ("consumerRegion", {"consumerRegion": "us-east-1\n"}),
        ("clusterArn", {"clusterArn": ARN + "\n"}),
        ("taskToken", {"taskToken": TOKEN + "\n"}),
        ("subnetIds[1]", {"subnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-0123abcd\n"]}),
        ("securityGroupIds[0]", {"securityGroupIds": ["sg-0123abcd\n"]}),
    ],
)
def test_a_trailing_newline_is_refused_in_a_request(field: str, change: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecord) as refused:
        parse(ConsumerOnboardingRequested, {**ONBOARDING_DETAIL, **change})
    assert refused.value.path == field


def test_a_trailing_newline_is_refused_in_an_answer() -> None:
    endpoint = {**READY_DETAIL["endpoints"][0], "vpcEndpointId": "vpce-0f1e2d3c4b5a69788\n"}
    with pytest.raises(InvalidRecord) as refused:
        parse(ConsumerEndpointsReady, {**READY_DETAIL, "endpoints": [endpoint]})
    assert refused.value.path == "endpoints[0].vpcEndpointId"


# -- the workflows' input ----------------------------------------------------------

REQUEST: dict[str, Any] = {
    "clusterArn": ARN,
    "consumerAccountId": "111122223333",
    "consumerRegion": "us-east-1",
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "subnetIds": ["subnet-0a1b2c3d4e5f60718"],
}
# What the state machine carries as $.request, defaults filled in, in this order.
REQUEST_AS_VALIDATED: dict[str, Any] = {
    "callbackTimeoutSeconds": 3600,
    "heartbeatSeconds": 3600,
    **REQUEST,
    "securityGroupIds": [],
    "availabilityZoneIds": [],
    "consumerEventBusArn": None,
    "pollSeconds": 15,
    "pollAttempts": 40,
    "connectivityCanary": True,
}


def test_a_request_validates_to_the_same_document_and_digest_as_before() -> None:
    request = parse_request(OnboardingRequest, REQUEST)
    # Compared as JSON text: key order included, tuples written as lists.
    assert compact(request.to_json_dict()) == compact(REQUEST_AS_VALIDATED)
    assert request.digest() == "dfb37aa29197cb3f0c647f69d5037b7a407d91858d5c3313187d807faac41204"
    offboarding = parse_request(
        OffboardingRequest, {"clusterArn": ARN, "consumerAccountId": "111122223333"}
    )
    assert offboarding.to_json_dict() == {
        "callbackTimeoutSeconds": 3600,
        "heartbeatSeconds": 3600,
        "clusterArn": ARN,
        "consumerAccountId": "111122223333",
    }


def test_leaving_a_cluster_out_of_the_canary_is_part_of_the_request_identity() -> None:
    plain = parse_request(OnboardingRequest, REQUEST)
    out = parse_request(OnboardingRequest, {**REQUEST, "connectivityCanary": False})
    said = parse_request(OnboardingRequest, {**REQUEST, "connectivityCanary": True})

    # The default keeps the digest every earlier request was stored with.
    assert said.digest() == plain.digest()
    assert out.digest() != plain.digest()
    assert out.identity()["connectivityCanary"] is False


def test_the_heartbeat_defaults_to_the_callback_timeout() -> None:
    only_timeout = parse_request(OnboardingRequest, {**REQUEST, "callbackTimeoutSeconds": 600})
    assert only_timeout.heartbeat == 600
    assert only_timeout.to_json_dict()["heartbeatSeconds"] == 600
    both = parse_request(
        OnboardingRequest, {**REQUEST, "callbackTimeoutSeconds": 600, "heartbeatSeconds": 60}
    )
    assert (both.heartbeat, both.to_json_dict()["heartbeatSeconds"]) == (60, 60)
    # Built in Python: the same default.
    built = OffboardingRequest(
        cluster_arn=ARN, consumer_account_id="111122223333", callback_timeout_seconds=120
    )
    assert built.heartbeat == 120


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"heartbeatSeconds": None}, "heartbeatSeconds"),
        ({"heartbeatSeconds": 7200}, "heartbeatSeconds must not exceed callbackTimeoutSeconds"),
        ({"callbackTimeoutSeconds": True}, "callbackTimeoutSeconds"),
        ({"pollAttempts": "5"}, "pollAttempts"),
        ({"vpcId": "vpc-0123abcd\n"}, "vpcId"),
        ({"vpc_id": "vpc-0123abcd"}, "vpc_id"),
    ],
)
def test_a_bad_request_is_refused_naming_its_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=re.escape(message)):
        parse_request(OnboardingRequest, {**REQUEST, **change})


# -- the consumer's stored tenancy ------------------------------------------------

# SSM parameter values as the previous implementation wrote them.
STORED_TENANCY = (
    '{"clusterArn": "' + ARN + '", "region": "us-east-1", '
    '"securityGroupIds": ["sg-0a1b2c3d4e5f60718"], '
    '"subnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718"], '
    '"version": 1, "vpcId": "vpc-0a1b2c3d4e5f60718"}'
)
STORED_TENANCY_WITHOUT_GROUPS = (
    '{"clusterArn": "' + ARN + '", "region": "eu-west-1", "securityGroupIds": [], '
    '"subnetIds": ["subnet-0a1b2c3d4e5f60718"], "version": 1, '
    '"vpcId": "vpc-0a1b2c3d4e5f60718"}'
)


class FakeSsm:
    """Parameters by name; enough of SSM for the registry's get and put."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get_parameter(self, Name: str) -> dict[str, Any]:
        return {"Parameter": {"Value": self.values[Name]}}

    def put_parameter(self, Name: str, Value: str, **_: Any) -> None:
        self.values[Name] = Value


def registry_holding(value: str) -> tuple[TenancyRegistry, FakeSsm, str]:
    ssm = FakeSsm()
    name = parameter_name("/p", ARN)
    ssm.values[name] = value
    return TenancyRegistry(ssm, "/p"), ssm, name  # type: ignore[arg-type]


def test_a_stored_tenancy_is_read_and_rewritten_identically() -> None:
    registry, ssm, name = registry_holding(STORED_TENANCY)
    tenancy = registry.get(ARN)
    assert tenancy is not None
    assert tenancy.settings() == ConsumerSettings(
        vpc_id="vpc-0a1b2c3d4e5f60718",
        subnet_ids=("subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718"),
        security_group_ids=("sg-0a1b2c3d4e5f60718",),
        region="us-east-1",
    )
    assert not registry.put(tenancy, tenancy)
    del ssm.values[name]
    assert registry.put(tenancy, None)
    assert ssm.values[name] == STORED_TENANCY

    registry, _, _ = registry_holding(STORED_TENANCY_WITHOUT_GROUPS)
    minimal = registry.get(ARN)
    assert minimal is not None
    assert (minimal.region, minimal.security_group_ids) == ("eu-west-1", ())


def test_the_settings_read_their_snake_case_keys() -> None:
    tenancy = parse_json(Tenancy, STORED_TENANCY)
    assert parse(ConsumerSettings, json.loads(json.dumps(to_data(tenancy.settings())))) == (
        tenancy.settings()
    )
    with pytest.raises(InvalidRecord, match="vpc_id"):
        parse(ConsumerSettings, {"vpc_id": "vpc-0123abcd\n", "region": "us-east-1"})


@pytest.mark.parametrize(
    "value",
    [
        STORED_TENANCY.replace('"vpc-0a1b2c3d4e5f60718"', '"vpc-0a1b2c3d4e5f60718\\n"'),
        STORED_TENANCY.replace('"version": 1', '"version": 2'),
        STORED_TENANCY_WITHOUT_GROUPS.replace(
            '"subnetIds": ["subnet-0a1b2c3d4e5f60718"]', '"subnetIds": []'
        ),
        "{not json",
    ],
    ids=["newline", "version", "no-subnets", "not-json"],
)
def test_a_damaged_tenancy_is_a_config_error(value: str) -> None:
    registry, _, _ = registry_holding(value)
    with pytest.raises(ConfigError, match="is not a consumer tenancy record"):
        registry.get(ARN)
