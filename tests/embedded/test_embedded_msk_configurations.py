"""MSK configurations and UpdateClusterConfiguration on the simulator."""

from __future__ import annotations

from typing import Any

import pytest

from msk_privatelink_dev.embedded import EmbeddedAws, Network

pytestmark = pytest.mark.integration

PROPERTIES = b"auto.create.topics.enable=false\nnum.partitions=3\n"


def software_of(kafka: Any, arn: str) -> dict[str, Any]:
    info = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    return dict(info["Provisioned"]["CurrentBrokerSoftwareInfo"])


def version_of(kafka: Any, arn: str) -> str:
    return str(kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"])


def test_a_configuration_keeps_every_revision_byte_for_byte(kafka: Any) -> None:
    created = kafka.create_configuration(
        Name="orders-config", ServerProperties=PROPERTIES, KafkaVersions=["3.9.x"]
    )
    arn = created["Arn"]
    assert created["LatestRevision"]["Revision"] == 1
    assert created["State"] == "ACTIVE"

    second = b"# a comment\r\nnum.partitions = 6\nlog.retention.hours=1\n"
    updated = kafka.update_configuration(Arn=arn, ServerProperties=second, Description="more")

    assert updated["LatestRevision"]["Revision"] == 2
    first = kafka.describe_configuration_revision(Arn=arn, Revision=1)
    assert first["ServerProperties"] == PROPERTIES
    latest = kafka.describe_configuration_revision(Arn=arn, Revision=2)
    assert (latest["ServerProperties"], latest["Description"]) == (second, "more")
    described = kafka.describe_configuration(Arn=arn)
    assert described["LatestRevision"]["Revision"] == 2
    assert described["KafkaVersions"] == ["3.9.x"]
    pages = kafka.get_paginator("list_configuration_revisions").paginate(
        Arn=arn, PaginationConfig={"PageSize": 1}
    )
    assert [r["Revision"] for page in pages for r in page["Revisions"]] == [1, 2]
    listed = kafka.list_configurations()["Configurations"]
    assert [(c["Arn"], c["Name"]) for c in listed] == [(arn, "orders-config")]


@pytest.mark.parametrize(
    ("name", "properties"),
    [
        ("bad name", PROPERTIES),
        ("-leading-dash", PROPERTIES),
        ("orders", b"just words\n"),
        ("orders", b"=no-key\n"),
        ("orders", b"\xff\xfe=1\n"),
    ],
)
def test_bad_names_and_properties_are_refused(kafka: Any, name: str, properties: bytes) -> None:
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.create_configuration(Name=name, ServerProperties=properties)
    assert kafka.list_configurations()["Configurations"] == []


def test_java_properties_separators_and_continuations_are_accepted(kafka: Any) -> None:
    properties = b"a:1\nb = 2\nlist=x,\\\n    y\n! old comment\n"

    arn = kafka.create_configuration(Name="orders", ServerProperties=properties)["Arn"]

    assert kafka.describe_configuration_revision(Arn=arn, Revision=1)["ServerProperties"] == (
        properties
    )


def test_duplicate_names_conflict_and_unknown_arns_are_not_found(kafka: Any) -> None:
    arn = kafka.create_configuration(Name="orders", ServerProperties=PROPERTIES)["Arn"]

    with pytest.raises(kafka.exceptions.ConflictException):
        kafka.create_configuration(Name="orders", ServerProperties=PROPERTIES)
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.describe_configuration(Arn=arn + "0")
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.describe_configuration_revision(Arn=arn, Revision=2)
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.update_configuration(Arn=arn + "0", ServerProperties=PROPERTIES)


def test_update_cluster_configuration_rolls_out_the_revision(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    # Given a cluster on MSK's default configuration and a custom configuration
    cluster_arn = aws.msk.create_cluster("orders", network.subnet_ids)
    assert software_of(kafka, cluster_arn) == {"KafkaVersion": "3.9.x"}
    configuration_arn = kafka.create_configuration(Name="orders", ServerProperties=PROPERTIES)[
        "Arn"
    ]
    aws.msk.complete_immediately = False
    before = version_of(kafka, cluster_arn)

    # When the cluster is switched to revision 1
    operation_arn = kafka.update_cluster_configuration(
        ClusterArn=cluster_arn,
        ConfigurationInfo={"Arn": configuration_arn, "Revision": 1},
        CurrentVersion=before,
    )["ClusterOperationArn"]

    # Then an UPDATE_CLUSTER_CONFIGURATION operation runs and nothing changes yet
    cluster = kafka.describe_cluster_v2(ClusterArn=cluster_arn)["ClusterInfo"]
    assert (cluster["State"], cluster["ActiveOperationArn"]) == ("UPDATING", operation_arn)
    assert software_of(kafka, cluster_arn) == {"KafkaVersion": "3.9.x"}
    operation = kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)[
        "ClusterOperationInfo"
    ]
    assert operation["OperationType"] == "UPDATE_CLUSTER_CONFIGURATION"
    assert operation["OperationState"] == "PENDING"
    assert operation["Provisioned"]["TargetClusterInfo"]["ConfigurationInfo"] == {
        "Arn": configuration_arn,
        "Revision": 1,
    }
    assert "SourceClusterInfo" not in operation["Provisioned"]
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.update_cluster_configuration(
            ClusterArn=cluster_arn,
            ConfigurationInfo={"Arn": configuration_arn, "Revision": 1},
            CurrentVersion=before,
        )

    # When MSK finishes the rolling update
    aws.msk.complete_operations(cluster_arn)

    # Then the brokers run revision 1 and the cluster has a new version
    assert software_of(kafka, cluster_arn) == {
        "KafkaVersion": "3.9.x",
        "ConfigurationArn": configuration_arn,
        "ConfigurationRevision": 1,
    }
    assert version_of(kafka, cluster_arn) != before
    node = kafka.list_nodes(ClusterArn=cluster_arn)["NodeInfoList"][0]
    assert node["BrokerNodeInfo"]["CurrentBrokerSoftwareInfo"]["ConfigurationRevision"] == 1
    done = kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)
    assert done["ClusterOperationInfo"]["OperationState"] == "UPDATE_COMPLETE"

    # And a second switch records where it came from
    kafka.update_configuration(Arn=configuration_arn, ServerProperties=PROPERTIES + b"a=b\n")
    second = kafka.update_cluster_configuration(
        ClusterArn=cluster_arn,
        ConfigurationInfo={"Arn": configuration_arn, "Revision": 2},
        CurrentVersion=version_of(kafka, cluster_arn),
    )["ClusterOperationArn"]
    source = kafka.describe_cluster_operation(ClusterOperationArn=second)["ClusterOperationInfo"][
        "SourceClusterInfo"
    ]
    assert source["ConfigurationInfo"] == {"Arn": configuration_arn, "Revision": 1}


