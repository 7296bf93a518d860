"""The NLB stand-in: what ELBv2 holds, served on loopback, following changes on refresh.

Plain sockets, no Kafka. ELBv2 is moto (the embedded AWS); the "brokers" are
small greeting-and-echo servers, each saying its name first, so a client
knows which target it reached.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from msk_privatelink_dev.embedded import EmbeddedAws
from tests.kafka.broker import wait_for
from tests.kafka.nlb_standin import (
    Address,
    NlbStandIn,
    StandInError,
    Target,
    free_port_block,
    read_routes,
)

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
TIMEOUT = 10.0


# ---------------------------------------------------------------------- helpers


class EchoServer:
    """Sends ``<name>\\n`` to every new connection, then echoes; closes on EOF."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((HOST, 0))
        self._sock.listen(64)
        self.address: Address = (HOST, self._sock.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(f"{self.name}\n".encode())
            while data := conn.recv(65536):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = list(self._conns)
        # shutdown wakes the blocked accept(); close alone does not on Linux.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._acceptor.join(TIMEOUT)
        for thread in self._threads:
            thread.join(TIMEOUT)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    return sock


def greeting(sock: socket.socket) -> str:
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(f"closed before a greeting (got {line!r})")
        line += chunk
    return line.decode().strip()


def who_answers(port: int) -> str:
    with connect(port) as sock:
        return greeting(sock)


def read_to_end(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the other end closed (EOF or reset); the socket must be idle."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@dataclass
class Nlb:
    """An NLB in moto with listeners and IP target groups, like the shared-nlb layout."""

    elbv2: Any
    vpc_id: str
    arn: str
    groups: dict[str, str] = field(default_factory=dict)
    listeners: dict[int, str] = field(default_factory=dict)

    def group(self, name: str, targets: list[Target]) -> str:
        arn = self.elbv2.create_target_group(
            Name=name, Protocol="TCP", Port=9092, VpcId=self.vpc_id, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        self.groups[name] = arn
        if targets:
            self.register(name, *targets)
        return str(arn)

    def register(self, group: str, *targets: Target) -> None:
        self.elbv2.register_targets(
            TargetGroupArn=self.groups[group],
            Targets=[{"Id": t.ip, "Port": t.port} for t in targets],
        )

    def deregister(self, group: str, *targets: Target) -> None:
        self.elbv2.deregister_targets(
            TargetGroupArn=self.groups[group],
            Targets=[{"Id": t.ip, "Port": t.port} for t in targets],
        )

    def listen(self, port: int, group: str) -> None:
        self.listeners[port] = self.elbv2.create_listener(
            LoadBalancerArn=self.arn,
            Protocol="TCP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": self.groups[group]}],
        )["Listeners"][0]["ListenerArn"]

    def unlisten(self, port: int) -> None:
        self.elbv2.delete_listener(ListenerArn=self.listeners.pop(port))


B1, B2, B3 = Target("10.0.0.11", 9092), Target("10.0.0.12", 9092), Target("10.0.0.13", 9092)


@dataclass
class Setup:
    nlb: Nlb
    servers: dict[str, EchoServer]
    table: dict[Target, Address]
    ports: dict[str, int]


@pytest.fixture
def setup() -> Iterator[Setup]:
    """Brokers 1-3 behind per-broker listeners, and a bootstrap listener to all three."""
    servers = {name: EchoServer(name) for name in ("broker-1", "broker-2", "broker-3")}
    try:
        with EmbeddedAws() as aws:
            network = aws.create_network(subnet_count=2)
            elbv2 = aws.client("elbv2")
            arn = elbv2.create_load_balancer(
                Name="standin",
                Type="network",
                Scheme="internal",
                Subnets=list(network.subnet_ids),
            )["LoadBalancers"][0]["LoadBalancerArn"]
            nlb = Nlb(elbv2, network.vpc_id, arn)
            bootstrap = free_port_block(4)
            p1, p2, p3 = bootstrap + 1, bootstrap + 2, bootstrap + 3
            for name, port, target in (("b1", p1, B1), ("b2", p2, B2), ("b3", p3, B3)):
                nlb.group(name, [target])
                nlb.listen(port, name)
            nlb.group("all", [B1, B2, B3])
            nlb.listen(bootstrap, "all")
            table = {
                B1: servers["broker-1"].address,
                B2: servers["broker-2"].address,
                B3: servers["broker-3"].address,
            }
            ports = {"bootstrap": bootstrap, "b1": p1, "b2": p2, "b3": p3}
            yield Setup(nlb, servers, table, ports)
    finally:
        for server in servers.values():
            server.close()


@pytest.fixture
def standin(setup: Setup) -> Iterator[NlbStandIn]:
    with NlbStandIn(setup.nlb.elbv2, setup.nlb.arn, setup.table) as nlb:
        yield nlb


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ------------------------------------------------------------------------ tests


def test_each_listener_reaches_its_target_and_bytes_pass_both_ways(
    setup: Setup, standin: NlbStandIn
) -> None:
    # Given the stand-in serving the NLB's listeners
    payload = os.urandom(3 * 1024 * 1024)  # more than the forwarder buffers at once

    # When a client of broker 2's port sends a payload and half-closes
    with connect(setup.ports["b2"]) as sock:
        assert greeting(sock) == "broker-2"

        def send_all_then_half_close() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send_all_then_half_close)
        sender.start()
        echoed = read_to_end(sock)
        sender.join(TIMEOUT)

    # Then every byte came back from broker 2, and the other ports reach their brokers
    assert echoed == payload
    assert who_answers(setup.ports["b1"]) == "broker-1"
    assert who_answers(setup.ports["b3"]) == "broker-3"
    assert standin.forwarded() == Counter(
        {(setup.ports["b1"], B1): 1, (setup.ports["b2"], B2): 1, (setup.ports["b3"], B3): 1}
    )
    wait_for("connections closed", lambda: standin.open_connections() == [], timeout=TIMEOUT)


