"""The REST-JSON codec reads what botocore writes and writes what botocore reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from msk_privatelink_dev.embedded.msk_contract import MskApiError, kafka_service_model, not_found
from msk_privatelink_dev.embedded.rest_json import (
    HttpRequest,
    HttpResponse,
    decode_request,
    encode_error,
    encode_response,
)

ARN = "arn:aws:kafka:eu-west-1:123456789012:cluster/orders/6c0e3c5c-1f4e-4d7b-9d8e-1a2b3c4d5e6f-2"


def as_wire(operation_name: str, params: dict[str, Any]) -> HttpRequest:
    serialized = create_serializer("rest-json").serialize_to_request(
        params, kafka_service_model().operation_model(operation_name)
    )
    query = {
        key: value if isinstance(value, list) else [str(value)]
        for key, value in serialized["query_string"].items()
    }
    body = serialized["body"]
    return HttpRequest(
        method=serialized["method"],
        raw_path=serialized["url_path"],
        query=query,
        headers={k.lower(): v for k, v in serialized["headers"].items()},
        body=body.encode() if isinstance(body, str) else body,
    )


@pytest.mark.parametrize(
    ("operation_name", "params"),
    [
        ("ListNodes", {"ClusterArn": ARN, "MaxResults": 2, "NextToken": "abc"}),
        ("DescribeClusterV2", {"ClusterArn": ARN}),
        ("DescribeCluster", {"ClusterArn": ARN}),
        ("GetBootstrapBrokers", {"ClusterArn": ARN}),
        ("ListClustersV2", {"ClusterNameFilter": "ord", "MaxResults": 5}),
        (
            "UpdateBrokerCount",
            {"ClusterArn": ARN, "CurrentVersion": "K1", "TargetNumberOfBrokerNodes": 6},
        ),
        ("RebootBroker", {"ClusterArn": ARN, "BrokerIds": ["2"]}),
        ("DeleteCluster", {"ClusterArn": ARN, "CurrentVersion": "K1"}),
        ("TagResource", {"ResourceArn": ARN, "Tags": {"a": "1"}}),
        ("UntagResource", {"ResourceArn": ARN, "TagKeys": ["a", "b"]}),
        (
            "CreateClusterV2",
            {
                "ClusterName": "orders",
                "Tags": {"team": "a"},
                "Provisioned": {
                    "BrokerNodeGroupInfo": {
                        "ClientSubnets": ["subnet-1", "subnet-2"],
                        "InstanceType": "kafka.m5.large",
                    },
                    "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}},
                    "KafkaVersion": "3.9.x",
                    "NumberOfBrokerNodes": 2,
                },
            },
        ),
    ],
)
def test_decoding_what_botocore_serialises_gives_back_the_parameters(
    operation_name: str, params: dict[str, Any]
) -> None:
    assert decode_request(kafka_service_model(), as_wire(operation_name, params)) == (
        operation_name,
        params,
    )


def test_an_unknown_route_is_reported() -> None:
    with pytest.raises(MskApiError) as excinfo:
        decode_request(kafka_service_model(), HttpRequest("PATCH", "/v9/nothing"))
    assert excinfo.value.status == 404


def parse(operation_name: str, answer: HttpResponse) -> dict[str, Any]:
    operation = kafka_service_model().operation_model(operation_name)
    http = AWSResponse("https://x", answer.status, HTTPHeaders.from_dict(answer.headers), None)
    response = {"status_code": answer.status, "headers": http.headers, "body": answer.body}
    assert operation.output_shape is not None
    parsed: dict[str, Any] = create_parser("rest-json").parse(response, operation.output_shape)
    return parsed


def test_botocore_parses_an_encoded_answer_back() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    result = {"ClusterInfo": {"ClusterArn": ARN, "CreationTime": created, "State": "ACTIVE"}}

    parsed = parse(
        "DescribeClusterV2",
        encode_response(kafka_service_model().operation_model("DescribeClusterV2"), result),
    )

    assert parsed["ClusterInfo"] == result["ClusterInfo"]


def test_botocore_parses_an_encoded_error() -> None:
    parsed = parse("ListNodes", encode_error(not_found("gone")))

    assert parsed["Error"] == {"Code": "NotFoundException", "Message": "gone"}
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 404
