"""The MSK simulator as boto3 clients in this process see it."""

from __future__ import annotations

import ipaddress
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from msk_privatelink_dev.embedded import EmbeddedAws, Network, inprocess, msk_cluster, msk_simulator
from msk_privatelink_dev.embedded.msk_contract import SimulatorDriftError
from msk_privatelink_dev.local.consumers import account_session

pytestmark = pytest.mark.integration


def provisioned(subnet_ids: tuple[str, ...], count: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "BrokerNodeGroupInfo": {
            "ClientSubnets": list(subnet_ids),
            "InstanceType": "kafka.m7g.large",
        },
        "KafkaVersion": "3.9.x",
        "NumberOfBrokerNodes": count,
        **extra,
    }


def all_nodes(kafka: Any, cluster_arn: str, page_size: int = 2) -> list[dict[str, Any]]:
    pages = kafka.get_paginator("list_nodes").paginate(
        ClusterArn=cluster_arn, PaginationConfig={"PageSize": page_size}
    )
    return [node for page in pages for node in page["NodeInfoList"]]


def broker_ids(kafka: Any, cluster_arn: str) -> list[float]:
    return [node["BrokerNodeInfo"]["BrokerId"] for node in all_nodes(kafka, cluster_arn)]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_create_cluster_v2_through_boto3_is_active_with_the_requested_auth(
    kafka: Any, network: Network
) -> None:
    auth = {"Sasl": {"Scram": {"Enabled": True}, "Iam": {"Enabled": True}}}

    created = kafka.create_cluster_v2(
        ClusterName="orders", Provisioned=provisioned(network.subnet_ids, ClientAuthentication=auth)
    )

    assert created["State"] == "CREATING"  # what MSK answers to the create call
    info = kafka.describe_cluster_v2(ClusterArn=created["ClusterArn"])["ClusterInfo"]
    assert info["State"] == "ACTIVE"
    assert info["ClusterType"] == "PROVISIONED"
    assert info["CurrentVersion"]
    group = info["Provisioned"]["BrokerNodeGroupInfo"]
    assert group["ClientSubnets"] == list(network.subnet_ids)
    assert info["Provisioned"]["NumberOfBrokerNodes"] == 3
    client_auth = info["Provisioned"]["ClientAuthentication"]
    assert client_auth["Sasl"] == {"Scram": {"Enabled": True}, "Iam": {"Enabled": True}}
    assert client_auth["Unauthenticated"] == {"Enabled": False}
    bootstrap = kafka.get_bootstrap_brokers(ClusterArn=created["ClusterArn"])
    assert bootstrap["BootstrapBrokerStringSaslIam"].count(":9098") == 3
    assert bootstrap["BootstrapBrokerStringSaslScram"].count(":9096") == 3
    assert "BootstrapBrokerString" not in bootstrap