def test_bootstrap_listener_spreads_connections_over_every_target(
    setup: Setup, standin: NlbStandIn
) -> None:
    answers = Counter(who_answers(setup.ports["bootstrap"]) for _ in range(6))

    assert answers == Counter({"broker-1": 2, "broker-2": 2, "broker-3": 2})
    routes = standin.routes()
    assert routes[setup.ports["bootstrap"]].targets == (B1, B2, B3)
    assert routes[setup.ports["b2"]].targets == (B2,)


def test_refresh_follows_a_moved_target_and_closes_only_its_connections(
    setup: Setup, standin: NlbStandIn
) -> None:
    # Given open connections to broker 2 (per-broker port) and broker 1
    to_broker_2 = connect(setup.ports["b2"])
    to_broker_1 = connect(setup.ports["b1"])
    assert greeting(to_broker_2) == "broker-2"
    assert greeting(to_broker_1) == "broker-1"
    replacement = EchoServer("broker-2-replaced")
    try:
        # When broker 2 moves to a new address: registered first, then the old one deregistered
        moved = Target("10.0.0.42", 9092)
        setup.table[moved] = replacement.address
        setup.nlb.register("b2", moved)
        setup.nlb.register("all", moved)
        setup.nlb.deregister("b2", B2)
        setup.nlb.deregister("all", B2)
        # ELBv2 changed, but the stand-in serves what it read until it is refreshed.
        assert who_answers(setup.ports["b2"]) == "broker-2"
        routes = standin.refresh()

        # Then the old target's connection is closed, the other one still works
        assert routes[setup.ports["b2"]].targets == (moved,)
        assert closed_by_peer(to_broker_2)
        to_broker_1.sendall(b"still here")
        assert to_broker_1.recv(64) == b"still here"
        assert standin.terminated() == Counter({B2: 1})
        # and new connections reach the new address, on both listeners
        assert who_answers(setup.ports["b2"]) == "broker-2-replaced"
        answers = {who_answers(setup.ports["bootstrap"]) for _ in range(3)}
        assert answers == {"broker-1", "broker-2-replaced", "broker-3"}
    finally:
        to_broker_2.close()
        to_broker_1.close()
        replacement.close()


def test_refresh_binds_new_listeners_and_closes_removed_ones(
    setup: Setup, standin: NlbStandIn
) -> None:
    # Given a connection through broker 3's port
    held = connect(setup.ports["b3"])
    assert greeting(held) == "broker-3"
    extra = free_port_block(1)
    try:
        # When a listener is added and broker 3's listener is removed
        setup.nlb.listen(extra, "b1")
        setup.nlb.unlisten(setup.ports["b3"])
        routes = standin.refresh()

        # Then the new port is served, the removed one refuses, its connection is closed
        assert set(routes) == {setup.ports[k] for k in ("bootstrap", "b1", "b2")} | {extra}
        assert who_answers(extra) == "broker-1"
        with pytest.raises(ConnectionRefusedError):
            connect(setup.ports["b3"])
        assert closed_by_peer(held)
    finally:
        held.close()


def test_a_target_without_translation_or_backend_gets_its_connection_closed(
    setup: Setup, standin: NlbStandIn
) -> None:
    # Given broker 1's translation gone and broker 2's real process stopped
    del setup.table[B1]
    setup.servers["broker-2"].close()

    # Then a client of either port is closed at once, and nothing is left open
    for port in (setup.ports["b1"], setup.ports["b2"]):
        with connect(port) as sock:
            assert closed_by_peer(sock)
    assert standin.unroutable() == Counter({setup.ports["b1"]: 1})
    assert standin.forwarded()[(setup.ports["b2"], B2)] == 1
    wait_for("no connection left", lambda: standin.open_connections() == [], timeout=TIMEOUT)


def test_a_port_that_cannot_be_bound_fails_the_refresh_and_changes_nothing(
    setup: Setup, standin: NlbStandIn
) -> None:
    # Given a port some other process holds, and ELBv2 with a listener on it
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind((HOST, 0))
    blocker.listen(1)
    taken = blocker.getsockname()[1]
    fine = free_port_block(1)
    try:
        setup.nlb.listen(taken, "b1")
        setup.nlb.listen(fine, "b2")
        before = standin.routes()

        # When the stand-in refreshes
        with pytest.raises(StandInError, match=f"cannot listen on {HOST}:{taken}"):
            standin.refresh()

        # Then it serves exactly what it served before (the other new port is not bound)
        assert standin.routes() == before
        with pytest.raises(ConnectionRefusedError):
            connect(fine)
        assert who_answers(setup.ports["b2"]) == "broker-2"
    finally:
        blocker.close()


