"""The botocore model checks that keep the simulator honest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from msk_privatelink_dev.embedded.msk_contract import (
    MskApiError,
    SimulatorDriftError,
    validate_input,
    validate_output,
)


@pytest.mark.parametrize(
    ("operation", "response", "problem"),
    [
        ("ListNodes", {"NodeInfoList": [{"BrokerNodeInfo": {"BrokerId": "1"}}]}, "BrokerId"),
        ("ListNodes", {"NodeInfoList": [{"BrokerNodeInfo": {"BrokerId": 1}}]}, "float"),
        ("ListNodes", {"Nodes": []}, "Nodes"),
        ("DescribeClusterV2", {"ClusterInfo": {"State": "RUNNING"}}, "RUNNING"),
        ("GetBootstrapBrokers", {"BootstrapBrokerString": ["b-1:9092"]}, "BootstrapBrokerString"),
        ("TagResource", {"Tags": {}}, "no output"),
    ],
)
def test_a_response_that_does_not_fit_the_model_is_refused(
    operation: str, response: dict[str, object], problem: str
) -> None:
    with pytest.raises(SimulatorDriftError, match=problem):
        validate_output(operation, response)


def test_a_response_that_fits_the_model_passes() -> None:
    validate_output(
        "DescribeClusterV2",
        {"ClusterInfo": {"State": "ACTIVE", "CreationTime": datetime.now(UTC)}},
    )
    validate_output("ListNodes", {"NodeInfoList": [{"BrokerNodeInfo": {"BrokerId": 1.0}}]})


@pytest.mark.parametrize(
    "params",
    [
        {"ClusterArn": "arn", "MaxResults": 101},
        {"MaxResults": 1},
        {"ClusterArn": 7},
    ],
)
def test_a_request_that_does_not_fit_the_model_is_a_bad_request(params: dict[str, object]) -> None:
    with pytest.raises(MskApiError) as excinfo:
        validate_input("ListNodes", params)
    assert (excinfo.value.code, excinfo.value.status) == ("BadRequestException", 400)
