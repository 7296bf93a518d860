"""How `apply` reaches the brokers for a broker-override cluster."""

from __future__ import annotations

import boto3

from msk_privatelink.advertised.aws.kafka_admin_invoke import LambdaBrokerOverride
from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.cli.main import _broker_override, build_parser
from msk_privatelink.reconcile.config import ClusterConfig, parse_config

CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)


def clients() -> AwsClients:
    session = boto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    return AwsClients(session)


def config(mode: str) -> ClusterConfig:
    return parse_config(
        {
            "cluster_arn": CLUSTER_ARN,
            "pattern": "shared-nlb",
            "advertised_listeners": {"mode": mode},
        },
        "test",
    )


def test_only_broker_override_gets_an_admin_call() -> None:
    for mode in ("none", "msk-configuration"):
        assert _broker_override(clients(), config(mode), "fn") is None


def test_the_stack_function_is_invoked_when_named() -> None:
    call = _broker_override(clients(), config("broker-override"), "stack-KafkaAdmin")
    assert isinstance(call, LambdaBrokerOverride)


def test_without_a_function_the_core_talks_to_the_brokers_from_here() -> None:
    call = _broker_override(clients(), config("broker-override"), None)
    assert call is not None
    assert not isinstance(call, LambdaBrokerOverride)


def test_apply_takes_the_function_name() -> None:
    args = build_parser().parse_args(
        ["apply", "--config", "c.yaml", "--no-tenants", "--kafka-admin-function", "fn"]
    )
    assert args.kafka_admin_function == "fn"