def test_create_cluster_control_goes_through_the_same_api(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("payments", network.subnet_ids, broker_count=3)

    assert arn.startswith(f"arn:aws:kafka:{aws.region}:{aws.account_id}:cluster/payments/")
    assert arn.endswith("-2")
    info = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    assert info["State"] == "ACTIVE"
    assert info["Provisioned"]["ClientAuthentication"]["Sasl"]["Iam"] == {"Enabled": True}
    assert info["Provisioned"]["CurrentBrokerSoftwareInfo"]["KafkaVersion"] == "3.9.x"
    assert "ZookeeperConnectString" in info["Provisioned"]
    listed = kafka.list_clusters_v2(ClusterNameFilter="pay")["ClusterInfoList"]
    assert [c["ClusterArn"] for c in listed] == [arn]
    v1 = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
    assert v1["BrokerNodeGroupInfo"]["ClientSubnets"] == list(network.subnet_ids)


def test_list_nodes_pages_and_matches_ec2(
    aws: EmbeddedAws, kafka: Any, ec2: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)

    first = kafka.list_nodes(ClusterArn=arn, MaxResults=2)
    nodes = all_nodes(kafka, arn, page_size=2)

    assert len(first["NodeInfoList"]) == 2
    assert first["NextToken"]
    assert [n["BrokerNodeInfo"]["BrokerId"] for n in nodes] == [1.0, 2.0, 3.0]
    assert all(isinstance(n["BrokerNodeInfo"]["BrokerId"], float) for n in nodes)
    # Brokers are spread round-robin over the client subnets, in order.
    assert [n["BrokerNodeInfo"]["ClientSubnet"] for n in nodes] == list(network.subnet_ids)
    label = nodes[0]["BrokerNodeInfo"]["Endpoints"][0].split(".")[2]
    assert [n["BrokerNodeInfo"]["Endpoints"] for n in nodes] == [
        [f"b-{i}.orders.{label}.c2.kafka.{aws.region}.amazonaws.com"] for i in (1, 2, 3)
    ]
    enis = ec2.describe_network_interfaces(
        NetworkInterfaceIds=[n["BrokerNodeInfo"]["AttachedENIId"] for n in nodes]
    )["NetworkInterfaces"]
    by_id = {eni["NetworkInterfaceId"]: eni for eni in enis}
    for node in nodes:
        eni = by_id[node["BrokerNodeInfo"]["AttachedENIId"]]
        assert eni["PrivateIpAddress"] == node["BrokerNodeInfo"]["ClientVpcIpAddress"]
        assert eni["SubnetId"] == node["BrokerNodeInfo"]["ClientSubnet"]
        assert eni["Description"] == f"Amazon MSK network interface for cluster {arn}"


def test_replace_broker_gives_a_new_eni_and_ip_under_the_same_name(
    aws: EmbeddedAws, kafka: Any, ec2: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    before = all_nodes(kafka, arn)[1]["BrokerNodeInfo"]

    aws.msk.replace_broker(arn, 2)

    after = all_nodes(kafka, arn)[1]["BrokerNodeInfo"]
    assert after["AttachedENIId"] != before["AttachedENIId"]
    assert after["ClientVpcIpAddress"] != before["ClientVpcIpAddress"]
    assert after["Endpoints"] == before["Endpoints"]
    assert after["ClientSubnet"] == before["ClientSubnet"]
    with pytest.raises(ClientError) as gone:
        ec2.describe_network_interfaces(NetworkInterfaceIds=[before["AttachedENIId"]])
    assert gone.value.response["Error"]["Code"] == "InvalidNetworkInterfaceID.NotFound"
    new_eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[after["AttachedENIId"]])
    assert new_eni["NetworkInterfaces"][0]["PrivateIpAddress"] == after["ClientVpcIpAddress"]


def test_update_broker_count_scales_out_then_in(
    aws: EmbeddedAws, kafka: Any, ec2: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    version = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]

    out = kafka.update_broker_count(
        ClusterArn=arn, CurrentVersion=version, TargetNumberOfBrokerNodes=6
    )

    assert out["ClusterArn"] == arn
    assert ":cluster-operation/orders/" in out["ClusterOperationArn"]
    nodes = all_nodes(kafka, arn)
    assert [n["BrokerNodeInfo"]["BrokerId"] for n in nodes] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert [n["BrokerNodeInfo"]["ClientSubnet"] for n in nodes[3:]] == list(network.subnet_ids)
    added_enis = [n["BrokerNodeInfo"]["AttachedENIId"] for n in nodes[3:]]
    info = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    assert info["State"] == "ACTIVE"
    assert info["CurrentVersion"] != version
    assert info["Provisioned"]["NumberOfBrokerNodes"] == 6

    kafka.update_broker_count(
        ClusterArn=arn, CurrentVersion=info["CurrentVersion"], TargetNumberOfBrokerNodes=3
    )

    assert broker_ids(kafka, arn) == [1.0, 2.0, 3.0]
    remaining = ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [f"*{arn}"]}]
    )["NetworkInterfaces"]
    assert {eni["NetworkInterfaceId"] for eni in remaining}.isdisjoint(added_enis)
    assert len(remaining) == 3


def test_update_broker_count_with_a_stale_version_is_a_bad_request(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)

    with pytest.raises(kafka.exceptions.BadRequestException) as excinfo:
        kafka.update_broker_count(
            ClusterArn=arn, CurrentVersion="K1STALEVERSION", TargetNumberOfBrokerNodes=6
        )

    assert error_of(excinfo) == ("BadRequestException", 400)
    assert excinfo.value.response["InvalidParameter"] == "currentVersion"
    assert broker_ids(kafka, arn) == [1.0, 2.0, 3.0]


