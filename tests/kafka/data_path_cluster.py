"""A real three-broker ZooKeeper-mode Apache Kafka cluster for the data-path proof.

One ZooKeeper and brokers 1..N (default 3), each with two PLAINTEXT listeners
on free loopback ports: ``CLIENT`` (what clients use; the listener whose
advertised entry the broker-override mode rewrites) and ``REPLICATION`` (the
inter-broker listener, also the one an admin client can always reach).
Durability settings are the ones a production topic has: replication factor
3, ``min.insync.replicas`` 2, no unclean leader election, no topic created by
accident (``auto.create.topics.enable=false``).

``replace(broker_id)`` does to a real broker what MSK's self-healing does: the
broker stops and comes back with the same broker id and the same data
directory at a new client address (a new CLIENT port here, since every
broker shares 127.0.0.1). The REPLICATION port stays: on MSK the broker keeps
its host names and only their IP changes, and in ZooKeeper mode a dynamic
``advertised.listeners`` override (stored in ZooKeeper, applied again at
start-up) carries the REPLICATION entry as it was.

Processes, logs and readiness polling come from ``tests.kafka.broker``.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import AdminClient

from tests.kafka.broker import (
    HOST,
    BrokerStartError,
    JavaProcess,
    KafkaRuntime,
    client_config,
    free_ports,
    wait_for,
)

BROKER_HEAP = "256m"
ZOOKEEPER_HEAP = "96m"

_CLUSTER_PROPERTIES = {
    "listener.security.protocol.map": "CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT",
    "inter.broker.listener.name": "REPLICATION",
    "zookeeper.connection.timeout.ms": "30000",
    # A broker that dies without a clean shutdown leaves ZooKeeper within seconds.
    "zookeeper.session.timeout.ms": "10000",
    "auto.create.topics.enable": "false",
    "num.partitions": "3",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "unclean.leader.election.enable": "false",
    "offsets.topic.replication.factor": "3",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "transaction.state.log.num.partitions": "1",
    "group.initial.rebalance.delay.ms": "0",
    # A broker back from a replacement leads its preferred partitions again soon.
    "leader.imbalance.check.interval.seconds": "5",
    # Three brokers share two cores with the tests: few threads each.
    "num.network.threads": "2",
    "num.io.threads": "2",
    "background.threads": "2",
    "num.replica.fetchers": "1",
    "num.recovery.threads.per.data.dir": "1",
    "log.cleaner.threads": "1",
}


@dataclass
class ClusterBroker:
    """One broker of the cluster; ``starts`` counts its processes so far."""

    broker_id: int
    data_dir: Path
    client_port: int
    replication_port: int
    starts: int = 0
    process: JavaProcess | None = None
    past: list[JavaProcess] = field(default_factory=list)

    @property
    def client_address(self) -> tuple[str, int]:
        return (HOST, self.client_port)

    @property
    def replication_address(self) -> tuple[str, int]:
        return (HOST, self.replication_port)

    @property
    def static_advertised_listeners(self) -> str:
        return f"CLIENT://{HOST}:{self.client_port},REPLICATION://{HOST}:{self.replication_port}"

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()


@dataclass
class KafkaCluster:
    """``start_cluster(...)`` builds it; ``stop()`` ends every process it started."""

    runtime: KafkaRuntime
    workdir: Path
    zookeeper_port: int
    brokers: dict[int, ClusterBroker] = field(default_factory=dict)
    zookeeper: JavaProcess | None = None

    # ------------------------------------------------------------- addresses

    @property
    def replication_bootstrap(self) -> str:
        """Every broker's REPLICATION listener: reachable whatever CLIENT advertises."""
        return ",".join(f"{HOST}:{b.replication_port}" for _, b in sorted(self.brokers.items()))

    def client_bootstrap(self) -> str:
        return ",".join(f"{HOST}:{b.client_port}" for _, b in sorted(self.brokers.items()))

    # ------------------------------------------------------------- lifecycle

    def start_broker(self, broker_id: int, *, timeout: float = 180.0) -> None:
        broker = self.brokers[broker_id]
        self._launch(broker)
        self.wait_ready([broker_id], timeout=timeout)

    def replace(self, broker_id: int, *, timeout: float = 180.0) -> tuple[int, int]:
        """Stops the broker and starts it again on a new CLIENT port.

        Same broker id, same data directory, same REPLICATION port. Returns
        (old, new) CLIENT port.
        """
        broker = self.brokers[broker_id]
        self.stop_broker(broker_id)
        old = broker.client_port
        taken = {b.client_port for b in self.brokers.values()} | {
            b.replication_port for b in self.brokers.values()
        }
        broker.client_port = next(p for p in free_ports(8) if p not in taken | {old})
        self.start_broker(broker_id, timeout=timeout)
        return old, broker.client_port

    def stop_broker(self, broker_id: int) -> None:
        """SIGTERM: Kafka's controlled shutdown moves leadership away first."""
        broker = self.brokers[broker_id]
        if broker.process is not None:
            broker.process.stop(grace=60.0)
            broker.past.append(broker.process)
            broker.process = None

    def stop(self) -> None:
        # Brokers before ZooKeeper: a broker without ZooKeeper retries forever.
        for broker_id in sorted(self.brokers):
            with contextlib.suppress(Exception):
                self.stop_broker(broker_id)
        if self.zookeeper is not None:
            self.zookeeper.stop()

    def check_alive(self) -> None:
        if self.zookeeper is not None and not self.zookeeper.alive():
            raise BrokerStartError(f"ZooKeeper exited {self.zookeeper.returncode}:\n{self.logs()}")
        for broker in self.brokers.values():
            if broker.process is not None and not broker.process.alive():
                raise BrokerStartError(
                    f"broker {broker.broker_id} exited {broker.process.returncode}:\n{self.logs()}"
                )

    def logs(self, lines: int = 120) -> str:
        processes = [self.zookeeper] if self.zookeeper is not None else []
        for broker in (self.brokers[k] for k in sorted(self.brokers)):
            processes.extend(broker.past)
            if broker.process is not None:
                processes.append(broker.process)
        parts = []
        for process in processes:
            state = "running" if process.alive() else f"exited {process.returncode}"
            parts.append(
                f"----- {process.log_path} ({state}, last {lines} lines) -----\n"
                f"{process.tail(lines)}"
            )
        return "\n".join(parts)

    # ------------------------------------------------------------- readiness

    def registered(self, timeout: float = 5.0) -> dict[int, tuple[str, int]]:
        """Broker id -> REPLICATION address, from metadata through the REPLICATION listeners."""
        live = [b for b in self.brokers.values() if b.alive()]
        bootstrap = ",".join(f"{HOST}:{b.replication_port}" for b in live)
        metadata = AdminClient(client_config(bootstrap)).list_topics(timeout=timeout)
        return {b.id: (str(b.host), int(b.port)) for b in metadata.brokers.values()}

    def wait_ready(self, broker_ids: Iterable[int], *, timeout: float = 180.0) -> None:
        """Every given broker accepts connections on both listeners and is registered."""
        ids = sorted(broker_ids)
        deadline = time.monotonic() + timeout

        def remaining() -> float:
            return max(1.0, deadline - time.monotonic())

        for broker_id in ids:
            broker = self.brokers[broker_id]
            for port in (broker.client_port, broker.replication_port):
                wait_for(
                    f"broker {broker_id} listens on {HOST}:{port}",
                    functools.partial(_port_open, port),
                    timeout=remaining(),
                    interval=0.2,
                    check=self.check_alive,
                )

        def all_registered() -> bool:
            seen = self.registered(timeout=min(5.0, remaining()))
            return all(seen.get(i) == self.brokers[i].replication_address for i in ids)

        wait_for(
            f"brokers {ids} registered at their REPLICATION addresses",
            all_registered,
            timeout=remaining(),
            interval=0.3,
            check=self.check_alive,
        )

    # -------------------------------------------------------------- internals

    def _launch(self, broker: ClusterBroker) -> None:
        broker.starts += 1
        config_dir = self.workdir / f"broker-{broker.broker_id}"
        config_dir.mkdir(exist_ok=True)
        properties = {
            "broker.id": str(broker.broker_id),
            "zookeeper.connect": f"{HOST}:{self.zookeeper_port}",
            "listeners": broker.static_advertised_listeners,
            "advertised.listeners": broker.static_advertised_listeners,
            "log.dirs": str(broker.data_dir),
            **_CLUSTER_PROPERTIES,
        }
        path = _write_properties(config_dir / f"server-{broker.starts}.properties", properties)
        broker.process = JavaProcess(
            f"kafka-{broker.broker_id}-start-{broker.starts}",
            self.runtime,
            "kafka.Kafka",
            [str(path)],
            self.workdir,
            heap=BROKER_HEAP,
        )

    def _start_zookeeper(self) -> None:
        config = _write_properties(
            self.workdir / "zookeeper.properties",
            {
                "dataDir": str(self.workdir / "zookeeper-data"),
                "clientPort": str(self.zookeeper_port),
                "clientPortAddress": HOST,
                "maxClientCnxns": "0",
                "admin.enableServer": "false",
                "4lw.commands.whitelist": "ruok,srvr",
            },
        )
        self.zookeeper = JavaProcess(
            "zookeeper",
            self.runtime,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            [str(config)],
            self.workdir,
            heap=ZOOKEEPER_HEAP,
        )
        wait_for(
            "ZooKeeper answers ruok",
            lambda: _zookeeper_ok(self.zookeeper_port),
            timeout=60.0,
            check=self.check_alive,
        )


