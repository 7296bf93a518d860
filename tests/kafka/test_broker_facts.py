"""Facts about per-broker ``advertised.listeners``, proved on real Apache Kafka brokers.

The design relies on them: each MSK broker sits behind its own NLB port, so
each broker must advertise its own host:port on the client listener while the
replication listener stays untouched.

1. ZooKeeper mode: an IncrementalAlterConfigs (resource BROKER, name = the
   broker id) of ``advertised.listeners`` takes effect while the broker runs:
   DescribeConfigs shows it as a dynamic broker config, a new client through the
   CLIENT listener learns the broker at the new host:port, and the REPLICATION
   entry (and what clients of that listener see) stays byte-for-byte the same.
2. KRaft mode: the same request is refused by the broker with INVALID_REQUEST
   (error code 42; ``InvalidRequestException`` on the broker) and nothing
   changes. ``validate_only`` gets the same refusal, so it can be probed safely.
3. The data path through the CLIENT listener works (produce, then consume).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)

from tests.kafka.broker import (
    HOST,
    KafkaBroker,
    brokers_in_metadata,
    client_config,
    wait_for,
)

pytestmark = pytest.mark.kafka

ADVERTISED_LISTENERS = "advertised.listeners"
NLB_HOST, NLB_PORT = "b-1.example.test", 9001
TIMEOUT = 30.0

# What a client gets from a KRaft broker (Kafka 3.9) for that request, verbatim.
KRAFT_REFUSAL_CODE = KafkaError.INVALID_REQUEST  # 42
KRAFT_REFUSAL_MESSAGE = (
    "Invalid value org.apache.kafka.common.config.ConfigException: Advertised listeners "
    "cannot be altered when using a Raft-based metadata quorum. "
    "for configuration Invalid dynamic configuration"
)


# ---------------------------------------------------------------------------- helpers


def admin_via(bootstrap: str) -> AdminClient:
    return AdminClient(client_config(bootstrap))


def broker_resource(broker: KafkaBroker, *entries: ConfigEntry) -> ConfigResource:
    if entries:
        return ConfigResource(
            ResourceType.BROKER, str(broker.node_id), incremental_configs=list(entries)
        )
    return ConfigResource(ResourceType.BROKER, str(broker.node_id))


def describe_advertised_listeners(
    admin: AdminClient, broker: KafkaBroker
) -> tuple[str, ConfigSource]:
    """(value, source) of the broker's ``advertised.listeners`` (DescribeConfigs)."""
    resource = broker_resource(broker)
    configs = admin.describe_configs([resource])[resource].result(timeout=TIMEOUT)
    entry = configs[ADVERTISED_LISTENERS]
    assert isinstance(entry.value, str), entry
    # The client hands the source over as the protocol's int, the enum's value.
    return entry.value, ConfigSource(entry.source)


def described_as(admin: AdminClient, broker: KafkaBroker, value: str, source: ConfigSource) -> bool:
    """Whether DescribeConfigs shows both ``value`` and ``source``.

    Both, not one: in ZooKeeper mode the broker updates the source of a dynamic
    config a few milliseconds before its value (seen: source already
    STATIC_BROKER_CONFIG while the value was still the deleted override).
    """
    return describe_advertised_listeners(admin, broker) == (value, source)


def incremental_alter(
    admin: AdminClient,
    broker: KafkaBroker,
    value: str | None,
    operation: AlterConfigOpType = AlterConfigOpType.SET,
    *,
    validate_only: bool = False,
) -> None:
    resource = broker_resource(
        broker, ConfigEntry(ADVERTISED_LISTENERS, value, incremental_operation=operation)
    )
    futures = admin.incremental_alter_configs([resource], validate_only=validate_only)
    futures[resource].result(timeout=TIMEOUT)


def split_listeners(value: str) -> dict[str, str]:
    """``NAME://host:port,...`` -> {NAME: the entry exactly as written}."""
    return {entry.split("://", 1)[0]: entry for entry in value.split(",")}


def with_listener_endpoint(value: str, name: str, host: str, port: int) -> str:
    """``value`` with only the entry of listener ``name`` pointed at host:port."""
    entries = [
        f"{name}://{host}:{port}" if entry.split("://", 1)[0] == name else entry
        for entry in value.split(",")
    ]
    assert entries != value.split(","), f"no {name} listener in {value!r}"
    return ",".join(entries)


def brokers_learned_by_new_client(bootstrap: str, timeout: float = 5.0) -> dict[int, str]:
    """Broker id -> ``host:port`` a new client learned from its bootstrap metadata.

    Read from librdkafka's statistics (``brokers[*].nodeid`` and ``nodename``,
    source ``learned``), not from a metadata request of its own: once it has
    learned the brokers the client talks to them at the advertised address, and
    an address such as b-1.example.test does not resolve here.
    """
    learned: dict[int, str] = {}

    def on_stats(raw: str) -> None:
        for entry in json.loads(raw)["brokers"].values():
            if entry.get("source") == "learned" and entry.get("nodeid", -1) >= 0:
                learned[entry["nodeid"]] = entry["nodename"]

    client = AdminClient(
        client_config(bootstrap, **{"statistics.interval.ms": 100, "stats_cb": on_stats})
    )
    deadline = time.monotonic() + timeout
    while not learned and time.monotonic() < deadline:
        client.poll(0.1)
    return dict(learned)


# ------------------------------------------------------------------------------ tests