def test_broker_count_must_be_a_multiple_of_the_subnets(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.create_cluster_v2(ClusterName="odd", Provisioned=provisioned(network.subnet_ids, 4))
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    version = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.update_broker_count(
            ClusterArn=arn, CurrentVersion=version, TargetNumberOfBrokerNodes=5
        )


def test_unknown_cluster_arn_is_not_found(kafka: Any, aws: EmbeddedAws) -> None:
    arn = f"arn:aws:kafka:{aws.region}:{aws.account_id}:cluster/nope/00000000-0000-0000-0000-000000000000-2"

    for call in (kafka.describe_cluster_v2, kafka.list_nodes, kafka.get_bootstrap_brokers):
        with pytest.raises(kafka.exceptions.NotFoundException) as excinfo:
            call(ClusterArn=arn)
        assert error_of(excinfo) == ("NotFoundException", 404)


def test_a_duplicate_cluster_name_conflicts(aws: EmbeddedAws, kafka: Any, network: Network) -> None:
    aws.msk.create_cluster("orders", network.subnet_ids)

    with pytest.raises(kafka.exceptions.ConflictException) as excinfo:
        kafka.create_cluster_v2(ClusterName="orders", Provisioned=provisioned(network.subnet_ids))

    assert error_of(excinfo) == ("ConflictException", 409)


def test_an_operation_the_simulator_lacks_fails_naming_it(kafka: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        kafka.list_kafka_versions()

    assert error_of(excinfo) == ("NotImplemented", 501)
    assert "ListKafkaVersions" in excinfo.value.response["Error"]["Message"]


def test_manual_timing_shows_brokers_without_enis_until_completed(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    aws.msk.complete_immediately = False

    aws.msk.scale(arn, 6)

    info = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    assert info["State"] == "UPDATING"
    assert info["ActiveOperationArn"]
    new = [n["BrokerNodeInfo"] for n in all_nodes(kafka, arn)[3:]]
    assert [b["BrokerId"] for b in new] == [4.0, 5.0, 6.0]
    assert all("ClientVpcIpAddress" not in b and "AttachedENIId" not in b for b in new)
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.update_broker_count(
            ClusterArn=arn, CurrentVersion=info["CurrentVersion"], TargetNumberOfBrokerNodes=9
        )

    aws.msk.complete_operations(arn)

    assert kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["State"] == "ACTIVE"
    assert all("ClientVpcIpAddress" in n["BrokerNodeInfo"] for n in all_nodes(kafka, arn))


def test_bootstrap_brokers_are_refused_while_creating(
    aws: EmbeddedAws, kafka: Any, network: Network
) -> None:
    aws.msk.complete_immediately = False
    arn = aws.msk.create_cluster("orders", network.subnet_ids, auth=("unauthenticated",))

    with pytest.raises(kafka.exceptions.BadRequestException) as excinfo:
        kafka.get_bootstrap_brokers(ClusterArn=arn)
    assert "CREATING" in excinfo.value.response["Error"]["Message"]

    aws.msk.complete_operations(arn)
    bootstrap = kafka.get_bootstrap_brokers(ClusterArn=arn)
    assert bootstrap["BootstrapBrokerStringTls"].count(":9094") == 3


def test_tags_reboot_and_delete(aws: EmbeddedAws, kafka: Any, ec2: Any, network: Network) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids, tags={"team": "a"})

    kafka.tag_resource(ResourceArn=arn, Tags={"env": "dev", "tier": "1"})
    kafka.untag_resource(ResourceArn=arn, TagKeys=["tier", "team"])
    assert kafka.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"env": "dev"}

    reboot = kafka.reboot_broker(ClusterArn=arn, BrokerIds=["2"])
    assert reboot["ClusterOperationArn"]
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.reboot_broker(ClusterArn=arn, BrokerIds=["9"])

    enis = [n["BrokerNodeInfo"]["AttachedENIId"] for n in all_nodes(kafka, arn)]
    assert kafka.delete_cluster(ClusterArn=arn)["State"] == "DELETING"
    assert kafka.list_clusters_v2()["ClusterInfoList"] == []
    with pytest.raises(ClientError):
        ec2.describe_network_interfaces(NetworkInterfaceIds=enis[:1])


def test_clusters_live_in_the_account_of_the_caller(aws: EmbeddedAws, kafka: Any) -> None:
    other_account = "111111111111"
    credentials = aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{other_account}:role/deployer", RoleSessionName="test"
    )["Credentials"]
    other = account_session(credentials, aws.region)
    other_ec2 = other.client("ec2")
    vpc_id = other_ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in other_ec2.describe_availability_zones()["AvailabilityZones"]]
    subnets = tuple(
        other_ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.9.{16 * i}.0/20", AvailabilityZone=z)[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate(zones[:2])
    )

    other_kafka: Any = other.client("kafka")
    created = other_kafka.create_cluster_v2(
        ClusterName="remote", Provisioned=provisioned(subnets, count=2)
    )

    assert f":{other_account}:cluster/remote/" in created["ClusterArn"]
    assert kafka.list_clusters_v2()["ClusterInfoList"] == []
    nodes = all_nodes(other_kafka, created["ClusterArn"])
    eni_ids = [n["BrokerNodeInfo"]["AttachedENIId"] for n in nodes]
    assert (
        len(other_ec2.describe_network_interfaces(NetworkInterfaceIds=eni_ids)["NetworkInterfaces"])
        == 2
    )


