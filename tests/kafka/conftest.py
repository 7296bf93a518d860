"""Real Apache Kafka brokers (ZooKeeper mode and KRaft mode), one of each per session.

The jars are fetched on first use (``scripts/kafka/fetch.sh``, Maven Central,
cached in ``.cache/kafka``). Without a JDK, Maven or the jars the tests are
skipped locally; with ``CI=true`` they fail instead, so CI cannot go green
without running them. A broker that is available but does not start is always
a failure.

When a test that uses a broker fails, the tail of every log of that broker
(ZooKeeper and Kafka) is attached to the report.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from typing import NoReturn

import pytest

from tests.kafka.broker import (
    KafkaBroker,
    KafkaRuntime,
    KafkaUnavailableError,
    kafka_runtime,
    start_broker,
)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"CI=true and a real Kafka broker is unavailable: {reason}", pytrace=False)
    pytest.skip(f"real Kafka broker unavailable: {reason}")


@pytest.fixture(scope="session")
def kafka_rt() -> KafkaRuntime:
    """The JDK and the Kafka jars (fetched once, then cached)."""
    try:
        return kafka_runtime()
    except KafkaUnavailableError as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="session")
def zookeeper_broker(
    kafka_rt: KafkaRuntime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaBroker]:
    """ZooKeeper plus a ZooKeeper-mode broker 1 (listeners CLIENT, REPLICATION)."""
    broker = start_broker(kafka_rt, "zookeeper", tmp_path_factory.mktemp("kafka-zookeeper"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kraft_broker(
    kafka_rt: KafkaRuntime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaBroker]:
    """A KRaft combined broker+controller, node 1 (listeners CLIENT, REPLICATION, CONTROLLER)."""
    broker = start_broker(kafka_rt, "kraft", tmp_path_factory.mktemp("kafka-kraft"))
    try:
        yield broker
    finally:
        broker.stop()


# The broker side of SASL/SCRAM on the CLIENT_SASL_SCRAM listener (SASL_PLAINTEXT:
# no certificates on loopback); users are created through the Admin API.
SCRAM_LISTENER = "CLIENT_SASL_SCRAM"
SCRAM_PROPERTIES = {
    "sasl.enabled.mechanisms": "SCRAM-SHA-512",
    "listener.name.client_sasl_scram.scram-sha-512.sasl.jaas.config": (
        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    ),
}


@pytest.fixture(scope="session")
def scram_broker(
    kafka_rt: KafkaRuntime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaBroker]:
    """A ZooKeeper-mode broker 1 with CLIENT, REPLICATION and a SASL/SCRAM listener."""
    broker = start_broker(
        kafka_rt,
        "zookeeper",
        tmp_path_factory.mktemp("kafka-scram"),
        extra_listeners={SCRAM_LISTENER: "SASL_PLAINTEXT"},
        extra_properties=SCRAM_PROPERTIES,
    )
    try:
        yield broker
    finally:
        broker.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for value in funcargs.values():
            if isinstance(value, KafkaBroker):
                report.sections.append(
                    (f"Kafka {value.mode} broker logs ({value.workdir})", value.logs())
                )
    return report
