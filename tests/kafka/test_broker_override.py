"""broker-override mode on real Apache Kafka brokers.

ZooKeeper mode: the Kafka admin function applies the mapping; a new client of
the CLIENT listener learns the broker at host:(base + id); every other entry
stays byte for byte; a second run alters nothing. KRaft mode: refused with
an error naming msk-configuration, nothing changed. SASL/SCRAM: the admin
client reads its user from (moto) Secrets Manager and connects; the password
appears in no log line and no error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from msk_privatelink.advertised.aws.kafka_admin_invoke import LambdaBrokerOverride
from msk_privatelink.advertised.kafka_admin import (
    ADVERTISED_LISTENERS,
    BrokerOverride,
    KafkaAdmin,
    apply_request,
    client_config,
    in_process,
)
from msk_privatelink.advertised.listeners import AdvertisedMapping, build_mapping, split_listeners
from msk_privatelink.advertised.outcome import AdvertisedListenersFailedError, AdvertisedStatus
from msk_privatelink.advertised.request import (
    AdminConnection,
    AdvertisedRequest,
    AdvertisedResponse,
)
from msk_privatelink.advertised.service import AdminSettings, AdvertisedListeners
from msk_privatelink.kernel.models import AuthScheme, ClusterInventory
from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.local.lambdas import RUNNING_FUNCTION, FakeContext, load_handler_module
from msk_privatelink_dev.local.stack import PROVIDER_TEMPLATE, Stack
from tests.advertised.support import LocalInvoke
from tests.iam.recorder import recording
from tests.kafka.broker import HOST, KafkaBroker, brokers_in_metadata, wait_for
from tests.kafka.conftest import SCRAM_LISTENER
from tests.kafka.test_broker_facts import brokers_learned_by_new_client

pytestmark = pytest.mark.kafka

CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/orders/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2"
)
NLB_HOST = "b-1.orders.example.test"
PLAINTEXT_BASE = 8240
TIMEOUT = 30.0
SCRAM_USER = "msk-privatelink-admin"
SCRAM_PASSWORD = "s3cret-Pa55word-that-must-not-leak"


class CountingAdmin(KafkaAdmin):
    """A KafkaAdmin that records every alter it is asked for: (broker id, validate_only)."""

    def __init__(self, config: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.alters: list[tuple[int, bool]] = []

    def set_advertised_listeners(
        self, broker_id: int, value: str, *, validate_only: bool = False
    ) -> None:
        self.alters.append((broker_id, validate_only))
        super().set_advertised_listeners(broker_id, value, validate_only=validate_only)


def plaintext(bootstrap: str) -> AdminConnection:
    return AdminConnection(bootstrap=bootstrap, auth=AuthScheme.PLAINTEXT, region="us-east-1")


def _mapping(broker: KafkaBroker) -> AdvertisedMapping:
    return build_mapping(
        [AuthScheme.PLAINTEXT], {AuthScheme.PLAINTEXT: PLAINTEXT_BASE}, {broker.node_id: NLB_HOST}
    )


def _inventory() -> ClusterInventory:
    return ClusterInventory(
        cluster_arn=CLUSTER_ARN,
        cluster_name="orders",
        state="ACTIVE",
        vpc_id="vpc-0123456789abcdef0",
        client_subnet_ids=(),
        enabled_schemes=frozenset({AuthScheme.PLAINTEXT}),
        kafka_version="3.9.x",
        expected_broker_count=1,
    )


def client_listener_request(broker: KafkaBroker, connection: AdminConnection) -> AdvertisedRequest:
    return AdvertisedRequest.from_mapping(CLUSTER_ARN, _mapping(broker), connection)


def expected_endpoint(broker: KafkaBroker) -> str:
    return f"{NLB_HOST}:{PLAINTEXT_BASE + broker.node_id}"


def remove_override(broker: KafkaBroker) -> None:
    """Back to the static advertised.listeners, for the next test on this broker."""
    admin = AdminClient({"bootstrap.servers": broker.replication_bootstrap})
    resource = ConfigResource(
        ResourceType.BROKER,
        str(broker.node_id),
        incremental_configs=[
            ConfigEntry(ADVERTISED_LISTENERS, None, incremental_operation=AlterConfigOpType.DELETE)
        ],
    )
    admin.incremental_alter_configs([resource])[resource].result(timeout=TIMEOUT)
    reader = KafkaAdmin(client_config(plaintext(broker.replication_bootstrap)))
    wait_for(
        "the static advertised.listeners is back",
        lambda: reader.advertised_listeners(broker.node_id) == broker.advertised_listeners,
        timeout=TIMEOUT,
    )


@pytest.fixture
def zookeeper(zookeeper_broker: KafkaBroker) -> Iterator[KafkaBroker]:
    yield zookeeper_broker
    remove_override(zookeeper_broker)


@pytest.fixture
def scram(scram_broker: KafkaBroker) -> Iterator[KafkaBroker]:
    admin = AdminClient({"bootstrap.servers": scram_broker.replication_bootstrap})
    upsert = UserScramCredentialUpsertion(
        SCRAM_USER,
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
        SCRAM_PASSWORD.encode(),
    )
    admin.alter_user_scram_credentials([upsert])[SCRAM_USER].result(timeout=TIMEOUT)
    yield scram_broker
    remove_override(scram_broker)


def test_zookeeper_override_applies_the_mapping_and_a_second_run_alters_nothing(
    zookeeper: KafkaBroker,
) -> None:
    # Given a ZooKeeper-mode broker administered through its REPLICATION listener
    broker = zookeeper
    connection = plaintext(broker.replication_bootstrap)
    reader = KafkaAdmin(client_config(connection))
    before = reader.advertised_listeners(broker.node_id)
    request = client_listener_request(broker, connection)

    # When the Kafka admin function is invoked with the request, as the reconciler does
    handler = load_handler_module("kafka_admin")
    answer = handler.lambda_handler(json.loads(json.dumps(request.to_dict())), FakeContext("ka"))

    # Then the broker advertises the NLB endpoint on CLIENT, and only there
    response = AdvertisedResponse.from_dict(answer)
    assert (response.status, response.changed_brokers) == (AdvertisedStatus.APPLIED, (1,))
    after = reader.advertised_listeners(broker.node_id)
    before_entries, after_entries = split_listeners(before), split_listeners(after)
    assert after_entries == [
        ("CLIENT", f"CLIENT://{expected_endpoint(broker)}"),
        before_entries[1],
    ]
    assert before_entries[1] == ("REPLICATION", f"REPLICATION://{HOST}:{broker.replication_port}")
    wait_for(
        "a new client of CLIENT learns the broker at host:(base + id)",
        lambda: (
            brokers_learned_by_new_client(broker.client_bootstrap)
            == {broker.node_id: expected_endpoint(broker)}
        ),
        timeout=TIMEOUT,
    )
    assert brokers_in_metadata(broker.replication_bootstrap) == {
        broker.node_id: (HOST, broker.replication_port)
    }

    # And a second run finds nothing to change
    counting = CountingAdmin(client_config(connection))
    second = BrokerOverride(counting).apply(request)
    assert second.status is AdvertisedStatus.UP_TO_DATE
    assert counting.alters == []
    assert second.to_outcome().done


def test_kraft_override_is_refused_naming_msk_configuration_and_changes_nothing(
    kraft_broker: KafkaBroker,
) -> None:
    broker = kraft_broker
    connection = plaintext(broker.replication_bootstrap)
    admin = CountingAdmin(client_config(connection))
    before = admin.advertised_listeners(broker.node_id)

    response = BrokerOverride(admin).apply(client_listener_request(broker, connection))

    assert response.status is AdvertisedStatus.FAILED
    assert (response.error, response.retryable) == ("read-only", False)
    assert "msk-configuration" in response.detail
    assert "Raft-based metadata quorum" in response.detail
    # Only the validate_only probe reached the broker.
    assert admin.alters == [(broker.node_id, True)]
    assert admin.advertised_listeners(broker.node_id) == before
    assert brokers_in_metadata(broker.client_bootstrap) == {
        broker.node_id: (HOST, broker.client_port)
    }
    # The reconciler's entry point (running the function's code in-process) says the same.
    with EmbeddedAws() as aws:
        outcome = AdvertisedListeners(
            "broker-override",
            kafka=aws.client("kafka"),
            broker_override=in_process(),
            admin=AdminSettings(bootstrap=broker.replication_bootstrap, auth=AuthScheme.PLAINTEXT),
        ).ensure(_inventory(), _mapping(broker))
    assert outcome.status is AdvertisedStatus.FAILED
    with pytest.raises(AdvertisedListenersFailedError, match="msk-configuration"):
        outcome.raise_for_failure()
    assert admin.advertised_listeners(broker.node_id) == before


def test_scram_admin_reads_its_secret_connects_and_never_shows_the_password(
    scram: KafkaBroker, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    # Everything at INFO, the project's loggers (librdkafka's lines included) at
    # DEBUG. botocore's own DEBUG output echoes request and response bodies of
    # every service, so it is no place to look for a leak of ours.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="msk_privatelink")
    broker = scram
    with EmbeddedAws() as aws:
        secrets = aws.client("secretsmanager")
        good = secrets.create_secret(
            Name="AmazonMSK_admin",
            SecretString=json.dumps({"username": SCRAM_USER, "password": SCRAM_PASSWORD}),
        )["ARN"]
        wrong_password = SCRAM_PASSWORD[::-1]
        bad = secrets.create_secret(
            Name="AmazonMSK_stale",
            SecretString=json.dumps({"username": SCRAM_USER, "password": wrong_password}),
        )["ARN"]

        def connection(secret_arn: str) -> AdminConnection:
            return AdminConnection(
                bootstrap=broker.bootstrap_of(SCRAM_LISTENER),
                auth=AuthScheme.SASL_SCRAM,
                region="us-east-1",
                scram_secret_arn=secret_arn,
                tls=False,
            )

        # As the Kafka admin function runs them: every AWS call held against
        # its role as template.yaml defines it (a stack with the function).
        stack = Stack(
            PROVIDER_TEMPLATE,
            "msk-privatelink",
            aws.account_id,
            aws.region,
            parameters={
                "ClusterArn": f"arn:aws:kafka:us-east-1:{aws.account_id}:cluster/c/0a1b-1",
                "KafkaAdminSubnetIds": "subnet-0a1b2c3d",
                "KafkaAdminVpcId": "vpc-0a1b2c3d",
                "KafkaAdminBrokerCidr": "10.0.0.0/16",
            },
        )
        running = RUNNING_FUNCTION.set("kafka_admin")
        try:
            with recording(lambda *_: stack) as calls:
                # A wrong password is an authentication failure, and says so
                refused = apply_request(
                    client_listener_request(broker, connection(bad)), secrets=secrets, timeout=8.0
                )
                # The right one connects over SASL/SCRAM and re-advertises CLIENT
                applied = apply_request(
                    client_listener_request(broker, connection(good)), secrets=secrets
                )
        finally:
            RUNNING_FUNCTION.reset(running)

    assert {d.request.action for d in calls.decisions if d.request} == {
        "secretsmanager:GetSecretValue"
    }
    assert [d.describe() for d in calls.denied()] == []

    assert (refused.status, refused.error, refused.retryable) == (
        AdvertisedStatus.FAILED,
        "authentication",
        False,
    )
    assert applied.status is AdvertisedStatus.APPLIED
    reader = KafkaAdmin(client_config(plaintext(broker.replication_bootstrap)))
    entries = dict(split_listeners(reader.advertised_listeners(broker.node_id)))
    assert entries["CLIENT"] == f"CLIENT://{expected_endpoint(broker)}"
    assert entries[SCRAM_LISTENER] == f"{SCRAM_LISTENER}://{broker.bootstrap_of(SCRAM_LISTENER)}"
    captured = capfd.readouterr()
    seen = "\n".join(
        [caplog.text, captured.out, captured.err, refused.detail, applied.detail, repr(refused)]
    )
    assert caplog.text  # the client did log: the check below is not vacuous
    for secret in (SCRAM_PASSWORD, wrong_password):
        assert secret not in seen


def test_the_reconciler_call_path_reaches_the_broker_through_the_function(
    zookeeper: KafkaBroker,
) -> None:
    # Given the reconciler's entry point wired to the function through Lambda Invoke
    broker = zookeeper
    handler = load_handler_module("kafka_admin")
    invoke = LocalInvoke({"kafka-admin": lambda e: handler.lambda_handler(e, FakeContext("ka"))})
    inventory, mapping = _inventory(), _mapping(broker)
    with EmbeddedAws() as aws:
        listeners = AdvertisedListeners(
            "broker-override",
            kafka=aws.client("kafka"),
            broker_override=LambdaBrokerOverride(invoke.client(aws), "kafka-admin"),
            admin=AdminSettings(bootstrap=broker.replication_bootstrap, auth=AuthScheme.PLAINTEXT),
        )

        # When it runs twice
        first = listeners.ensure(inventory, mapping)
        second = listeners.ensure(inventory, mapping)

    # Then the first run re-advertised broker 1 and the second found it done
    assert (first.status, first.changed_brokers) == (AdvertisedStatus.APPLIED, (1,))
    assert second.status is AdvertisedStatus.UP_TO_DATE
    assert len(invoke.payloads) == 2
    wait_for(
        "a new client of CLIENT learns the broker at host:(base + id)",
        lambda: (
            brokers_learned_by_new_client(broker.client_bootstrap)
            == {broker.node_id: expected_endpoint(broker)}
        ),
        timeout=TIMEOUT,
    )