def test_close_releases_every_socket_and_the_thread(setup: Setup) -> None:
    before = open_fds()
    nlb = NlbStandIn(setup.nlb.elbv2, setup.nlb.arn, setup.table)
    nlb.start()
    clients = [connect(setup.ports[name]) for name in ("b1", "b2", "bootstrap")]
    for sock in clients:
        greeting(sock)
    assert len(nlb.open_connections()) == 3

    nlb.close()
    nlb.close()  # idempotent

    for sock in clients:
        assert closed_by_peer(sock)
        sock.close()
    assert not any(t.name == "nlb-standin" and t.is_alive() for t in threading.enumerate())
    wait_for("descriptors released", lambda: open_fds() <= before, timeout=TIMEOUT)
    # Every listener port is free again (SO_REUSEADDR: closed connections may
    # linger in TIME_WAIT; a listening socket would still block the bind).
    for port in setup.ports.values():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((HOST, port))
            probe.listen(1)
    with pytest.raises(StandInError, match="closed"):
        nlb.refresh()


def test_only_healthy_and_initial_targets_are_routed() -> None:
    # States moto never reports (it marks every target healthy), answered with
    # botocore's Stubber, which checks them against the ELBv2 model.
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    lb, group = LB_ARN, group_arn("t")
    states = {
        "10.0.0.1": "healthy",
        "10.0.0.2": "initial",
        "10.0.0.3": "draining",
        "10.0.0.4": "unhealthy",
        "10.0.0.5": "unused",
    }
    with Stubber(elbv2) as stub:
        stub.add_response(
            "describe_listeners",
            {
                "Listeners": [
                    {
                        "ListenerArn": LISTENER_ARN,
                        "Port": 40000,
                        "Protocol": "TCP",
                        "DefaultActions": [{"Type": "forward", "TargetGroupArn": group}],
                    }
                ]
            },
            {"LoadBalancerArn": lb},
        )
        stub.add_response(
            "describe_target_health",
            {
                "TargetHealthDescriptions": [
                    {"Target": {"Id": ip, "Port": 9092}, "TargetHealth": {"State": state}}
                    for ip, state in states.items()
                ]
            },
            {"TargetGroupArn": group},
        )
        routes = read_routes(elbv2, lb)
        stub.assert_no_pending_responses()

    assert routes[40000].targets == (Target("10.0.0.1", 9092), Target("10.0.0.2", 9092))
    assert routes[40000].target_group_arns == (group,)


LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/x/0123456789abcdef"
LISTENER_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/x/0123456789abcdef/1"
)


def group_arn(name: str) -> str:
    return (
        f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/0123456789abcdef"
    )


def test_a_weighted_forward_reaches_the_targets_of_every_group() -> None:
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    first, second = group_arn("a"), group_arn("b")
    action = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": first, "Weight": 1},
                {"TargetGroupArn": second, "Weight": 1},
            ]
        },
    }
    with Stubber(elbv2) as stub:
        stub.add_response(
            "describe_listeners",
            {
                "Listeners": [
                    {
                        "ListenerArn": LISTENER_ARN,
                        "Port": 40001,
                        "Protocol": "TCP",
                        "DefaultActions": [action],
                    }
                ]
            },
            {"LoadBalancerArn": LB_ARN},
        )
        for arn, ip in ((first, "10.0.0.1"), (second, "10.0.0.2")):
            stub.add_response(
                "describe_target_health",
                {
                    "TargetHealthDescriptions": [
                        {"Target": {"Id": ip, "Port": 9092}, "TargetHealth": {"State": "healthy"}}
                    ]
                },
                {"TargetGroupArn": arn},
            )
        routes = read_routes(elbv2, LB_ARN)

    assert routes[40001].target_group_arns == (first, second)
    assert routes[40001].targets == (Target("10.0.0.1", 9092), Target("10.0.0.2", 9092))


@pytest.mark.parametrize(
    ("listener", "message"),
    [
        (
            {"Protocol": "TLS", "DefaultActions": [{"Type": "forward", "TargetGroupArn": "g"}]},
            "only TCP listeners are served",
        ),
        (
            {
                "Protocol": "TCP",
                "DefaultActions": [
                    {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}
                ],
            },
            "no forward action",
        ),
    ],
    ids=["tls", "no-forward"],
)
def test_listeners_it_cannot_serve_are_refused_clearly(
    listener: dict[str, Any], message: str
) -> None:
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    with Stubber(elbv2) as stub:
        stub.add_response(
            "describe_listeners",
            {"Listeners": [{"ListenerArn": LISTENER_ARN, "Port": 40002, **listener}]},
            {"LoadBalancerArn": LB_ARN},
        )
        with pytest.raises(StandInError, match=message):
            read_routes(elbv2, LB_ARN)
