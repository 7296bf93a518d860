"""EC2's ClientToken idempotency for CreateVpcEndpoint on the embedded AWS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from msk_privatelink_dev.embedded import EmbeddedAws, Network, ec2_client_tokens
from msk_privatelink_dev.embedded.server import start_in_thread
from msk_privatelink_dev.local.consumers import account_session

pytestmark = pytest.mark.integration

DEV = Path(__file__).resolve().parents[2] / "dev"
SERVICE = "com.amazonaws.us-east-1.kinesis-streams"
OTHER_ACCOUNT = "210987654321"


def create(ec2: Any, network: Network, token: str | None = None, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "VpcEndpointType": "Interface",
        "VpcId": network.vpc_id,
        "ServiceName": SERVICE,
        "SubnetIds": list(network.subnet_ids[:2]),
        **({"ClientToken": token} if token is not None else {}),
    }
    params.update(overrides)
    return ec2.create_vpc_endpoint(**params)["VpcEndpoint"]


def endpoint_ids(ec2: Any) -> list[str]:
    return sorted(e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"])


def security_group(ec2: Any, network: Network, name: str) -> str:
    return str(
        ec2.create_security_group(GroupName=name, Description=name, VpcId=network.vpc_id)["GroupId"]
    )


def test_the_same_token_twice_answers_the_first_endpoint(
    aws: EmbeddedAws, ec2: Any, network: Network
) -> None:
    first = create(ec2, network, "token-a")
    again = create(ec2, network, "token-a")

    assert again["VpcEndpointId"] == first["VpcEndpointId"]
    assert endpoint_ids(ec2) == [first["VpcEndpointId"]]
    assert aws.client_tokens.reused == [first["VpcEndpointId"]]


def test_subnet_order_does_not_make_another_request(
    aws: EmbeddedAws, ec2: Any, network: Network
) -> None:
    first = create(ec2, network, "token-a", SubnetIds=list(network.subnet_ids[:2]))
    again = create(ec2, network, "token-a", SubnetIds=list(reversed(network.subnet_ids[:2])))

    assert again["VpcEndpointId"] == first["VpcEndpointId"]


def test_a_deleted_endpoint_is_answered_for_its_token(
    aws: EmbeddedAws, ec2: Any, network: Network
) -> None:
    first = create(ec2, network, "token-a")
    ec2.delete_vpc_endpoints(VpcEndpointIds=[first["VpcEndpointId"]])

    again = create(ec2, network, "token-a")

    assert again["VpcEndpointId"] == first["VpcEndpointId"]
    assert again["State"].lower() == "deleted"
    assert endpoint_ids(ec2) == [first["VpcEndpointId"]]


def test_a_rejected_endpoint_is_answered_for_its_token(
    aws: EmbeddedAws, ec2: Any, network: Network
) -> None:
    elbv2 = aws.client("elbv2")
    nlb = elbv2.create_load_balancer(
        Name="tokens", Type="network", Scheme="internal", Subnets=list(network.subnet_ids)
    )["LoadBalancers"][0]["LoadBalancerArn"]
    service = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlb], AcceptanceRequired=True
    )["ServiceConfiguration"]
    first = create(ec2, network, "token-a", ServiceName=service["ServiceName"])
    rejected = ec2.reject_vpc_endpoint_connections(
        ServiceId=service["ServiceId"], VpcEndpointIds=[first["VpcEndpointId"]]
    )
    assert rejected["Unsuccessful"] == []

    again = create(ec2, network, "token-a", ServiceName=service["ServiceName"])

    assert again["VpcEndpointId"] == first["VpcEndpointId"]
    assert again["State"].lower() == "rejected"


@pytest.mark.parametrize(
    "change",
    ["vpc", "service", "subnets", "security groups", "endpoint type"],
)
def test_the_same_token_with_other_parameters_is_a_mismatch(
    aws: EmbeddedAws, ec2: Any, network: Network, change: str
) -> None:
    group = security_group(ec2, network, "first")
    first = create(ec2, network, "token-a", SecurityGroupIds=[group])
    overrides: dict[str, Any] = {"SecurityGroupIds": [group]}
    if change == "vpc":
        other = aws.create_network(cidr="10.1.0.0/16", subnet_count=2)
        overrides.update(VpcId=other.vpc_id, SubnetIds=list(other.subnet_ids))
    elif change == "service":
        overrides["ServiceName"] = "com.amazonaws.us-east-1.sqs"
    elif change == "subnets":
        overrides["SubnetIds"] = list(network.subnet_ids)
    elif change == "security groups":
        overrides["SecurityGroupIds"] = [group, security_group(ec2, network, "second")]
    else:
        overrides["VpcEndpointType"] = "Gateway"

    with pytest.raises(ClientError) as raised:
        create(ec2, network, "token-a", **overrides)

    assert raised.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert endpoint_ids(ec2) == [first["VpcEndpointId"]]
    assert aws.client_tokens.reused == []


def test_a_modified_endpoint_still_answers_its_original_request(
    aws: EmbeddedAws, ec2: Any, network: Network
) -> None:
    """EC2 compares a repeated token with the request that used it, not with
    the endpoint as ModifyVpcEndpoint left it."""
    first = create(ec2, network, "token-a")
    ec2.modify_vpc_endpoint(
        VpcEndpointId=first["VpcEndpointId"], AddSubnetIds=[network.subnet_ids[2]]
    )

    again = create(ec2, network, "token-a")

    assert again["VpcEndpointId"] == first["VpcEndpointId"]
    assert len(again["SubnetIds"]) == 3


def test_without_a_token_every_call_creates_an_endpoint(
    aws: EmbeddedAws, ec2: Any, network: Network
) -> None:
    created = {create(ec2, network)["VpcEndpointId"] for _ in range(3)}

    assert len(created) == 3
    assert endpoint_ids(ec2) == sorted(created)
    assert aws.client_tokens.reused == []


def test_two_accounts_use_the_same_token_independently(
    aws: EmbeddedAws, ec2: Any, network: Network
) -> None:
    credentials = aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/tokens", RoleSessionName="tokens"
    )["Credentials"]
    other_session = account_session(credentials, aws.region)
    assert other_session.client("sts").get_caller_identity()["Account"] == OTHER_ACCOUNT
    other_ec2 = other_session.client("ec2")
    other_vpc = other_ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]

    mine = create(ec2, network, "shared-token")
    # Other parameters under the same token: no mismatch across accounts.
    theirs = other_ec2.create_vpc_endpoint(
        VpcEndpointType="Gateway", VpcId=other_vpc, ServiceName=SERVICE, ClientToken="shared-token"
    )["VpcEndpoint"]

    assert theirs["VpcEndpointId"] != mine["VpcEndpointId"]
    assert endpoint_ids(ec2) == [mine["VpcEndpointId"]]
    assert endpoint_ids(other_ec2) == [theirs["VpcEndpointId"]]
    assert aws.client_tokens.reused == []


def test_the_http_server_answers_tokens_the_same_way(
    aws: EmbeddedAws, ec2: Any, network: Network
) -> None:
    url, stop = start_in_thread(port=0, simulator=aws.msk)
    try:
        over_http = aws.client("ec2", endpoint_url=url)
        first = create(over_http, network, "token-http")
        again = create(ec2, network, "token-http")
    finally:
        stop()

    assert again["VpcEndpointId"] == first["VpcEndpointId"]
    assert aws.client_tokens.reused == [first["VpcEndpointId"]]
    # The server's model is gone; the embedded AWS's own is still active.
    assert ec2_client_tokens.active_models() == (aws.client_tokens,)
    assert create(ec2, network, "token-http")["VpcEndpointId"] == first["VpcEndpointId"]


def test_models_nest_and_the_last_one_out_restores_moto() -> None:
    from moto.ec2.models.vpcs import VPCBackend

    moto_own = VPCBackend.__dict__["create_vpc_endpoint"]
    outer, inner = ec2_client_tokens.ClientTokens(), ec2_client_tokens.ClientTokens()
    outer.activate()
    try:
        patched = VPCBackend.__dict__["create_vpc_endpoint"]
        assert patched is not moto_own
        inner.activate()
        with pytest.raises(RuntimeError, match="already active"):
            inner.activate()
        outer.deactivate()
        assert VPCBackend.__dict__["create_vpc_endpoint"] is patched
        assert inner.active
        assert not outer.active
    finally:
        outer.deactivate()
        inner.deactivate()
    assert VPCBackend.__dict__["create_vpc_endpoint"] is moto_own


def test_embedded_aws_removes_its_model_on_exit() -> None:
    from moto.ec2.models.vpcs import VPCBackend

    moto_own = VPCBackend.__dict__["create_vpc_endpoint"]
    with EmbeddedAws() as aws:
        assert aws.client_tokens.active
    assert not aws.client_tokens.active
    assert VPCBackend.__dict__["create_vpc_endpoint"] is moto_own


def test_the_module_imports_without_moto() -> None:
    code = (
        "import sys; sys.modules['moto'] = None\n"
        "import msk_privatelink_dev.embedded.ec2_client_tokens as m\n"
        "assert m.ClientTokens().reused == []\n"
        "assert not any(name.startswith('moto.') for name in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=DEV, check=True, timeout=120)
