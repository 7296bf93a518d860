"""The broker-override request/response at the function boundary, and the reconciler's side."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from msk_privatelink.advertised.aws.kafka_admin_invoke import LambdaBrokerOverride
from msk_privatelink.advertised.listeners import build_mapping
from msk_privatelink.advertised.outcome import AdvertisedStatus
from msk_privatelink.advertised.request import (
    AdminConnection,
    AdvertisedRequest,
    AdvertisedResponse,
)
from msk_privatelink.advertised.service import AdminSettings, AdvertisedListeners
from msk_privatelink.kernel.errors import AwsCallError, ConfigError, InvalidEventError
from msk_privatelink.kernel.models import AuthScheme
from msk_privatelink.reconcile.aws.msk import MskInventoryReader
from msk_privatelink_dev.embedded import EmbeddedAws
from tests.advertised.support import LocalInvoke, make_cluster

CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/orders/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2"
)
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_admin-AbC123"


def request() -> AdvertisedRequest:
    mapping = build_mapping(
        [AuthScheme.SASL_IAM, AuthScheme.SASL_SCRAM],
        {AuthScheme.SASL_IAM: 9000, AuthScheme.SASL_SCRAM: 8640},
        {
            1: "b-1.orders.x.kafka.us-east-1.amazonaws.com",
            2: "b-2.orders.x.kafka.us-east-1.amazonaws.com",
        },
    )
    connection = AdminConnection(
        bootstrap="b-1.orders.x:9096,b-2.orders.x:9096",
        auth=AuthScheme.SASL_SCRAM,
        region="us-east-1",
        scram_secret_arn=SECRET_ARN,
    )
    return AdvertisedRequest.from_mapping(CLUSTER_ARN, mapping, connection)


def test_the_request_round_trips_and_names_each_client_entry() -> None:
    original = request()
    data = original.to_dict()

    assert AdvertisedRequest.from_dict(data) == original
    assert data["brokers"][1] == {
        "brokerId": 2,
        "entries": {
            "CLIENT_IAM": "CLIENT_IAM://b-2.orders.x.kafka.us-east-1.amazonaws.com:9002",
            "CLIENT_SASL_SCRAM": "CLIENT_SASL_SCRAM://b-2.orders.x.kafka.us-east-1.amazonaws.com:8642",
        },
    }
    assert "password" not in str(data).lower()


def _set(path: str, value: Any) -> dict[str, Any]:
    data = request().to_dict()
    node: Any = data
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    "data",
    [
        _set("clusterArn", "arn:aws:kafka:us-east-1:1:cluster/x"),
        _set("connection.bootstrap", "host-without-port"),
        _set("connection.bootstrap", "h:70000"),
        _set("connection.auth", "kerberos"),
        _set("connection.scramSecretArn", ...),
        _set("connection.scramSecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"),
        _set("connection.tls", "yes"),
        _set("connection.region", "moon-1"),
        _set("connection.extra", 1),
        _set("brokers", []),
        _set("brokers.0.brokerId", -1),
        _set("brokers.0.brokerId", True),
        _set("brokers.0.entries", {"REPLICATION": "REPLICATION://h:9093"}),
        _set("brokers.0.entries", {"CLIENT_IAM": "CLIENT_SECURE://h:9001"}),
        _set("brokers.0.entries", {"CLIENT_IAM": "CLIENT_IAM://h:9001,REPLICATION://x:1"}),
        _set("brokers.1.brokerId", 1),
        _set("unexpected", "key"),
        [],
    ],
)
def test_a_bad_request_is_refused(data: Any) -> None:
    with pytest.raises(InvalidEventError):
        AdvertisedRequest.from_dict(data)


@pytest.mark.parametrize(
    ("response", "status"),
    [
        (AdvertisedResponse(AdvertisedStatus.APPLIED, "x", changed_brokers=(1,)), "applied"),
        (AdvertisedResponse(AdvertisedStatus.UP_TO_DATE, "x"), "up-to-date"),
        (AdvertisedResponse(AdvertisedStatus.UP_TO_DATE, "x", missing_brokers=(4,)), "busy"),
        (
            AdvertisedResponse(AdvertisedStatus.FAILED, "x", error="unreachable", retryable=True),
            "busy",
        ),
        (AdvertisedResponse(AdvertisedStatus.FAILED, "x", error="read-only"), "failed"),
    ],
)
def test_responses_round_trip_and_become_outcomes(
    response: AdvertisedResponse, status: str
) -> None:
    assert AdvertisedResponse.from_dict(copy.deepcopy(response.to_dict())) == response
    assert response.to_outcome().status.value == status
    assert response.to_outcome().mode == "broker-override"


def test_a_response_the_function_cannot_give_is_refused() -> None:
    with pytest.raises(InvalidEventError):
        AdvertisedResponse.from_dict({"status": "in-progress"})
    with pytest.raises(InvalidEventError):
        AdvertisedResponse.from_dict({"status": "applied", "changedBrokers": ["1"]})


@pytest.mark.integration
def test_the_reconciler_side_invokes_the_function_with_the_mapping_and_derived_connection() -> None:
    with EmbeddedAws() as aws:
        # Given a SCRAM + IAM cluster and a function that answers "applied"
        cluster_arn = make_cluster(aws, auth=("iam", "scram"))
        inventory = MskInventoryReader(aws.client("kafka"), aws.client("ec2")).read(cluster_arn)
        hosts = {b.broker_id: b.endpoints[0] for b in inventory.brokers}
        mapping = build_mapping([AuthScheme.SASL_IAM], {AuthScheme.SASL_IAM: 9000}, hosts)
        seen: list[AdvertisedRequest] = []

        def function(payload: dict[str, Any]) -> dict[str, Any]:
            seen.append(AdvertisedRequest.from_dict(payload))
            return AdvertisedResponse(
                AdvertisedStatus.APPLIED, "ok", changed_brokers=(1,)
            ).to_dict()

        invoke = LocalInvoke({"kafka-admin": function})
        listeners = AdvertisedListeners(
            "broker-override",
            kafka=aws.client("kafka"),
            broker_override=LambdaBrokerOverride(invoke.client(aws), "kafka-admin"),
        )

        # When the mapping is ensured
        outcome = listeners.ensure(inventory, mapping)

        # Then the function got the mapping, IAM (the strongest scheme) and the IAM bootstrap
        assert outcome.status is AdvertisedStatus.APPLIED
        assert len(seen) == 1
        connection = seen[0].connection
        assert connection.auth is AuthScheme.SASL_IAM
        bootstrap = aws.client("kafka").get_bootstrap_brokers(ClusterArn=cluster_arn)
        assert connection.bootstrap == bootstrap["BootstrapBrokerStringSaslIam"]
        assert [b.broker_id for b in seen[0].brokers] == sorted(hosts)


@pytest.mark.integration
def test_a_crashed_function_is_a_retryable_error() -> None:
    with EmbeddedAws() as aws:

        def function(payload: dict[str, Any]) -> dict[str, Any]:
            raise TimeoutError("Task timed out after 60.00 seconds")

        invoke = LocalInvoke({"kafka-admin": function})
        call = LambdaBrokerOverride(invoke.client(aws), "kafka-admin")

        with pytest.raises(AwsCallError, match="timed out") as excinfo:
            call(request())
        assert excinfo.value.retryable


def test_mode_checks_and_mode_none() -> None:
    with pytest.raises(ConfigError):
        AdvertisedListeners("sometimes")
    with pytest.raises(ConfigError):
        AdvertisedListeners("msk-configuration")
    with pytest.raises(ConfigError, match="admin function"):
        AdvertisedListeners("broker-override", kafka=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="scram_secret_arn"):
        AdvertisedListeners(
            "broker-override",
            kafka=object(),  # type: ignore[arg-type]
            broker_override=lambda _: AdvertisedResponse(AdvertisedStatus.FAILED, ""),
            admin=AdminSettings(bootstrap="h:1", auth=AuthScheme.SASL_SCRAM),
        ).connection(_inventory())
    outcome = AdvertisedListeners("none").ensure(_inventory(), request_mapping())
    assert outcome.done
    assert outcome.mode == "none"


def _inventory() -> Any:
    from msk_privatelink.kernel.models import ClusterInventory

    return ClusterInventory(
        cluster_arn=CLUSTER_ARN,
        cluster_name="orders",
        state="ACTIVE",
        vpc_id="vpc-1",
        client_subnet_ids=(),
        enabled_schemes=frozenset({AuthScheme.SASL_SCRAM}),
        kafka_version="3.9.x",
        expected_broker_count=0,
    )


def request_mapping() -> Any:
    return build_mapping([AuthScheme.SASL_IAM], {AuthScheme.SASL_IAM: 9000}, {1: "b-1.x.y"})
