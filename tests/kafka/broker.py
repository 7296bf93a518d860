"""Real single-node Apache Kafka brokers for tests.

The jars come from ``scripts/kafka/fetch.sh`` (Maven Central, cached under
``.cache/kafka/<version>/lib``); the broker runs on the machine's JDK as
``java -cp 'lib/*' kafka.Kafka server.properties``, in one of two modes:

- ``zookeeper``: a standalone ZooKeeper (``QuorumPeerMain`` from the same jars)
  plus a ZooKeeper-mode broker;
- ``kraft``: one combined broker+controller node, its storage formatted first
  with ``kafka.tools.StorageTool format``.

Either way the broker has ``node.id``/``broker.id`` 1 and two PLAINTEXT
listeners on free loopback ports, ``CLIENT`` and ``REPLICATION`` (the
inter-broker listener), plus ``CONTROLLER`` in KRaft mode. Everything (config,
data, one log file per process) lives in the directory the caller gives.

Readiness is polled against a deadline (no fixed sleeps): ZooKeeper answers
``ruok``, then a client bootstrapped through each listener sees broker 1 at that
listener's address. ``stop()`` terminates (SIGTERM: Kafka's clean shutdown),
then kills whatever is still running after a grace period.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from confluent_kafka.admin import AdminClient

REPO_ROOT = Path(__file__).resolve().parents[2]
FETCH_SCRIPT = REPO_ROOT / "scripts" / "kafka" / "fetch.sh"
DEFAULT_KAFKA_VERSION = "3.9.1"
HOST = "127.0.0.1"
NODE_ID = 1

Mode = Literal["zookeeper", "kraft"]
T = TypeVar("T")

# Enough for a test broker; TieredStopAtLevel=1 (C1 only) starts the JVM faster.
_JVM_OPTIONS = (
    "-Xms64m",
    "-XX:+UseG1GC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
)

_LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.zookeeper=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log.LogManager=WARN
"""

# Internal topics with one partition: the group and transaction coordinators
# load in milliseconds instead of creating 50 partitions each.
_COMMON_BROKER_PROPERTIES = {
    "num.partitions": "1",
    "default.replication.factor": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "false",
}


class KafkaUnavailableError(RuntimeError):
    """Java, Maven or the Kafka jars are not available on this machine."""


class BrokerStartError(RuntimeError):
    """The broker (or its ZooKeeper) did not come up; the message has the logs."""


# --------------------------------------------------------------------------- runtime


@dataclass(frozen=True)
class KafkaRuntime:
    """A JDK and a directory of Kafka jars."""

    java: str
    lib: Path
    version: str

    @property
    def classpath(self) -> str:
        return str(self.lib / "*")


