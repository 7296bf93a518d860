"""The shared-nlb data path, proved with real Kafka clients and real brokers.

On the embedded AWS a three-broker MSK cluster (plaintext) is configured with
``pattern: shared-nlb`` and ``advertised_listeners.mode: broker-override``; the
reconciler builds the shared NLB (a listener per broker on ``base + id``, a
bootstrap listener whose target group holds every broker) and re-advertises
each real broker's CLIENT listener as ``localhost:(base + id)``. The NLB
stand-in (``nlb_standin.py``) serves those listeners on loopback and forwards
to the real brokers, translating each simulated broker address (ENI IP, port
9092) to the real broker's CLIENT listener.

Then a real producer bootstraps through the bootstrap port, a real consumer
reads everything back through the per-broker ports, and broker 2 is replaced
(new ENI IP in the simulator, the real broker restarted on a new port). The
reconciler moves exactly broker 2's targets (registering the new address
before deregistering the old one), the stand-in follows, the clients recover
while producing goes on, and the consumer reads every message exactly as it
was produced.

The simulated brokers' host names (``b-N.<cluster domain>``) do not resolve
here, so the test sets the simulator's broker records to ``localhost``.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from msk_privatelink.advertised.kafka_admin import apply_request
from msk_privatelink.advertised.outcome import AdvertisedStatus
from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.models import AuthScheme
from msk_privatelink.kernel.naming import shared_load_balancer_name
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.aws.publisher import EndpointsPublisher
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.reconciler import ReconcileOutcome, Reconciler
from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.local.lambdas import create_state_table
from tests.integration.harness import BUS, PREFIX, TABLE, World
from tests.kafka.broker import HOST, KafkaRuntime, client_config, wait_for
from tests.kafka.data_path_cluster import KafkaCluster, start_cluster
from tests.kafka.nlb_standin import NlbStandIn, Target, free_port_block

pytestmark = pytest.mark.kafka

SCHEME = AuthScheme.PLAINTEXT
BROKER_PORT = SCHEME.broker_port  # where the reconciler registers each broker's ENI IP
ADVERTISED_HOST = "localhost"
TOPIC = "data-path"
PARTITIONS = 6
TIMEOUT = 60.0
REPLACED = 2


# ---------------------------------------------------------------------- set-up


def advertise_localhost(aws: EmbeddedAws, cluster_arn: str) -> None:
    """Every simulated broker's first host name becomes ``localhost``, which
    this machine resolves (the simulated ``b-N.<domain>`` names do not)."""
    for broker in aws.msk.brokers(cluster_arn):
        aws.msk.set_broker_host(cluster_arn, broker.broker_id, ADVERTISED_HOST)


def shared_nlb_world(aws: EmbeddedAws, base: int, admin_bootstrap: str) -> World:
    """A plaintext three-broker cluster configured for shared-nlb with broker-override.

    Like ``tests.integration.harness.create_world``, which has no way to ask
    for a plaintext (``ClientBroker: PLAINTEXT``) cluster.
    """
    network = aws.create_network(subnet_count=3)
    arn = aws.msk.create_cluster(
        "data-path",
        list(network.subnet_ids),
        broker_count=3,
        auth=("unauthenticated",),
        client_broker="PLAINTEXT",
    )
    advertise_localhost(aws, arn)
    config = parse(
        ClusterConfig,
        {
            "cluster_arn": arn,
            "pattern": "shared-nlb",
            "auth_schemes": [SCHEME.value],
            "shared_nlb": {
                # base itself is free: broker ids start at 1.
                "port_bases": {SCHEME.value: base},
                "bootstrap_ports": {SCHEME.value: base},
                # "localhost" is no cluster domain to host a zone for.
                "provider_zone": False,
            },
            "advertised_listeners": {
                "mode": "broker-override",
                "admin_bootstrap": admin_bootstrap,
                "admin_auth": SCHEME.value,
            },
        },
    )
    clients = AwsClients(aws.session(), region=aws.region)
    ConfigStore(clients.ssm, PREFIX).put(config)
    clients.events.create_event_bus(Name=BUS)
    create_state_table(clients.dynamodb, TABLE)
    return World(aws, arn, config, network.vpc_id, tuple(network.subnet_ids))


@dataclass
class TargetMoves:
    """RegisterTargets / DeregisterTargets calls, in order, as (operation, group, ip)."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("RegisterTargets", "DeregisterTargets"):
            group = str(params["TargetGroupArn"]).split("/")[-2]
            for target in params["Targets"]:
                self.calls.append((model.name, group, str(target["Id"])))

    def assert_moved(self, old_ip: str, new_ip: str, *, expected_groups: int) -> None:
        """Only ``old_ip`` -> ``new_ip``, in every group that held it, every register first."""
        groups = {group for _, group, _ in self.calls}
        assert len(groups) == expected_groups, self.calls
        assert sorted(self.calls) == sorted(
            [("RegisterTargets", g, new_ip) for g in groups]
            + [("DeregisterTargets", g, old_ip) for g in groups]
        )
        operations = [operation for operation, _, _ in self.calls]
        last_register = len(operations) - 1 - operations[::-1].index("RegisterTargets")
        assert last_register < operations.index("DeregisterTargets"), self.calls