def test_zookeeper_client_listener_produces_and_consumes(
    zookeeper_broker: KafkaBroker,
) -> None:
    broker = zookeeper_broker
    assert brokers_in_metadata(broker.client_bootstrap) == {
        broker.node_id: (HOST, broker.client_port)
    }
    assert describe_advertised_listeners(admin_via(broker.replication_bootstrap), broker) == (
        broker.advertised_listeners,
        ConfigSource.STATIC_BROKER_CONFIG,
    )
    topic = f"data-path-{uuid.uuid4().hex[:8]}"
    admin = admin_via(broker.client_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(
        timeout=TIMEOUT
    )

    sent = [(f"key-{i}".encode(), f"message {i} of {topic}".encode()) for i in range(200)]
    delivery_errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            delivery_errors.append(err)

    producer = Producer(client_config(broker.client_bootstrap, **{"acks": "all", "linger.ms": 5}))
    for key, value in sent:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    assert producer.flush(TIMEOUT) == 0
    assert delivery_errors == []

    consumer = Consumer(
        client_config(
            broker.client_bootstrap,
            **{"group.id": f"reader-{topic}", "enable.auto.commit": False},
        )
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        received: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + TIMEOUT
        while len(received) < len(sent) and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=0.5):
                assert message.error() is None, message.error()
                received.append((message.key(), message.value()))
    finally:
        consumer.close()
    assert received == sent


def test_zookeeper_per_broker_advertised_listeners_override_takes_effect(
    zookeeper_broker: KafkaBroker,
) -> None:
    broker = zookeeper_broker
    # Administered through REPLICATION: once CLIENT advertises an address that
    # does not resolve here, clients of CLIENT cannot reach the broker anymore.
    admin = admin_via(broker.replication_bootstrap)
    nlb = f"{NLB_HOST}:{NLB_PORT}"

    before, source = describe_advertised_listeners(admin, broker)
    assert (before, source) == (broker.advertised_listeners, ConfigSource.STATIC_BROKER_CONFIG)
    assert brokers_learned_by_new_client(broker.client_bootstrap) == {
        broker.node_id: f"{HOST}:{broker.client_port}"
    }

    override = with_listener_endpoint(before, "CLIENT", NLB_HOST, NLB_PORT)
    assert override == f"CLIENT://{nlb},REPLICATION://{HOST}:{broker.replication_port}"
    try:
        incremental_alter(admin, broker, override)

        wait_for(
            "DescribeConfigs shows the override as a dynamic per-broker config",
            lambda: described_as(admin, broker, override, ConfigSource.DYNAMIC_BROKER_CONFIG),
            timeout=TIMEOUT,
        )
        after, _ = describe_advertised_listeners(admin, broker)
        assert after == override
        assert split_listeners(after)["CLIENT"] == f"CLIENT://{nlb}"
        assert split_listeners(after)["REPLICATION"] == split_listeners(before)["REPLICATION"]

        # A new client bootstrapped through CLIENT is told: broker 1 is at the NLB ...
        wait_for(
            "a new client of CLIENT learns broker 1 at the NLB endpoint",
            lambda: brokers_learned_by_new_client(broker.client_bootstrap) == {broker.node_id: nlb},
            timeout=TIMEOUT,
        )
        # ... while clients of REPLICATION see exactly what they saw before.
        assert brokers_in_metadata(broker.replication_bootstrap) == {
            broker.node_id: (HOST, broker.replication_port)
        }
    finally:
        incremental_alter(admin, broker, None, AlterConfigOpType.DELETE)

    # Deleting the dynamic value restores the static one, and clients see it again.
    wait_for(
        "DescribeConfigs shows the static advertised.listeners again",
        lambda: described_as(
            admin, broker, broker.advertised_listeners, ConfigSource.STATIC_BROKER_CONFIG
        ),
        timeout=TIMEOUT,
    )
    wait_for(
        "a new client of CLIENT sees broker 1 at the CLIENT listener again",
        lambda: (
            brokers_in_metadata(broker.client_bootstrap)
            == {broker.node_id: (HOST, broker.client_port)}
        ),
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("validate_only", [False, True], ids=["alter", "validate-only"])
def test_kraft_refuses_advertised_listeners_override(
    kraft_broker: KafkaBroker, validate_only: bool
) -> None:
    broker = kraft_broker
    admin = admin_via(broker.replication_bootstrap)
    before = describe_advertised_listeners(admin, broker)
    assert before == (broker.advertised_listeners, ConfigSource.STATIC_BROKER_CONFIG)
    override = with_listener_endpoint(before[0], "CLIENT", NLB_HOST, NLB_PORT)

    with pytest.raises(KafkaException) as refused:
        incremental_alter(admin, broker, override, validate_only=validate_only)

    error = refused.value.args[0]
    assert isinstance(error, KafkaError)
    assert (error.code(), error.name()) == (KRAFT_REFUSAL_CODE, "INVALID_REQUEST")
    assert error.code() == 42
    assert error.str() == KRAFT_REFUSAL_MESSAGE
    assert not error.retriable()
    # Refused by the broker itself (ConfigAdminManager), as InvalidRequestException.
    log = (broker.workdir / "kafka.log").read_text(errors="replace")
    assert f"org.apache.kafka.common.errors.InvalidRequestException: {KRAFT_REFUSAL_MESSAGE}" in log

    assert describe_advertised_listeners(admin, broker) == before
    assert brokers_in_metadata(broker.client_bootstrap) == {
        broker.node_id: (HOST, broker.client_port)
    }
    assert brokers_in_metadata(broker.replication_bootstrap) == {
        broker.node_id: (HOST, broker.replication_port)
    }