def kafka_runtime(version: str | None = None, *, fetch_timeout: float = 900.0) -> KafkaRuntime:
    """The JDK and the Kafka jars, fetched on first use (``scripts/kafka/fetch.sh``).

    Raises KafkaUnavailableError (with the reason) when there is no ``java``, or
    the jars are not cached and cannot be fetched (no ``mvn``, no network).
    """
    version = version or os.environ.get("KAFKA_VERSION") or DEFAULT_KAFKA_VERSION
    java = shutil.which("java")
    if java is None:
        raise KafkaUnavailableError("no `java` on PATH (a JDK 17 runs the broker)")
    bash = shutil.which("bash")
    if bash is None:
        raise KafkaUnavailableError("no `bash` on PATH to run scripts/kafka/fetch.sh")
    try:
        done = subprocess.run(
            [bash, str(FETCH_SCRIPT)],
            env={**os.environ, "KAFKA_VERSION": version},
            capture_output=True,
            text=True,
            timeout=fetch_timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise KafkaUnavailableError(
            f"scripts/kafka/fetch.sh took more than {fetch_timeout:.0f}s"
        ) from exc
    if done.returncode != 0:
        raise KafkaUnavailableError(
            f"scripts/kafka/fetch.sh exited {done.returncode}:\n{_tail(done.stderr, 40)}"
        )
    lib = Path(done.stdout.strip().splitlines()[-1])
    if not any(lib.glob(f"kafka_*-{version}.jar")):
        raise KafkaUnavailableError(f"no kafka_*-{version}.jar in {lib}")
    return KafkaRuntime(java=java, lib=lib, version=version)


# ------------------------------------------------------------------------- processes


_RUNNING: set[JavaProcess] = set()


@atexit.register
def _stop_leftovers() -> None:
    # A session that dies before its fixtures' teardown must not leave JVMs behind.
    for process in list(_RUNNING):
        process.stop(grace=5.0)


class JavaProcess:
    """One JVM, its output (stdout and stderr) in ``<workdir>/<name>.log``."""

    def __init__(
        self,
        name: str,
        runtime: KafkaRuntime,
        main_class: str,
        args: list[str],
        workdir: Path,
        *,
        heap: str,
    ) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        command = [
            runtime.java,
            f"-Xmx{heap}",
            *_JVM_OPTIONS,
            f"-Dlog4j.configuration={_log4j_config(workdir).as_uri()}",
            f"-Dkafka.logs.dir={workdir / 'logs'}",
            "-Dzookeeper.admin.enableServer=false",
            "-cp",
            runtime.classpath,
            main_class,
            *args,
        ]
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        _RUNNING.add(self)

    @property
    def pid(self) -> int:
        return self._popen.pid

    def alive(self) -> bool:
        return self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM (the JVM's shutdown hooks run), SIGKILL after ``grace`` seconds."""
        try:
            if self.alive():
                self._popen.send_signal(signal.SIGTERM)
                try:
                    self._popen.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self._popen.kill()
                    self._popen.wait(timeout=10)
        finally:
            _RUNNING.discard(self)

    def tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return _tail(text, lines)


def run_java_tool(
    name: str, runtime: KafkaRuntime, main_class: str, args: list[str], workdir: Path
) -> None:
    """Runs a Kafka command-line tool to completion; output in ``<workdir>/<name>.log``."""
    log_path = workdir / f"{name}.log"
    command = [
        runtime.java,
        "-Xmx256m",
        *_JVM_OPTIONS,
        f"-Dlog4j.configuration={_log4j_config(workdir).as_uri()}",
        "-cp",
        runtime.classpath,
        main_class,
        *args,
    ]
    with log_path.open("ab") as log:
        done = subprocess.run(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            timeout=120,
            check=False,
        )
    if done.returncode != 0:
        raise BrokerStartError(
            f"{main_class} {' '.join(args)} exited {done.returncode}:\n"
            f"{_tail(log_path.read_text(errors='replace'), 60)}"
        )


def _log4j_config(workdir: Path) -> Path:
    path = workdir / "log4j.properties"
    if not path.exists():
        path.write_text(_LOG4J_PROPERTIES)
    return path


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- helpers


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.1,
    check: Callable[[], None] | None = None,
) -> T:
    """Polls ``probe`` until it returns something other than None (or False).

    ``check`` runs before every attempt and may raise to give up early (e.g. a
    process died). Exceptions from ``probe`` count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        if check is not None:
            check()
        try:
            result = probe()
        except Exception as exc:
            result, last = None, exc
        else:
            if result is not None and result is not False:
                return result
            last = result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s (last: {last!r})")
        time.sleep(interval)


def _write_properties(path: Path, properties: dict[str, str]) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    return path


def new_cluster_id() -> str:
    """A Kafka ``Uuid`` string (URL-safe base64 of 16 random bytes, no padding)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):  # would read as an option on the command line
            return cluster_id


def client_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """A confluent-kafka configuration for a test client of these brokers."""
    return {
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "socket.connection.setup.timeout.ms": 2000,
        "reconnect.backoff.max.ms": 500,
        **extra,
    }


def brokers_in_metadata(bootstrap: str, timeout: float = 5.0) -> dict[int, tuple[str, int]]:
    """Broker id -> (host, port) in the metadata a new client gets through ``bootstrap``."""
    metadata = AdminClient(client_config(bootstrap)).list_topics(timeout=timeout)
    return {b.id: (str(b.host), int(b.port)) for b in metadata.brokers.values()}


# ---------------------------------------------------------------------------- broker


