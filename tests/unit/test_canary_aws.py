"""The canary's AWS side: endpoint addresses read through EC2, prober
functions created, kept in line and removed through Lambda (moto), and
invoked (botocore's Stubber, which checks requests and answers against the
Lambda service model: moto runs function code only in containers)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from msk_privatelink.canary.credentials import CLUSTER_TAG, scram_credentials
from msk_privatelink.canary.endpoints import endpoint_addresses
from msk_privatelink.canary.plan import ProberNetwork
from msk_privatelink.canary.probers import (
    HANDLER,
    TAG_NETWORK,
    ProberFailedError,
    ProberFunctions,
    ProberSettings,
    placeholder_package,
)
from msk_privatelink.kernel.errors import OwnershipConflictError
from msk_privatelink.kernel.naming import TAG_CLUSTER_ARN, TAG_MANAGED_BY

REGION = "us-east-1"
SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
PREFIX = "consumer-prober"
CLUSTER = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/6f1c2b3a-1111-2222-3333-444455556666-2"


@pytest.fixture
def aws() -> Iterator[boto3.Session]:
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def network(session: boto3.Session) -> ProberNetwork:
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = tuple(
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab", start=1)
    )
    group = ec2.create_security_group(GroupName="clients", Description="c", VpcId=vpc)["GroupId"]
    return ProberNetwork(vpc, tuple(sorted(subnets)), (group,))


def prober_settings(session: boto3.Session, role: str = "prober") -> ProberSettings:
    iam = session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    layer = session.client("lambda").publish_layer_version(
        LayerName="core", Content={"ZipFile": placeholder_package()}
    )["LayerVersionArn"]
    return ProberSettings(role_arn=arn, layer_arn=layer, name_prefix=PREFIX)


def test_endpoint_addresses_are_the_private_ips_of_its_interfaces_and_gone_ones_are_absent(
    aws: boto3.Session,
) -> None:
    net = network(aws)
    ec2 = aws.client("ec2")

    def endpoint(cluster_arn: str, managed_by: str = "msk-privatelink") -> dict[str, Any]:
        tags = [
            {"Key": TAG_MANAGED_BY, "Value": managed_by},
            {"Key": TAG_CLUSTER_ARN, "Value": cluster_arn},
        ]
        created: dict[str, Any] = ec2.create_vpc_endpoint(
            VpcId=net.vpc_id,
            ServiceName=SERVICE,
            VpcEndpointType="Interface",
            SubnetIds=list(net.subnet_ids),
            TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": tags}],
        )["VpcEndpoint"]
        return created

    created = [endpoint(CLUSTER), endpoint(CLUSTER)]
    endpoint(CLUSTER.replace("/demo/", "/other/"))
    endpoint(CLUSTER, managed_by="someone-else")
    ids = [e["VpcEndpointId"] for e in created]

    found = endpoint_addresses(ec2, CLUSTER)

    assert set(found) == set(ids)
    for endpoint in created:
        interfaces = ec2.describe_network_interfaces(
            NetworkInterfaceIds=endpoint["NetworkInterfaceIds"]
        )["NetworkInterfaces"]
        entry = found[endpoint["VpcEndpointId"]]
        assert entry.addresses == {i["PrivateIpAddress"] for i in interfaces}
        assert entry.addresses
        assert entry.serving == (entry.state.lower() == "available")
    ec2.delete_vpc_endpoints(VpcEndpointIds=[ids[0]])
    assert set(endpoint_addresses(ec2, CLUSTER)) == {ids[1]}


def test_a_prober_is_created_in_the_network_with_the_layers_handler_and_tags(
    aws: boto3.Session,
) -> None:
    net = network(aws)
    settings = prober_settings(aws)
    probers = ProberFunctions(aws.client("lambda"), settings)

    assert probers.ensure(net) == "starting"

    function = aws.client("lambda").get_function(FunctionName=probers.name(net))
    config = function["Configuration"]
    assert config["Handler"] == HANDLER
    assert config["Architectures"] == ["arm64"]
    assert [layer["Arn"] for layer in config["Layers"]] == [settings.layer_arn]
    assert sorted(config["VpcConfig"]["SubnetIds"]) == list(net.subnet_ids)
    assert config["VpcConfig"]["SecurityGroupIds"] == list(net.security_group_ids)
    assert config["Role"] == settings.role_arn
    assert function["Tags"][TAG_MANAGED_BY] == "msk-privatelink"
    assert probers.name(net).endswith(function["Tags"][TAG_NETWORK])


def test_a_prober_in_line_is_left_alone_and_one_out_of_line_is_updated(
    aws: boto3.Session,
) -> None:
    net = network(aws)
    settings = prober_settings(aws)
    client = aws.client("lambda")
    ProberFunctions(client, settings).ensure(net)

    assert ProberFunctions(client, settings).ensure(net) == "ready"
    moved = ProberSettings(
        role_arn=prober_settings(aws, "prober-2").role_arn,
        layer_arn=settings.layer_arn,
        name_prefix=PREFIX,
    )
    assert ProberFunctions(client, moved).ensure(net) == "starting"
    config = client.get_function(FunctionName=ProberFunctions(client, moved).name(net))
    assert config["Configuration"]["Role"] == moved.role_arn


def test_a_function_of_that_name_that_is_not_ours_is_never_touched(aws: boto3.Session) -> None:
    net = network(aws)
    settings = prober_settings(aws)
    client = aws.client("lambda")
    probers = ProberFunctions(client, settings)
    client.create_function(
        FunctionName=probers.name(net),
        Runtime="python3.13",
        Role=settings.role_arn,
        Handler="app.handler",
        Code={"ZipFile": placeholder_package()},
    )

    with pytest.raises(OwnershipConflictError, match="not msk-privatelink's"):
        probers.ensure(net)
    assert client.get_function(FunctionName=probers.name(net))["Configuration"]["Handler"] == (
        "app.handler"
    )


def test_unused_probers_are_removed_and_foreign_functions_under_the_prefix_kept(
    aws: boto3.Session,
) -> None:
    settings = prober_settings(aws)
    client = aws.client("lambda")
    probers = ProberFunctions(client, settings)
    kept, dropped = network(aws), network(aws)
    probers.ensure(kept)
    probers.ensure(dropped)
    foreign = f"{PREFIX}-handmade"
    client.create_function(
        FunctionName=foreign,
        Runtime="python3.13",
        Role=settings.role_arn,
        Handler="app.handler",
        Code={"ZipFile": placeholder_package()},
    )

    removed = probers.remove_unused([probers.name(kept)])

    assert removed == [probers.name(dropped)]
    names = {f["FunctionName"] for f in client.list_functions()["Functions"]}
    assert names == {probers.name(kept), foreign}


def stubbed_invoke(answer: dict[str, Any]) -> tuple[ProberFunctions, Stubber]:
    client = boto3.client("lambda", region_name=REGION)
    stubber = Stubber(client)
    body = answer.pop("Payload")
    stubber.add_response(
        "invoke",
        {"StatusCode": 200, **answer, "Payload": StreamingBody(io.BytesIO(body), len(body))},
        {
            "FunctionName": "consumer-prober-0123456789abcdef",
            "InvocationType": "RequestResponse",
            "Payload": json.dumps({"version": 1}).encode(),
        },
    )
    stubber.activate()
    settings = ProberSettings("arn:aws:iam::111122223333:role/p", "arn:l", PREFIX)
    return ProberFunctions(client, settings), stubber


def test_the_probers_answer_is_returned_and_its_failure_is_named() -> None:
    probers, stubber = stubbed_invoke({"Payload": b'{"version": 1, "results": []}'})
    assert probers.invoke("consumer-prober-0123456789abcdef", {"version": 1}) == {
        "version": 1,
        "results": [],
    }
    stubber.assert_no_pending_responses()

    failing = {
        "FunctionError": "Unhandled",
        "Payload": b'{"errorMessage": "request: version 2, expected 1"}',
    }
    probers, _ = stubbed_invoke(failing)
    with pytest.raises(ProberFailedError, match="version 2, expected 1"):
        probers.invoke("consumer-prober-0123456789abcdef", {"version": 1})


# ----------------------------------------------------- the metadata check's secrets


def tagged_secret(session: boto3.Session, name: str, value: str, cluster: str = CLUSTER) -> str:
    secrets = session.client("secretsmanager")
    tags = [{"Key": CLUSTER_TAG, "Value": cluster}]
    return secrets.create_secret(Name=name, SecretString=value, Tags=tags)["ARN"]


def test_secrets_are_found_by_tag_and_problems_are_per_cluster(aws: boto3.Session) -> None:
    other = CLUSTER.replace("/demo/", "/other/")
    third = CLUSTER.replace("/demo/", "/third/")
    tagged_secret(aws, "AmazonMSK_demo", json.dumps({"username": "u", "password": "p"}))
    too_long = tagged_secret(
        aws, "AmazonMSK_other", json.dumps({"username": "u", "password": "p" * 1025}), other
    )
    first = tagged_secret(
        aws, "AmazonMSK_third_a", json.dumps({"username": "u", "password": "p"}), third
    )
    second = tagged_secret(
        aws, "AmazonMSK_third_b", json.dumps({"username": "u", "password": "p"}), third
    )

    found = scram_credentials(aws.client("secretsmanager"), [CLUSTER, other, third, "arn:none"])

    assert set(found) == {CLUSTER, other, third}
    scram = found[CLUSTER].scram
    assert scram is not None
    assert (scram.username, scram.password, scram.mechanism) == ("u", "p", "SCRAM-SHA-512")
    # The prober would refuse the whole request: this cluster's problem only.
    assert found[other].scram is None
    assert found[other].problem == (
        f"metadata check: {too_long}: a user name or password longer than 1024 characters"
    )
    assert found[third].scram is None
    assert found[third].problem == (
        f"metadata check: 2 secrets are tagged for this cluster ({', '.join(sorted([first, second]))}); tag one"
    )