def test_update_cluster_configuration_checks_version_and_revision(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    cluster_arn = aws.msk.create_cluster("orders", network.subnet_ids)
    configuration_arn = kafka.create_configuration(Name="orders", ServerProperties=PROPERTIES)[
        "Arn"
    ]
    current = version_of(kafka, cluster_arn)
    other = kafka.create_configuration(
        Name="kafka4", ServerProperties=PROPERTIES, KafkaVersions=["4.0.x.kraft"]
    )["Arn"]

    for info, version in (
        ({"Arn": configuration_arn, "Revision": 1}, "K1STALE"),
        ({"Arn": configuration_arn, "Revision": 2}, current),
        ({"Arn": configuration_arn + "0", "Revision": 1}, current),
        ({"Arn": other, "Revision": 1}, current),
    ):
        with pytest.raises(kafka.exceptions.BadRequestException):
            kafka.update_cluster_configuration(
                ClusterArn=cluster_arn, ConfigurationInfo=info, CurrentVersion=version
            )

    assert software_of(kafka, cluster_arn) == {"KafkaVersion": "3.9.x"}
    assert version_of(kafka, cluster_arn) == current
    assert [o["OperationType"] for o in aws.msk.operations_of(cluster_arn)] == ["CREATE"]


def test_a_failed_configuration_update_keeps_the_old_revision(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    cluster_arn = aws.msk.create_cluster("orders", network.subnet_ids)
    configuration_arn = kafka.create_configuration(Name="orders", ServerProperties=PROPERTIES)[
        "Arn"
    ]
    aws.msk.complete_immediately = False
    operation_arn = kafka.update_cluster_configuration(
        ClusterArn=cluster_arn,
        ConfigurationInfo={"Arn": configuration_arn, "Revision": 1},
        CurrentVersion=version_of(kafka, cluster_arn),
    )["ClusterOperationArn"]

    aws.msk.fail_operations(cluster_arn, "BrokerRestartFailed", "Broker 2 did not restart.")

    assert software_of(kafka, cluster_arn) == {"KafkaVersion": "3.9.x"}
    operation = kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)
    assert operation["ClusterOperationInfo"]["OperationState"] == "UPDATE_FAILED"
    assert operation["ClusterOperationInfo"]["ErrorInfo"]["ErrorCode"] == "BrokerRestartFailed"


def test_clusters_created_with_a_configuration_and_deletes_in_use_refused(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    configuration_arn = kafka.create_configuration(Name="orders", ServerProperties=PROPERTIES)[
        "Arn"
    ]
    group = {"ClientSubnets": list(network.subnet_ids), "InstanceType": "kafka.m5.large"}
    provisioned: dict[str, Any] = {
        "BrokerNodeGroupInfo": group,
        "KafkaVersion": "3.9.x",
        "NumberOfBrokerNodes": 3,
        "ConfigurationInfo": {"Arn": configuration_arn, "Revision": 7},
    }
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.create_cluster_v2(ClusterName="orders", Provisioned=provisioned)
    provisioned["ConfigurationInfo"]["Revision"] = 1
    cluster_arn = kafka.create_cluster_v2(ClusterName="orders", Provisioned=provisioned)[
        "ClusterArn"
    ]
    assert software_of(kafka, cluster_arn)["ConfigurationArn"] == configuration_arn

    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.delete_configuration(Arn=configuration_arn)
    kafka.delete_cluster(ClusterArn=cluster_arn)
    assert kafka.delete_configuration(Arn=configuration_arn)["State"] == "DELETING"
    assert kafka.list_configurations()["Configurations"] == []