def reconcile(world: World, moves: TargetMoves | None = None) -> ReconcileOutcome:
    """One reconciler run; its broker-override step runs the Kafka admin
    function's own code (``apply_request``) in-process."""
    hooks = [("before-parameter-build.*.*", moves)] if moves is not None else []
    clients = world.clients(*hooks)
    reconciler = Reconciler(
        clients,
        EndpointsPublisher(clients.events, clients.dynamodb, BUS, TABLE),
        leases=world.leases(clients),
        broker_override=apply_request,
    )
    outcome = reconciler.reconcile(world.config)
    assert outcome.status in ("converged", "unchanged"), outcome.to_dict()
    assert world.residual_plan_size() == 0
    return outcome


def translations(world: World, cluster: KafkaCluster) -> dict[Target, tuple[str, int]]:
    """Simulated broker address (ENI IP, broker port) -> the real broker's CLIENT listener."""
    return {
        Target(ip, BROKER_PORT): cluster.brokers[broker_id].client_address
        for broker_id, ip in world.broker_ips().items()
    }


def advertised_listeners(admin: AdminClient, broker_id: int) -> str:
    resource = ConfigResource(ResourceType.BROKER, str(broker_id))
    configs = admin.describe_configs([resource])[resource].result(timeout=TIMEOUT)
    return str(configs["advertised.listeners"].value)


def wanted_listeners(cluster: KafkaCluster, base: int, broker_id: int) -> str:
    replication = cluster.brokers[broker_id].replication_port
    return f"CLIENT://{ADVERTISED_HOST}:{base + broker_id},REPLICATION://{HOST}:{replication}"


# ------------------------------------------------------------------- clients


@dataclass
class Produced:
    """What the producer sent, as the broker acknowledged it."""

    acked: dict[int, tuple[int, int]] = field(default_factory=dict)  # number -> (partition, offset)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        number = int(msg.key() or b"-1")
        with self.lock:
            if err is not None:
                self.errors.append(f"message {number}: {err}")
            else:
                self.acked[number] = position(msg)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def acked_since(self, first: int) -> list[int]:
        with self.lock:
            return [n for n in self.acked if n >= first]


class SteadyProducer:
    """Produces numbered messages from its own thread until stopped."""

    def __init__(self, producer: Producer, produced: Produced, first: int) -> None:
        self._producer = producer
        self._produced = produced
        self.next = first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-producer", daemon=True)
        self.failure: BaseException | None = None

    def __enter__(self) -> SteadyProducer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                produce(self._producer, self._produced, self.next)
                self.next += 1
                self._producer.poll(0)
                # Pacing only: a message every 20 ms keeps the run short and busy.
                self._stop.wait(0.02)
        except BaseException as exc:
            self.failure = exc


def produce(producer: Producer, produced: Produced, number: int) -> None:
    producer.produce(
        TOPIC,
        key=str(number).encode(),
        value=f"message {number}".encode(),
        on_delivery=produced.on_delivery,
    )


def new_producer(bootstrap: str) -> Producer:
    return Producer(
        client_config(
            bootstrap,
            **{
                "acks": "all",
                # Retries after a broker moves must not write a message twice.
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": 120000,
            },
        )
    )


