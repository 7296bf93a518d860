"""The broker count an UpdateBrokerCount in progress leads to (shared-nlb's
scale-out preparation), read from botocore-shaped answers."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from msk_privatelink.reconcile.aws.msk import MskInventoryReader, target_broker_count
from tests.factories import CLUSTER_ARN, SUBNETS

OPERATION_ARN = CLUSTER_ARN.replace(":cluster/", ":cluster-operation/") + "/op-1"


def operation(
    kind: str = "INCREASE_BROKER_COUNT", state: str = "UPDATE_IN_PROGRESS"
) -> dict[str, Any]:
    return {
        "ClusterArn": CLUSTER_ARN,
        "ClusterType": "PROVISIONED",
        "OperationArn": OPERATION_ARN,
        "OperationState": state,
        "OperationType": kind,
        "Provisioned": {
            "SourceClusterInfo": {"NumberOfBrokerNodes": 3},
            "TargetClusterInfo": {"NumberOfBrokerNodes": 6},
        },
    }


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (operation(), 6),
        (operation("UPDATE_BROKER_COUNT", "PENDING"), 6),
        (operation(state="UPDATE_COMPLETE"), None),
        (operation("UPDATE_CLUSTER_CONFIGURATION"), None),
        ({**operation(), "Provisioned": {}}, None),
    ],
)
def test_target_count_only_for_a_broker_count_change_in_progress(
    info: dict[str, Any], expected: int | None
) -> None:
    assert target_broker_count(info) == expected


def cluster(state: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "ClusterArn": CLUSTER_ARN,
        "ClusterName": "demo-cluster",
        "ClusterType": "PROVISIONED",
        "State": state,
        "Provisioned": {
            "BrokerNodeGroupInfo": {
                "ClientSubnets": list(SUBNETS),
                "InstanceType": "kafka.m5.large",
            },
            "NumberOfBrokerNodes": 3,
        },
    }
    if state == "UPDATING":
        info["ActiveOperationArn"] = OPERATION_ARN
    return {"ClusterInfo": info}


def reader(state: str, *, with_operation: bool) -> tuple[MskInventoryReader, Stubber]:
    session = boto3.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    )
    kafka = session.client("kafka")
    ec2 = session.client("ec2")
    stub = Stubber(kafka)
    stub.add_response("describe_cluster_v2", cluster(state), {"ClusterArn": CLUSTER_ARN})
    stub.add_response("list_nodes", {"NodeInfoList": []}, {"ClusterArn": CLUSTER_ARN})
    if with_operation:
        stub.add_response(
            "describe_cluster_operation_v2",
            {"ClusterOperationInfo": operation()},
            {"ClusterOperationArn": OPERATION_ARN},
        )
    stub.activate()
    return MskInventoryReader(kafka, ec2), stub  # type: ignore[arg-type]


def test_updating_cluster_reads_its_operation() -> None:
    msk, stub = reader("UPDATING", with_operation=True)
    inventory = msk.read(CLUSTER_ARN, vpc_id="vpc-1", read_operation=True)
    assert inventory.target_broker_count == 6
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(("state", "asked"), [("ACTIVE", True), ("UPDATING", False)])
def test_no_operation_read_otherwise(state: str, asked: bool) -> None:
    # The Stubber fails on any call it was not given: no extra read happens.
    msk, stub = reader(state, with_operation=False)
    inventory = msk.read(CLUSTER_ARN, vpc_id="vpc-1", read_operation=asked)
    assert inventory.target_broker_count is None
    stub.assert_no_pending_responses()


def test_an_unreadable_operation_only_skips_the_preparation() -> None:
    session = boto3.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    )
    kafka = session.client("kafka")
    stub = Stubber(kafka)
    stub.add_response("describe_cluster_v2", cluster("UPDATING"), {"ClusterArn": CLUSTER_ARN})
    stub.add_response("list_nodes", {"NodeInfoList": []}, {"ClusterArn": CLUSTER_ARN})
    stub.add_client_error(
        "describe_cluster_operation_v2", "ForbiddenException", http_status_code=403
    )
    stub.activate()
    msk = MskInventoryReader(kafka, session.client("ec2"))  # type: ignore[arg-type]
    assert msk.read(CLUSTER_ARN, vpc_id="vpc-1", read_operation=True).target_broker_count is None