@dataclass
class KafkaBroker:
    """A running single-node cluster; ``stop()`` ends every process it started."""

    mode: Mode
    runtime: KafkaRuntime
    workdir: Path
    client_port: int
    replication_port: int
    controller_port: int | None = None
    zookeeper_port: int | None = None
    cluster_id: str | None = None
    node_id: int = NODE_ID
    processes: list[JavaProcess] = field(default_factory=list)
    # More listeners than CLIENT and REPLICATION: name -> (security protocol, port).
    extra_listeners: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def client_bootstrap(self) -> str:
        return f"{HOST}:{self.client_port}"

    @property
    def replication_bootstrap(self) -> str:
        return f"{HOST}:{self.replication_port}"

    @property
    def advertised_listeners(self) -> str:
        """The static ``advertised.listeners`` of server.properties."""
        extras = "".join(
            f",{name}://{HOST}:{port}" for name, (_, port) in self.extra_listeners.items()
        )
        return (
            f"CLIENT://{HOST}:{self.client_port},REPLICATION://{HOST}:{self.replication_port}"
            f"{extras}"
        )

    def bootstrap_of(self, listener: str) -> str:
        """``host:port`` of one of the extra listeners."""
        return f"{HOST}:{self.extra_listeners[listener][1]}"

    @property
    def server_properties(self) -> Path:
        return self.workdir / "server.properties"

    def stop(self) -> None:
        # The broker before its ZooKeeper: a broker without ZooKeeper retries forever.
        for process in reversed(self.processes):
            process.stop()

    def logs(self, lines: int = 120) -> str:
        parts = []
        for process in self.processes:
            state = "running" if process.alive() else f"exited {process.returncode}"
            parts.append(
                f"----- {process.log_path} ({state}, last {lines} lines) -----\n"
                f"{process.tail(lines)}"
            )
        return "\n".join(parts)

    def check_alive(self) -> None:
        for process in self.processes:
            if not process.alive():
                raise BrokerStartError(
                    f"{process.name} exited {process.returncode} "
                    f"(mode {self.mode}, {self.workdir}):\n{self.logs()}"
                )


def start_broker(
    runtime: KafkaRuntime,
    mode: Mode,
    workdir: Path,
    *,
    timeout: float = 90.0,
    attempts: int = 3,
    extra_listeners: dict[str, str] | None = None,
    extra_properties: dict[str, str] | None = None,
) -> KafkaBroker:
    """Starts a single-node cluster in ``workdir`` and waits until it serves clients.

    ``extra_listeners`` (name -> security protocol) adds listeners on free
    ports; ``extra_properties`` go into server.properties as given. Retries
    with fresh ports when one was taken between choosing and binding it.
    """
    for attempt in range(1, attempts + 1):
        attempt_dir = workdir / f"attempt-{attempt}"
        attempt_dir.mkdir(parents=True)
        broker = _launch(runtime, mode, attempt_dir, extra_listeners or {}, extra_properties or {})
        try:
            _wait_ready(broker, timeout)
        except (BrokerStartError, TimeoutError) as exc:
            broker.stop()
            logs = broker.logs(200)
            if "Address already in use" in logs and attempt < attempts:
                continue
            raise BrokerStartError(
                f"{mode} broker did not become ready ({exc}); files in {attempt_dir}\n{logs}"
            ) from exc
        except BaseException:
            broker.stop()
            raise
        return broker
    raise AssertionError("unreachable")


