"""The embedded AWS over HTTP: moto's server with the MSK simulator in front."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.embedded.server import start_in_thread

pytestmark = pytest.mark.integration

DEV = Path(__file__).resolve().parents[2] / "dev"


@pytest.fixture
def server_url(aws: EmbeddedAws) -> Iterator[str]:
    url, stop = start_in_thread(port=0, simulator=aws.msk)
    yield url
    stop()


def over_http(aws: EmbeddedAws, url: str, service: str) -> Any:
    return aws.client(service, endpoint_url=url)


def make_subnets(ec2: Any, cidr_prefix: str = "10.7") -> list[str]:
    vpc_id = ec2.create_vpc(CidrBlock=f"{cidr_prefix}.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:3]
    return [
        ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"{cidr_prefix}.{16 * i}.0/20", AvailabilityZone=zone
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]


def create_cluster(kafka: Any, subnets: list[str], name: str = "orders") -> str:
    return str(
        kafka.create_cluster_v2(
            ClusterName=name,
            Provisioned={
                "BrokerNodeGroupInfo": {"ClientSubnets": subnets, "InstanceType": "kafka.m5.large"},
                "KafkaVersion": "3.9.x",
                "NumberOfBrokerNodes": 3,
            },
        )["ClusterArn"]
    )


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_list_nodes_over_http_equals_the_simulator(aws: EmbeddedAws, server_url: str) -> None:
    kafka = over_http(aws, server_url, "kafka")
    arn = create_cluster(kafka, make_subnets(over_http(aws, server_url, "ec2")))

    remote = kafka.list_nodes(ClusterArn=arn, MaxResults=2)
    remote_nodes = (
        remote["NodeInfoList"]
        + kafka.list_nodes(ClusterArn=arn, MaxResults=2, NextToken=remote["NextToken"])[
            "NodeInfoList"
        ]
    )

    assert remote_nodes == aws.client("kafka").list_nodes(ClusterArn=arn)["NodeInfoList"]
    held = {float(b.broker_id): (b.eni_id, b.ip_address, b.subnet_id) for b in aws.msk.brokers(arn)}
    seen = {
        n["BrokerNodeInfo"]["BrokerId"]: (
            n["BrokerNodeInfo"]["AttachedENIId"],
            n["BrokerNodeInfo"]["ClientVpcIpAddress"],
            n["BrokerNodeInfo"]["ClientSubnet"],
        )
        for n in remote_nodes
    }
    assert seen == held
    info = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    assert info["State"] == "ACTIVE"
    assert info["CreationTime"].tzinfo is not None


def test_replace_broker_control_changes_the_ip_seen_over_http(
    aws: EmbeddedAws, server_url: str
) -> None:
    kafka = over_http(aws, server_url, "kafka")
    ec2 = over_http(aws, server_url, "ec2")
    arn = create_cluster(kafka, make_subnets(ec2))
    before = kafka.list_nodes(ClusterArn=arn)["NodeInfoList"][0]["BrokerNodeInfo"]

    status, answer = post(
        f"{server_url}/_msk_sim/replace-broker", {"cluster_arn": arn, "broker_id": 1}
    )

    assert status == 200
    after = kafka.list_nodes(ClusterArn=arn)["NodeInfoList"][0]["BrokerNodeInfo"]
    assert after["ClientVpcIpAddress"] == answer["ip_address"] != before["ClientVpcIpAddress"]
    assert after["AttachedENIId"] == answer["eni_id"] != before["AttachedENIId"]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[answer["eni_id"]])
    assert eni["NetworkInterfaces"][0]["PrivateIpAddress"] == answer["ip_address"]


def test_scale_control_and_update_broker_count_over_http(aws: EmbeddedAws, server_url: str) -> None:
    kafka = over_http(aws, server_url, "kafka")
    arn = create_cluster(kafka, make_subnets(over_http(aws, server_url, "ec2")))

    status, _ = post(f"{server_url}/_msk_sim/scale", {"cluster_arn": arn, "count": 6})

    assert status == 200
    assert len(kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]) == 6
    version = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    kafka.update_broker_count(ClusterArn=arn, CurrentVersion=version, TargetNumberOfBrokerNodes=3)
    ids = [
        n["BrokerNodeInfo"]["BrokerId"] for n in kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]
    ]
    assert ids == [1.0, 2.0, 3.0]
    kafka.tag_resource(ResourceArn=arn, Tags={"a": "1", "b": "2"})
    kafka.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert kafka.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"b": "2"}


def test_errors_over_http_keep_their_codes(aws: EmbeddedAws, server_url: str) -> None:
    kafka = over_http(aws, server_url, "kafka")
    arn = create_cluster(kafka, make_subnets(over_http(aws, server_url, "ec2")))

    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.get_bootstrap_brokers(ClusterArn=arn + "0")
    with pytest.raises(kafka.exceptions.BadRequestException) as stale:
        kafka.update_broker_count(
            ClusterArn=arn, CurrentVersion="K1OLD", TargetNumberOfBrokerNodes=6
        )
    assert stale.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(kafka.exceptions.ClientError) as missing:
        kafka.list_kafka_versions()
    assert missing.value.response["Error"]["Code"] == "NotImplemented"
    status, answer = post(
        f"{server_url}/_msk_sim/replace-broker", {"cluster_arn": arn + "0", "broker_id": 1}
    )
    assert (status, answer["code"]) == (404, "NotFoundException")


def test_moto_reset_also_forgets_the_clusters(aws: EmbeddedAws, server_url: str) -> None:
    kafka = over_http(aws, server_url, "kafka")
    create_cluster(kafka, make_subnets(over_http(aws, server_url, "ec2")))

    request = urllib.request.Request(f"{server_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    assert kafka.list_clusters_v2()["ClusterInfoList"] == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_runs_as_a_separate_process(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(DEV)}
    code = f"from msk_privatelink_dev.embedded.server import serve; serve(port={port})"
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "server did not start in 30 s"
                time.sleep(0.05)
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        session = boto3.Session(region_name="eu-west-1")
        kafka = session.client("kafka", endpoint_url=url)

        arn = create_cluster(kafka, make_subnets(session.client("ec2", endpoint_url=url)))

        assert ":eu-west-1:123456789012:cluster/orders/" in arn
        nodes = kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]
        assert [n["BrokerNodeInfo"]["BrokerId"] for n in nodes] == [1.0, 2.0, 3.0]
        assert all(n["BrokerNodeInfo"]["ClientVpcIpAddress"] for n in nodes)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_configuration_blobs_and_operations_over_http(aws: EmbeddedAws, server_url: str) -> None:
    kafka = over_http(aws, server_url, "kafka")
    cluster_arn = create_cluster(kafka, make_subnets(over_http(aws, server_url, "ec2")))
    properties = b"num.partitions=3\n# kept\n"

    configuration_arn = kafka.create_configuration(Name="orders", ServerProperties=properties)[
        "Arn"
    ]
    revision = kafka.describe_configuration_revision(Arn=configuration_arn, Revision=1)
    operation_arn = kafka.update_cluster_configuration(
        ClusterArn=cluster_arn,
        ConfigurationInfo={"Arn": configuration_arn, "Revision": 1},
        CurrentVersion=kafka.describe_cluster_v2(ClusterArn=cluster_arn)["ClusterInfo"][
            "CurrentVersion"
        ],
    )["ClusterOperationArn"]

    assert revision["ServerProperties"] == properties
    operation = kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)
    assert operation["ClusterOperationInfo"]["OperationState"] == "UPDATE_COMPLETE"
