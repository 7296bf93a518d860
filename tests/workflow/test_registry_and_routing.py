"""The tenant registry's conditional writes and the endpoint-connections
simulator, on the embedded AWS (which events reach which tenant:
test_consumer_delivery.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from msk_privatelink.onboarding.aws.tenants import (
    TenantConflictError,
    TenantRegistry,
    create_tenant_table,
    token_hash,
)
from msk_privatelink.onboarding.connectivity import Connectivity, ConnectivityFailure
from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.embedded.vpce_connections import ec2_service_model
from tests.consumer.support import account_session

pytestmark = pytest.mark.integration

CLUSTER = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
ACCOUNT = "111122223333"


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


@pytest.fixture
def registry(aws: EmbeddedAws) -> TenantRegistry:
    dynamodb = aws.client("dynamodb")
    create_tenant_table(dynamodb, "tenants")
    return TenantRegistry(dynamodb, "tenants")


def register(registry: TenantRegistry, digest: str = "d1", vpc: str = "vpc-1") -> Any:
    return registry.register(
        cluster_arn=CLUSTER,
        account_id=ACCOUNT,
        region="eu-west-1",
        vpc_id=vpc,
        consumer_bus_arn="arn:aws:events:eu-west-1:111122223333:event-bus/b",
        request_digest=digest,
        request="{}",
    )


def test_registering_the_same_request_again_is_a_no_op(registry: TenantRegistry) -> None:
    tenant, active = register(registry)
    assert (tenant.state, active) == ("PENDING", False)
    registry.transition(CLUSTER, ACCOUNT, allowed_from=frozenset({"PENDING"}), to="ACTIVE")
    before = registry.require(CLUSTER, ACCOUNT)

    again, active = register(registry)

    assert active is True
    assert again == before  # not even updatedAt moved


def test_a_different_request_for_an_active_tenant_is_refused(registry: TenantRegistry) -> None:
    register(registry)
    registry.transition(CLUSTER, ACCOUNT, allowed_from=frozenset({"PENDING"}), to="ACTIVE")

    with pytest.raises(TenantConflictError, match="ACTIVE with a different request"):
        register(registry, digest="d2", vpc="vpc-2")
    assert registry.require(CLUSTER, ACCOUNT).vpc_id == "vpc-1"


def test_failed_and_offboarded_tenants_may_register_again(registry: TenantRegistry) -> None:
    register(registry)
    registry.transition(
        CLUSTER, ACCOUNT, allowed_from=frozenset({"PENDING"}), to="FAILED", reason="boom"
    )
    tenant, _ = register(registry, digest="d2", vpc="vpc-2")
    assert (tenant.state, tenant.vpc_id, tenant.reason) == ("PENDING", "vpc-2", "")


def test_transitions_are_guarded(registry: TenantRegistry) -> None:
    register(registry)
    registry.record_token(CLUSTER, ACCOUNT, "token-1", expected_state="PENDING")
    assert registry.require(CLUSTER, ACCOUNT).token_hash == token_hash("token-1")

    with pytest.raises(TenantConflictError, match="is PENDING; cannot move it to OFFBOARDED"):
        registry.transition(
            CLUSTER, ACCOUNT, allowed_from=frozenset({"OFFBOARDING"}), to="OFFBOARDED"
        )
    with pytest.raises(TenantConflictError):
        registry.transition(
            CLUSTER,
            ACCOUNT,
            allowed_from=frozenset({"PENDING"}),
            to="ACTIVE",
            request_digest="someone-else",
        )
    active = registry.transition(
        CLUSTER, ACCOUNT, allowed_from=frozenset({"PENDING"}), to="ACTIVE", generation=3
    )
    # A retried step finds the transition done; the token is gone with it.
    again = registry.transition(CLUSTER, ACCOUNT, allowed_from=frozenset({"PENDING"}), to="ACTIVE")
    assert (active.state, active.generation, active.token_hash) == ("ACTIVE", 3, "")
    assert again.state == "ACTIVE"
    with pytest.raises(TenantConflictError, match="no longer PENDING"):
        registry.record_token(CLUSTER, ACCOUNT, "token-2", expected_state="PENDING")


def report(checked_at: str = "2026-12-05T18:10:00.000+00:00", generation: int = 4) -> Connectivity:
    return Connectivity(
        state="unreachable",
        generation=generation,
        checked_at=checked_at,
        probes=3,
        failed=1,
        failures=(ConnectivityFailure("2", "sasl_iam", 9098, "tcp", "connection refused"),),
    )


def record(registry: TenantRegistry, connectivity: Connectivity, **where: str) -> bool:
    place = {"region": "eu-west-1", "vpc_id": "vpc-1"} | where
    return registry.record_connectivity(
        CLUSTER, ACCOUNT, region=place["region"], vpc_id=place["vpc_id"], connectivity=connectivity
    )


def raw_item(registry: TenantRegistry, aws: EmbeddedAws) -> dict[str, Any] | None:
    key = {"clusterArn": {"S": CLUSTER}, "consumerAccountId": {"S": ACCOUNT}}
    found: dict[str, Any] | None = (
        aws.client("dynamodb")
        .get_item(TableName="tenants", Key=key, ConsistentRead=True)
        .get("Item")
    )
    return found


def test_a_connectivity_report_is_written_only_on_an_active_tenant_of_that_network(
    registry: TenantRegistry, aws: EmbeddedAws
) -> None:
    # No item: none is created.
    assert not record(registry, report())
    assert raw_item(registry, aws) is None
    register(registry)
    assert not record(registry, report())  # PENDING: the workflow checks the endpoints
    registry.transition(CLUSTER, ACCOUNT, allowed_from=frozenset({"PENDING"}), to="ACTIVE")
    before = raw_item(registry, aws)
    assert not record(registry, report(), vpc_id="vpc-2")
    assert not record(registry, report(), region="us-east-1")
    assert raw_item(registry, aws) == before

    assert record(registry, report())

    after = raw_item(registry, aws)
    assert after is not None
    # One attribute more; updatedAt, state and the rest as the workflow left them.
    assert {k: v for k, v in after.items() if k != "connectivity"} == before
    assert registry.require(CLUSTER, ACCOUNT).connectivity == report()
    # The workflow's next transition is not disturbed, and the report stays
    # out of the offboarding tenant's item from then on.
    registry.transition(CLUSTER, ACCOUNT, allowed_from=frozenset({"ACTIVE"}), to="OFFBOARDING")
    assert not record(registry, report("2026-12-05T18:15:00.000+00:00"))
    assert registry.require(CLUSTER, ACCOUNT).connectivity == report()


def test_a_connectivity_report_never_replaces_a_later_or_newer_one(
    registry: TenantRegistry,
) -> None:
    register(registry)
    registry.transition(CLUSTER, ACCOUNT, allowed_from=frozenset({"PENDING"}), to="ACTIVE")
    stored = report("2026-12-05T18:10:00.000+00:00", generation=4)
    assert record(registry, stored)

    assert not record(registry, stored)  # the same report again
    assert not record(registry, report("2026-12-05T18:09:59.999+00:00", generation=4))
    assert not record(registry, report("2026-12-05T18:15:00.000+00:00", generation=3))
    assert registry.require(CLUSTER, ACCOUNT).connectivity == stored

    newer = report("2026-12-05T18:15:00.000+00:00", generation=5)
    assert record(registry, newer)
    assert registry.require(CLUSTER, ACCOUNT).connectivity == newer


def consumer_endpoint(aws: EmbeddedAws, service_name: str) -> tuple[Any, str]:
    credentials = aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/c", RoleSessionName="consumer"
    )["Credentials"]
    session = account_session(
        {k: str(credentials[k]) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")},
        aws.region,
    )
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=vpc, ServiceName=service_name, SubnetIds=[subnet]
    )["VpcEndpoint"]["VpcEndpointId"]
    return ec2, endpoint


def provider_service(aws: EmbeddedAws, *, acceptance: bool) -> tuple[str, str]:
    network = aws.create_network(subnet_count=1)
    lb = aws.client("elbv2").create_load_balancer(
        Name=f"nlb-{int(acceptance)}", Subnets=list(network.subnet_ids), Type="network"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    service = aws.client("ec2").create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb], AcceptanceRequired=acceptance
    )["ServiceConfiguration"]
    return service["ServiceId"], service["ServiceName"]


def test_connections_are_pending_until_accepted_and_rejected_on_request(aws: EmbeddedAws) -> None:
    ec2 = aws.client("ec2")
    service_id, service_name = provider_service(aws, acceptance=True)
    consumer_ec2, endpoint = consumer_endpoint(aws, service_name)

    def state() -> str:
        [row] = ec2.describe_vpc_endpoint_connections(
            Filters=[{"Name": "service-id", "Values": [service_id]}]
        )["VpcEndpointConnections"]
        assert row["VpcEndpointOwner"] == ACCOUNT
        return str(row["VpcEndpointState"])

    def consumer_state() -> str:
        [e] = consumer_ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint])["VpcEndpoints"]
        return str(e["State"])

    assert (state(), consumer_state()) == ("pendingAcceptance", "pendingAcceptance")
    assert (
        ec2.accept_vpc_endpoint_connections(ServiceId=service_id, VpcEndpointIds=[endpoint])[
            "Unsuccessful"
        ]
        == []
    )
    assert (state(), consumer_state()) == ("available", "available")
    ec2.reject_vpc_endpoint_connections(ServiceId=service_id, VpcEndpointIds=[endpoint])
    assert (state(), consumer_state()) == ("rejected", "rejected")
    # A rejected connection cannot be accepted again; an unknown one is reported.
    failed = ec2.accept_vpc_endpoint_connections(
        ServiceId=service_id, VpcEndpointIds=[endpoint, "vpce-0123456789abcdef0"]
    )["Unsuccessful"]
    assert [f["Error"]["Code"] for f in failed] == ["InvalidState", "InvalidVpcEndpoint.NotFound"]
    # Filters narrow the answer; another account's view of the service is empty.
    assert (
        ec2.describe_vpc_endpoint_connections(
            Filters=[{"Name": "vpc-endpoint-owner", "Values": ["999999999999"]}]
        )["VpcEndpointConnections"]
        == []
    )
    assert consumer_ec2.describe_vpc_endpoint_connections()["VpcEndpointConnections"] == []


def test_connections_without_acceptance_are_available_and_errors_are_modelled(
    aws: EmbeddedAws,
) -> None:
    ec2 = aws.client("ec2")
    _, service_name = provider_service(aws, acceptance=False)
    consumer_endpoint(aws, service_name)

    [row] = ec2.describe_vpc_endpoint_connections()["VpcEndpointConnections"]
    assert row["VpcEndpointState"] == "available"
    with pytest.raises(ClientError) as caught:
        ec2.reject_vpc_endpoint_connections(
            ServiceId="vpce-svc-0123456789abcdef0", VpcEndpointIds=[row["VpcEndpointId"]]
        )
    assert caught.value.response["Error"]["Code"] == "InvalidVpcEndpointServiceId.NotFound"
    # The simulated operations exist in botocore's EC2 model with these shapes.
    model = ec2_service_model()
    for name in ("DescribeVpcEndpointConnections", "AcceptVpcEndpointConnections"):
        assert model.operation_model(name).output_shape is not None