def _launch(
    runtime: KafkaRuntime,
    mode: Mode,
    workdir: Path,
    extra_listeners: dict[str, str],
    extra_properties: dict[str, str],
) -> KafkaBroker:
    """Writes the configuration and starts the processes; readiness is the caller's."""
    first, client_port, replication_port, *extra_ports = free_ports(3 + len(extra_listeners))
    broker = KafkaBroker(
        mode=mode,
        runtime=runtime,
        workdir=workdir,
        client_port=client_port,
        replication_port=replication_port,
        extra_listeners={
            name: (protocol, port)
            for (name, protocol), port in zip(extra_listeners.items(), extra_ports, strict=True)
        },
    )
    extra_protocols = "".join(f",{name}:{protocol}" for name, protocol in extra_listeners.items())
    if mode == "zookeeper":
        broker.zookeeper_port = first
        properties = {
            "broker.id": str(broker.node_id),
            "zookeeper.connect": f"{HOST}:{first}",
            "zookeeper.connection.timeout.ms": "30000",
        }
        listeners = broker.advertised_listeners
        protocol_map = f"CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT{extra_protocols}"
    else:
        broker.controller_port = first
        broker.cluster_id = new_cluster_id()
        properties = {
            "process.roles": "broker,controller",
            "node.id": str(broker.node_id),
            "controller.quorum.voters": f"{broker.node_id}@{HOST}:{first}",
            "controller.listener.names": "CONTROLLER",
        }
        listeners = f"{broker.advertised_listeners},CONTROLLER://{HOST}:{first}"
        protocol_map = (
            f"CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT,CONTROLLER:PLAINTEXT{extra_protocols}"
        )
    properties |= {
        "listeners": listeners,
        "advertised.listeners": broker.advertised_listeners,
        "listener.security.protocol.map": protocol_map,
        "inter.broker.listener.name": "REPLICATION",
        "log.dirs": str(workdir / "kafka-data"),
        **_COMMON_BROKER_PROPERTIES,
        **extra_properties,
    }
    _write_properties(broker.server_properties, properties)
    try:
        if broker.zookeeper_port is not None:
            _start_zookeeper(broker)
        if broker.cluster_id is not None:
            run_java_tool(
                "storage-format",
                runtime,
                "kafka.tools.StorageTool",
                ["format", "-t", broker.cluster_id, "-c", str(broker.server_properties)],
                workdir,
            )
        broker.processes.append(
            JavaProcess(
                "kafka",
                runtime,
                "kafka.Kafka",
                [str(broker.server_properties)],
                workdir,
                heap="512m",
            )
        )
    except BaseException:
        broker.stop()
        raise
    return broker


def _start_zookeeper(broker: KafkaBroker) -> None:
    assert broker.zookeeper_port is not None
    config = _write_properties(
        broker.workdir / "zookeeper.properties",
        {
            "dataDir": str(broker.workdir / "zookeeper-data"),
            "clientPort": str(broker.zookeeper_port),
            "clientPortAddress": HOST,
            "maxClientCnxns": "0",
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "ruok,srvr",
        },
    )
    broker.processes.append(
        JavaProcess(
            "zookeeper",
            broker.runtime,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            [str(config)],
            broker.workdir,
            heap="128m",
        )
    )


def _zookeeper_ok(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1.0) as sock:
        sock.sendall(b"ruok")
        return sock.recv(16) == b"imok"


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def _wait_ready(broker: KafkaBroker, timeout: float) -> None:
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        return max(0.1, deadline - time.monotonic())

    def zookeeper_ok() -> bool:
        assert broker.zookeeper_port is not None
        return _zookeeper_ok(broker.zookeeper_port)

    if broker.zookeeper_port is not None:
        wait_for(
            "ZooKeeper answers ruok", zookeeper_ok, timeout=remaining(), check=broker.check_alive
        )
    extra_ports = [port for _, port in broker.extra_listeners.values()]
    for port in (broker.client_port, broker.replication_port, *extra_ports):
        wait_for(
            f"listener {HOST}:{port} accepts connections",
            functools.partial(_port_open, port),
            timeout=remaining(),
            check=broker.check_alive,
        )

    # Served, registered and in the metadata through both listeners, each
    # listener reporting its own address.
    def in_metadata(bootstrap: str, port: int) -> bool:
        seen = brokers_in_metadata(bootstrap, timeout=min(5.0, remaining()))
        return seen == {broker.node_id: (HOST, port)}

    for bootstrap, port in (
        (broker.client_bootstrap, broker.client_port),
        (broker.replication_bootstrap, broker.replication_port),
    ):
        wait_for(
            f"broker {broker.node_id} in the metadata through {bootstrap}",
            functools.partial(in_metadata, bootstrap, port),
            timeout=remaining(),
            interval=0.2,
            check=broker.check_alive,
        )