def test_every_answer_is_checked_against_the_model(
    aws: EmbeddedAws, kafka: Any, network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    real_node_info = msk_cluster.node_info

    def drifted(*args: Any) -> dict[str, Any]:
        node = real_node_info(*args)
        node["BrokerNodeInfo"]["BrokerId"] = str(int(node["BrokerNodeInfo"]["BrokerId"]))
        return node

    monkeypatch.setattr(msk_simulator, "node_info", drifted)

    with pytest.raises(SimulatorDriftError, match="BrokerId"):
        kafka.list_nodes(ClusterArn=arn)


def test_set_state_and_a_slow_delete(
    aws: EmbeddedAws, kafka: Any, ec2: Any, network: Network
) -> None:
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    aws.msk.set_state(arn, "FAILED")
    with pytest.raises(kafka.exceptions.BadRequestException, match="FAILED"):
        kafka.get_bootstrap_brokers(ClusterArn=arn)
    with pytest.raises(ValueError, match="RUNNING"):
        aws.msk.set_state(arn, "RUNNING")
    aws.msk.complete_immediately = False
    eni_ids = [b.eni_id for b in aws.msk.brokers(arn)]

    kafka.delete_cluster(ClusterArn=arn)

    assert kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["State"] == "DELETING"
    aws.msk.complete_operations(arn)
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.describe_cluster_v2(ClusterArn=arn)
    described = ec2.describe_network_interfaces(
        Filters=[{"Name": "network-interface-id", "Values": eni_ids}]
    )
    assert described["NetworkInterfaces"] == []


def test_a_full_subnet_fails_the_scale_out_without_leaving_anything_behind(
    aws: EmbeddedAws, kafka: Any, ec2: Any
) -> None:
    # /28 subnets: AWS keeps 5 of the 16 addresses, leaving 11.
    network = aws.create_network(cidr="10.0.0.0/24", subnet_count=3)
    arn = aws.msk.create_cluster("orders", network.subnet_ids)
    # Fill the last subnet: brokers 4 and 5 get ENIs before broker 6 fails.
    last_subnet = ec2.describe_subnets(SubnetIds=[network.subnet_ids[2]])["Subnets"][0]
    taken = {b.ip_address for b in aws.msk.brokers(arn)}
    base = ipaddress.IPv4Network(last_subnet["CidrBlock"]).network_address
    for offset in range(4, 15):
        address = str(base + offset)
        if address not in taken:
            ec2.create_network_interface(SubnetId=network.subnet_ids[2], PrivateIpAddress=address)
    version = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]

    with pytest.raises(kafka.exceptions.BadRequestException, match="free IP"):
        kafka.update_broker_count(
            ClusterArn=arn, CurrentVersion=version, TargetNumberOfBrokerNodes=6
        )

    assert broker_ids(kafka, arn) == [1.0, 2.0, 3.0]
    info = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    assert (info["State"], info["CurrentVersion"]) == ("ACTIVE", version)
    msk_enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [f"*{arn}"]}]
    )["NetworkInterfaces"]
    assert len(msk_enis) == 3


def test_environment_is_restored_and_a_second_embedded_aws_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "real-account")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)

    with EmbeddedAws(region="eu-west-1") as outer:
        assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
        assert "AWS_PROFILE" not in os.environ
        with pytest.raises(RuntimeError, match="already active"), EmbeddedAws():
            pass
        assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
        assert outer.client("kafka").list_clusters_v2()["ClusterInfoList"] == []

    assert os.environ["AWS_PROFILE"] == "real-account"
    assert "AWS_DEFAULT_REGION" not in os.environ
    assert inprocess.current_simulator() is None
