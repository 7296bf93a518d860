"""Cluster operations: what DescribeClusterOperation(V2) and ListClusterOperations(V2) show."""

from __future__ import annotations

from typing import Any

import pytest

from msk_privatelink_dev.embedded import EmbeddedAws, Network

pytestmark = pytest.mark.integration


def version_of(kafka: Any, arn: str) -> str:
    return str(kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"])


def test_update_broker_count_is_followed_from_pending_to_complete(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    # Given a cluster whose operations wait for the test to finish them
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    aws.msk.complete_immediately = False

    # When the broker count is raised from 3 to 6
    operation_arn = kafka.update_broker_count(
        ClusterArn=arn, CurrentVersion=version_of(kafka, arn), TargetNumberOfBrokerNodes=6
    )["ClusterOperationArn"]

    # Then the operation is pending, carries source and target counts, and the
    # cluster points at it
    info = kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)
    operation = info["ClusterOperationInfo"]
    assert operation["OperationState"] == "PENDING"
    assert operation["OperationType"] == "INCREASE_BROKER_COUNT"
    assert operation["ClusterArn"] == arn
    assert "EndTime" not in operation
    provisioned = operation["Provisioned"]
    assert provisioned["SourceClusterInfo"]["NumberOfBrokerNodes"] == 3
    assert provisioned["TargetClusterInfo"]["NumberOfBrokerNodes"] == 6
    assert provisioned["TargetClusterInfo"]["BrokerCountUpdateInfo"] == {
        "CreatedBrokerIds": [4.0, 5.0, 6.0]
    }
    cluster = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    assert (cluster["State"], cluster["ActiveOperationArn"]) == ("UPDATING", operation_arn)

    aws.msk.advance_operations(arn)
    state = kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)
    assert state["ClusterOperationInfo"]["OperationState"] == "UPDATE_IN_PROGRESS"
    assert "ActiveOperationArn" in kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]

    # When MSK finishes
    aws.msk.complete_operations(arn)

    # Then the operation is complete with an end time and the cluster is free
    done = kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)
    assert done["ClusterOperationInfo"]["OperationState"] == "UPDATE_COMPLETE"
    assert done["ClusterOperationInfo"]["EndTime"] >= done["ClusterOperationInfo"]["StartTime"]
    cluster = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    assert cluster["State"] == "ACTIVE"
    assert "ActiveOperationArn" not in cluster
    assert cluster["Provisioned"]["NumberOfBrokerNodes"] == 6


def test_the_v1_operation_shows_the_same_operation(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids, broker_count=6)
    aws.msk.complete_immediately = False
    operation_arn = kafka.update_broker_count(
        ClusterArn=arn, CurrentVersion=version_of(kafka, arn), TargetNumberOfBrokerNodes=3
    )["ClusterOperationArn"]

    operation = kafka.describe_cluster_operation(ClusterOperationArn=operation_arn)[
        "ClusterOperationInfo"
    ]

    assert operation["OperationType"] == "DECREASE_BROKER_COUNT"
    assert operation["OperationState"] == "PENDING"
    assert operation["SourceClusterInfo"]["NumberOfBrokerNodes"] == 6
    assert operation["TargetClusterInfo"]["NumberOfBrokerNodes"] == 3
    assert operation["TargetClusterInfo"]["BrokerCountUpdateInfo"] == {
        "DeletedBrokerIds": [4.0, 5.0, 6.0]
    }
    assert operation["CreationTime"]


def test_with_immediate_completion_the_operation_is_already_complete(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)

    operation_arn = kafka.update_broker_count(
        ClusterArn=arn, CurrentVersion=version_of(kafka, arn), TargetNumberOfBrokerNodes=6
    )["ClusterOperationArn"]

    operation = kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)
    assert operation["ClusterOperationInfo"]["OperationState"] == "UPDATE_COMPLETE"
    assert "ActiveOperationArn" not in kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]


def test_list_cluster_operations_pages_newest_first(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    other = aws.msk.create_cluster("payments", network.subnet_ids)
    scale = kafka.update_broker_count(
        ClusterArn=arn, CurrentVersion=version_of(kafka, arn), TargetNumberOfBrokerNodes=6
    )["ClusterOperationArn"]
    reboot = kafka.reboot_broker(ClusterArn=arn, BrokerIds=["1"])["ClusterOperationArn"]

    pages = kafka.get_paginator("list_cluster_operations_v2").paginate(
        ClusterArn=arn, PaginationConfig={"PageSize": 2}
    )
    summaries = [s for page in pages for s in page["ClusterOperationInfoList"]]

    assert [s["OperationArn"] for s in summaries[:2]] == [reboot, scale]
    assert [s["OperationType"] for s in summaries] == [
        "REBOOT_NODE",
        "INCREASE_BROKER_COUNT",
        "CREATE",
    ]
    assert {s["ClusterArn"] for s in summaries} == {arn}
    v1 = kafka.list_cluster_operations(ClusterArn=other)["ClusterOperationInfoList"]
    assert [o["OperationType"] for o in v1] == ["CREATE"]


def test_a_failed_operation_reports_its_error_and_leaves_the_cluster_as_it_was(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    before = version_of(kafka, arn)
    aws.msk.complete_immediately = False
    operation_arn = kafka.update_broker_count(
        ClusterArn=arn, CurrentVersion=before, TargetNumberOfBrokerNodes=6
    )["ClusterOperationArn"]

    aws.msk.fail_operations(arn, "InsufficientCapacity", "No capacity for kafka.m5.large.")

    operation = kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)[
        "ClusterOperationInfo"
    ]
    assert operation["OperationState"] == "UPDATE_FAILED"
    assert operation["ErrorInfo"] == {
        "ErrorCode": "InsufficientCapacity",
        "ErrorString": "No capacity for kafka.m5.large.",
    }
    cluster = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    assert (cluster["State"], cluster["CurrentVersion"]) == ("ACTIVE", before)
    assert cluster["Provisioned"]["NumberOfBrokerNodes"] == 3
    assert "ActiveOperationArn" not in cluster


def test_an_unknown_operation_is_not_found(aws: EmbeddedAws, kafka: Any, network: Network) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    unknown = arn.replace(":cluster/", ":cluster-operation/") + "/0000"

    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.describe_cluster_operation_v2(ClusterOperationArn=unknown)
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.list_cluster_operations_v2(ClusterArn=arn + "0")


def test_operations_outlive_a_deleted_cluster(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)

    operation_arn = kafka.delete_cluster(ClusterArn=arn)
    listed = [
        o["OperationArn"] for o in aws.msk.operations_of(arn) if o["OperationType"] == "DELETE"
    ]

    assert operation_arn["State"] == "DELETING"
    assert len(listed) == 1
    operation = kafka.describe_cluster_operation_v2(ClusterOperationArn=listed[0])
    assert operation["ClusterOperationInfo"]["OperationState"] == "UPDATE_COMPLETE"
