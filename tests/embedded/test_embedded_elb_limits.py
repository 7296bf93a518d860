"""The embedded AWS answers Elastic Load Balancing's documented quotas and
enforces the Network Load Balancer count, as an account would."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.exceptions import ClientError

from msk_privatelink_dev.embedded import EmbeddedAws, Network

# Elastic Load Balancing API Reference, "Limit": the names DescribeAccountLimits gives.
DOCUMENTED_NAMES = {
    "application-load-balancers",
    "condition-values-per-alb-rule",
    "condition-wildcards-per-alb-rule",
    "gateway-load-balancers",
    "gateway-load-balancers-per-vpc",
    "geneve-target-groups",
    "listeners-per-application-load-balancer",
    "listeners-per-network-load-balancer",
    "network-load-balancers",
    "rules-per-application-load-balancer",
    "target-groups",
    "target-groups-per-action-on-application-load-balancer",
    "target-groups-per-action-on-network-load-balancer",
    "target-groups-per-application-load-balancer",
    "targets-per-application-load-balancer",
    "targets-per-availability-zone-per-gateway-load-balancer",
    "targets-per-availability-zone-per-network-load-balancer",
    "targets-per-network-load-balancer",
}


def limits(aws: EmbeddedAws) -> dict[str, str]:
    answer = aws.client("elbv2").describe_account_limits()
    return {limit["Name"]: limit["Max"] for limit in answer["Limits"]}


def test_account_limits_are_the_documented_network_load_balancer_defaults(
    aws: EmbeddedAws,
) -> None:
    answer = limits(aws)

    assert set(answer) <= DOCUMENTED_NAMES
    # "Quotas for your Network Load Balancers".
    assert answer["network-load-balancers"] == "50"
    assert answer["listeners-per-network-load-balancer"] == "50"
    assert answer["targets-per-network-load-balancer"] == "3000"
    assert answer["targets-per-availability-zone-per-network-load-balancer"] == "500"


def test_a_lowered_quota_is_answered_and_enforced(aws: EmbeddedAws, network: Network) -> None:
    aws.set_elb_limit("network-load-balancers", 1)
    elbv2 = aws.client("elbv2")
    assert limits(aws)["network-load-balancers"] == "1"
    subnets = list(network.subnet_ids)
    elbv2.create_load_balancer(Name="first", Subnets=subnets, Type="network", Scheme="internal")
    # Creating the same one again is idempotent in ELB, not a new load balancer.
    elbv2.create_load_balancer(Name="first", Subnets=subnets, Type="network", Scheme="internal")

    with pytest.raises(ClientError) as refused:
        elbv2.create_load_balancer(
            Name="second", Subnets=subnets, Type="network", Scheme="internal"
        )

    code = refused.value.response["Error"]["Code"]
    assert code == "TooManyLoadBalancers"
    model = botocore.session.get_session().get_service_model("elbv2")
    errors = model.operation_model("CreateLoadBalancer").error_shapes
    assert code in {e.metadata.get("error", {}).get("code", e.name) for e in errors}


def test_lowered_quotas_end_with_the_embedded_aws() -> None:
    with EmbeddedAws() as aws:
        aws.set_elb_limit("network-load-balancers", 1)
    with EmbeddedAws() as aws:
        assert limits(aws)["network-load-balancers"] == "50"