def start_cluster(
    runtime: KafkaRuntime,
    workdir: Path,
    broker_ids: Iterable[int] = (1, 2, 3),
    *,
    timeout: float = 240.0,
    attempts: int = 3,
) -> KafkaCluster:
    """ZooKeeper and every broker, started together; returns once all are registered.

    Retries with fresh ports when one was taken between choosing and binding it.
    """
    ids = sorted(broker_ids)
    for attempt in range(1, attempts + 1):
        attempt_dir = workdir / f"attempt-{attempt}"
        attempt_dir.mkdir(parents=True)
        ports = free_ports(1 + 2 * len(ids))
        cluster = KafkaCluster(runtime=runtime, workdir=attempt_dir, zookeeper_port=ports[0])
        for index, broker_id in enumerate(ids):
            cluster.brokers[broker_id] = ClusterBroker(
                broker_id=broker_id,
                data_dir=attempt_dir / f"broker-{broker_id}-data",
                client_port=ports[1 + 2 * index],
                replication_port=ports[2 + 2 * index],
            )
        try:
            cluster._start_zookeeper()
            for broker in cluster.brokers.values():
                cluster._launch(broker)
            cluster.wait_ready(ids, timeout=timeout)
        except (BrokerStartError, TimeoutError) as exc:
            logs = cluster.logs(200)
            cluster.stop()
            if "Address already in use" in logs and attempt < attempts:
                continue
            raise BrokerStartError(
                f"the {len(ids)}-broker cluster did not become ready ({exc}); "
                f"files in {attempt_dir}\n{logs}"
            ) from exc
        except BaseException:
            cluster.stop()
            raise
        return cluster
    raise AssertionError("unreachable")


def _write_properties(path: Path, properties: dict[str, str]) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    return path


def _zookeeper_ok(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1.0) as sock:
        sock.sendall(b"ruok")
        return sock.recv(16) == b"imok"


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False