def new_consumer(bootstrap: str) -> Consumer:
    consumer = Consumer(
        client_config(
            bootstrap,
            **{
                "group.id": "data-path-reader",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 45000,
            },
        )
    )
    consumer.subscribe([TOPIC])
    return consumer


@dataclass
class Received:
    by_number: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def take(self, consumer: Consumer, timeout: float = 0.5) -> None:
        for message in consumer.consume(num_messages=500, timeout=timeout):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consumer error: {error}")
            number = int(message.key() or b"-1")
            assert message.value() == f"message {number}".encode()
            self.by_number.setdefault(number, []).append(position(message))


def reading(
    consumer: Consumer, received: Received, condition: Callable[[], bool]
) -> Callable[[], bool]:
    """``condition`` as a probe that first lets the consumer read what is there."""

    def probe() -> bool:
        received.take(consumer, timeout=0.1)
        return condition()

    return probe


def read_until(consumer: Consumer, received: Received, wanted: Callable[[], bool]) -> None:
    wait_for(
        "the consumer reads what was produced",
        reading(consumer, received, wanted),
        timeout=TIMEOUT,
        interval=0,
    )


def position(message: Message) -> tuple[int, int]:
    partition, offset = message.partition(), message.offset()
    assert partition is not None, message
    assert offset is not None, message
    return partition, offset


def client_brokers(client: Producer | Consumer) -> dict[int, tuple[str, int]]:
    metadata = client.list_topics(TOPIC, timeout=TIMEOUT)
    return {b.id: (str(b.host), int(b.port)) for b in metadata.brokers.values()}


def ports_of(forwarded: Counter[tuple[int, Target]]) -> set[int]:
    """Listener ports that connections came in on."""
    return {port for port, _ in +forwarded}


def leaders(client: Producer | Consumer) -> dict[int, int]:
    """Partition -> leader broker id."""
    metadata = client.list_topics(TOPIC, timeout=TIMEOUT)
    return {p.id: p.leader for p in metadata.topics[TOPIC].partitions.values()}


# ---------------------------------------------------------------------- test


@pytest.fixture
def kafka_cluster(kafka_rt: KafkaRuntime, tmp_path: Path) -> Iterator[KafkaCluster]:
    cluster = start_cluster(kafka_rt, tmp_path / "kafka")
    try:
        yield cluster
    finally:
        cluster.stop()


@contextlib.contextmanager
def logs_on_failure(cluster: KafkaCluster) -> Iterator[None]:
    try:
        yield
    except BaseException:
        print(cluster.logs())  # shown in the report of the failed test
        raise


def test_clients_keep_every_message_through_the_shared_nlb_across_a_broker_replacement(
    kafka_cluster: KafkaCluster,
) -> None:
    cluster = kafka_cluster
    base = free_port_block(1 + len(cluster.brokers))
    per_broker = {broker_id: base + broker_id for broker_id in cluster.brokers}
    with logs_on_failure(cluster), EmbeddedAws() as aws:
        world = shared_nlb_world(aws, base, admin_bootstrap=cluster.replication_bootstrap)
        admin = AdminClient(client_config(cluster.replication_bootstrap))
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})])[
            TOPIC
        ].result(timeout=TIMEOUT)

        # Given the reconciler's shared NLB and each real broker re-advertised
        first = reconcile(world).advertised
        assert first is not None
        assert (first.status, first.changed_brokers) == (AdvertisedStatus.APPLIED, (1, 2, 3))
        for broker_id in cluster.brokers:
            assert advertised_listeners(admin, broker_id) == wanted_listeners(
                cluster, base, broker_id
            ), f"broker {broker_id} does not advertise the broker-override mapping"
        table = translations(world, cluster)
        lb_arn = aws.client("elbv2").describe_load_balancers(
            Names=[shared_load_balancer_name(world.cluster_arn)]
        )["LoadBalancers"][0]["LoadBalancerArn"]

        with NlbStandIn(aws.client("elbv2"), lb_arn, table) as nlb:
            routes = nlb.routes()
            assert set(routes) == {base, *per_broker.values()}
            assert set(routes[base].targets) == set(table)
            for broker_id, port in per_broker.items():
                (target,) = routes[port].targets
                assert table[target] == cluster.brokers[broker_id].client_address

            # When a producer bootstraps through the bootstrap listener ...
            bootstrap = f"{ADVERTISED_HOST}:{base}"
            produced = Produced()
            producer = new_producer(bootstrap)
            # ... the metadata sends it to the per-broker listeners.
            advertised = {i: (ADVERTISED_HOST, port) for i, port in per_broker.items()}
            assert client_brokers(producer) == advertised
            for number in range(300):
                produce(producer, produced, number)
            assert producer.flush(TIMEOUT) == 0
            assert produced.errors == []
            assert produced.count() == 300
            by_producer = nlb.forwarded()
            assert ports_of(by_producer) == {base, *per_broker.values()}

            # Then a consumer reads every message back, through the per-broker ports.
            consumer = new_consumer(bootstrap)
            try:
                received = Received()
                read_until(consumer, received, lambda: len(received.by_number) == 300)
                assert client_brokers(consumer) == advertised
                by_consumer = nlb.forwarded() - by_producer
                assert ports_of(by_consumer) == {base, *per_broker.values()}
                assert nlb.unroutable() == {}

                # When broker 2 is replaced while the producer keeps producing
                old_ip = world.broker_ips()[REPLACED]
                with SteadyProducer(producer, produced, first=300) as steady:
                    aws.msk.replace_broker(world.cluster_arn, REPLACED)
                    new_ip = world.broker_ips()[REPLACED]
                    assert new_ip != old_ip
                    old_port, new_port = cluster.replace(REPLACED)
                    assert new_port != old_port
                    table[Target(new_ip, BROKER_PORT)] = cluster.brokers[REPLACED].client_address

                    moves = TargetMoves()
                    again = reconcile(world, moves).advertised
                    # The run changed broker 2's routing, so it asked the brokers
                    # again; the override lives in ZooKeeper and the replaced
                    # broker came back advertising its NLB port: nothing to alter.
                    assert again is not None
                    assert again.status is AdvertisedStatus.UP_TO_DATE, again
                    nlb.refresh()
                    moved_at = steady.next

                    # Then the reconciler moved exactly broker 2's targets, new before old
                    # (its own target group and the bootstrap one).
                    moves.assert_moved(old_ip, new_ip, expected_groups=2)
                    assert nlb.routes()[per_broker[REPLACED]].targets == (
                        Target(new_ip, BROKER_PORT),
                    )
                    assert advertised_listeners(admin, REPLACED) == wanted_listeners(
                        cluster, base, REPLACED
                    )

                    # and the clients recover: broker 2 leads again (preferred
                    # leader election) and takes acknowledged writes through its
                    # new target.
                    # The consumer keeps reading meanwhile.
                    wait_for(
                        f"broker {REPLACED} leads a partition again",
                        reading(consumer, received, lambda: REPLACED in leaders(producer).values()),
                        timeout=TIMEOUT,
                    )
                    led = {p for p, leader in leaders(producer).items() if leader == REPLACED}
                    wait_for(
                        f"writes acknowledged by broker {REPLACED} after the move",
                        reading(
                            consumer,
                            received,
                            lambda: any(
                                produced.acked[n][0] in led for n in produced.acked_since(moved_at)
                            ),
                        ),
                        timeout=TIMEOUT,
                    )
                    wait_for(
                        "100 more messages acknowledged after the move",
                        reading(
                            consumer, received, lambda: len(produced.acked_since(moved_at)) >= 100
                        ),
                        timeout=TIMEOUT,
                    )
                assert steady.failure is None, steady.failure
                assert producer.flush(TIMEOUT) == 0
                assert produced.errors == []
                total = steady.next
                assert produced.count() == total

                read_until(consumer, received, lambda: len(received.by_number) >= total)
                assert client_brokers(consumer) == advertised
            finally:
                consumer.close()

            # Every message exactly once, where the broker said it was written ...
            assert received.by_number == {n: [produced.acked[n]] for n in range(total)}
            # ... and broker 2 was reached through its new target.
            assert nlb.forwarded()[(per_broker[REPLACED], Target(new_ip, BROKER_PORT))] >= 1
