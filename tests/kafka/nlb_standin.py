"""A loopback TCP forwarder standing in for a Network Load Balancer.

It serves what ELBv2 holds for one load balancer: for every listener it
listens on ``<host>:<listener port>`` and forwards each new connection to one
of the targets registered in that listener's target group, the way an NLB
does with TCP listeners (no TLS termination, bytes passed through, half-close
honoured).

The targets ELBv2 holds are the *simulated* broker addresses (the ENI IPs the
reconciler registered, on the broker port). They do not exist on this
machine, so each target is looked up in a translation table the caller owns
and keeps current (``Target -> (host, port)`` of the real process behind it).

ELBv2 is read again only when asked (``refresh()``): then new listeners are
bound, removed ones closed, and every open connection whose target is no
longer routable is closed, as an NLB with connection termination on
deregistration does. A connection whose target has no translation is closed
at once and counted in ``unroutable``.

All sockets are non-blocking and served by one thread with a selector;
``refresh()`` and ``close()`` hand their work to that thread and wait for it,
so when they return the forwarder is in the state they describe.
"""

from __future__ import annotations

import contextlib
import errno
import random
import selectors
import socket
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

Address = tuple[str, int]
T = TypeVar("T")

# NLB sends new connections to targets that are healthy or still in their
# first health checks; draining, unhealthy and unused targets get none.
ROUTABLE_STATES = frozenset({"healthy", "initial"})
_CHUNK = 65536
# Stop reading from one side while this much is waiting to be written to the other.
_HIGH_WATER = 1 << 20


@dataclass(frozen=True, order=True)
class Target:
    """A registered ELBv2 target: the IP address and port the NLB forwards to."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class Route:
    """One listener: its port, its target group and the targets it may use."""

    port: int
    target_group_arns: tuple[str, ...]
    targets: tuple[Target, ...]


class StandInError(RuntimeError):
    """ELBv2 holds something the stand-in cannot serve, or a port cannot be bound."""


def read_routes(
    elbv2: Any, load_balancer_arn: str, routable_states: frozenset[str] = ROUTABLE_STATES
) -> dict[int, Route]:
    """Listener port -> route, read through DescribeListeners and DescribeTargetHealth."""
    routes: dict[int, Route] = {}
    paginator = elbv2.get_paginator("describe_listeners")
    for page in paginator.paginate(LoadBalancerArn=load_balancer_arn):
        for listener in page["Listeners"]:
            port = int(listener["Port"])
            if listener.get("Protocol", "TCP") != "TCP":
                raise StandInError(
                    f"listener {port} is {listener.get('Protocol')}: only TCP listeners are served"
                )
            if port in routes:
                raise StandInError(f"two listeners on port {port} of {load_balancer_arn}")
            groups = _forward_target_groups(listener)
            targets: set[Target] = set()
            for group_arn in groups:
                health = elbv2.describe_target_health(TargetGroupArn=group_arn)
                for description in health["TargetHealthDescriptions"]:
                    if description["TargetHealth"]["State"] not in routable_states:
                        continue
                    target = description["Target"]
                    if "Port" not in target:
                        raise StandInError(f"target {target['Id']} of {group_arn} has no port")
                    targets.add(Target(str(target["Id"]), int(target["Port"])))
            routes[port] = Route(port, groups, tuple(sorted(targets)))
    return routes


def _forward_target_groups(listener: Mapping[str, Any]) -> tuple[str, ...]:
    for action in listener.get("DefaultActions", []):
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            return (str(action["TargetGroupArn"]),)
        weighted = action.get("ForwardConfig", {}).get("TargetGroups", [])
        if weighted:
            return tuple(str(group["TargetGroupArn"]) for group in weighted)
    raise StandInError(
        f"listener {listener.get('ListenerArn')} has no forward action to a target group"
    )


# ------------------------------------------------------------------------ forwarding


@dataclass(eq=False)
class _Pipe:
    """One direction of a connection: bytes read from ``source`` wait in ``buffer``."""

    source: socket.socket
    sink: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    eof: bool = False  # source has no more to send
    shut: bool = False  # sink was told so (SHUT_WR)

    @property
    def done(self) -> bool:
        return self.shut


@dataclass(eq=False)
class _Link:
    """A client connection and the connection to its target's real address."""

    port: int
    target: Target
    client: socket.socket
    backend: socket.socket
    connected: bool = False
    closed: bool = False
    upstream: _Pipe = field(init=False)  # client -> backend
    downstream: _Pipe = field(init=False)  # backend -> client

    def __post_init__(self) -> None:
        self.upstream = _Pipe(self.client, self.backend)
        self.downstream = _Pipe(self.backend, self.client)


@dataclass
class _Listener:
    sock: socket.socket
    route: Route
    turn: int = 0  # round robin over the route's targets


class NlbStandIn:
    """``with NlbStandIn(elbv2, lb_arn, table) as nlb:`` serves the NLB on loopback.

    ``translations`` is read on every new connection, so the caller updates it
    in place when a real process moves; ``refresh()`` then re-reads ELBv2.
    """

    def __init__(
        self,
        elbv2: Any,
        load_balancer_arn: str,
        translations: Mapping[Target, Address],
        *,
        host: str = "127.0.0.1",
        connect_timeout: float = 5.0,
    ) -> None:
        self._elbv2 = elbv2
        self._arn = load_balancer_arn
        self._translations = translations
        self._host = host
        self._connect_timeout = connect_timeout
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._tasks: list[tuple[Callable[[], Any], Future[Any]]] = []
        self._tasks_lock = threading.Lock()
        self._listeners: dict[int, _Listener] = {}
        self._links: set[_Link] = set()
        self._stopping = False
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="nlb-standin", daemon=True)
        self._started = False
        self._closed = False
        # Seen from the loop thread only; read through the properties below.
        self._accepted: Counter[int] = Counter()
        self._forwarded: Counter[tuple[int, Target]] = Counter()
        self._unroutable: Counter[int] = Counter()
        self._terminated: Counter[Target] = Counter()

    # ------------------------------------------------------------------ public

    def __enter__(self) -> NlbStandIn:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> dict[int, Route]:
        """Starts serving what ELBv2 holds now."""
        if self._started:
            raise StandInError("the stand-in is already started")
        self._started = True
        self._thread.start()
        return self.refresh()

    def refresh(self) -> dict[int, Route]:
        """Reads ELBv2 again and serves it; returns the routes now in force.

        New listener ports are bound here, in the caller's thread, so a port
        that cannot be bound raises before anything changes.
        """
        self._require_running()
        routes = read_routes(self._elbv2, self._arn)
        current = self._call(lambda: set(self._listeners))
        opened: dict[int, socket.socket] = {}
        try:
            for port in sorted(set(routes) - current):
                opened[port] = self._bind(port)
        except BaseException:
            for sock in opened.values():
                sock.close()
            raise
        self._call(lambda: self._apply(routes, opened))
        return routes

    def routes(self) -> dict[int, Route]:
        return self._call(lambda: {port: lst.route for port, lst in self._listeners.items()})

    def open_connections(self) -> list[tuple[int, Target]]:
        """(listener port, target) of every connection being forwarded now."""
        return self._call(
            lambda: sorted((link.port, link.target) for link in self._links if not link.closed)
        )

    def accepted(self) -> Counter[int]:
        """Connections accepted so far, by listener port."""
        return self._call(lambda: Counter(self._accepted))

    def forwarded(self) -> Counter[tuple[int, Target]]:
        """Connections handed to a target so far, by (listener port, target)."""
        return self._call(lambda: Counter(self._forwarded))

    def unroutable(self) -> Counter[int]:
        """Connections closed at once (no target, or no translation), by listener port."""
        return self._call(lambda: Counter(self._unroutable))

    def terminated(self) -> Counter[Target]:
        """Open connections closed because their target stopped being routable."""
        return self._call(lambda: Counter(self._terminated))

    def close(self) -> None:
        """Closes every listener and connection and ends the thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._started and self._thread.is_alive():
            self._stopping = True
            self._wake()
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                raise StandInError("the stand-in's thread did not stop")
        else:
            self._release_everything()

    # ------------------------------------------------------------ caller side

    def _require_running(self) -> None:
        if not self._started:
            raise StandInError("the stand-in is not started")
        if self._failure is not None:
            raise StandInError(
                f"the stand-in's thread failed: {self._failure!r}"
            ) from self._failure
        if self._closed or not self._thread.is_alive():
            raise StandInError("the stand-in is closed")

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise StandInError(f"cannot listen on {self._host}:{port}: {exc}") from exc
        return sock

    def _call(self, work: Callable[[], T]) -> T:
        """Runs ``work`` on the loop thread and returns its result."""
        self._require_running()
        future: Future[T] = Future()
        with self._tasks_lock:
            self._tasks.append((work, future))
        self._wake()
        return future.result(timeout=30)

    def _wake(self) -> None:
        # OSError: the loop already ended (and closed the wake socket) between
        # the caller's is_alive() and this send; nothing is left to wake.
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_write.send(b"\0")

    # -------------------------------------------------------------- loop side

    def _run(self) -> None:
        try:
            while not self._stopping:
                for key, events in self._selector.select():
                    if key.data is None:
                        self._run_tasks()
                    elif isinstance(key.data, _Listener):
                        self._accept(key.data)
                    else:
                        link, side = key.data
                        self._serve(link, side, events)
        except BaseException as exc:
            # Surfaced by the next call: a dead forwarder must fail the test, not hang it.
            self._failure = exc
            raise
        finally:
            self._fail_pending_tasks()
            self._release_everything()

    def _run_tasks(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_read.recv(4096):
                pass
        with self._tasks_lock:
            tasks, self._tasks = self._tasks, []
        for work, future in tasks:
            try:
                future.set_result(work())
            except BaseException as exc:
                future.set_exception(exc)

    def _fail_pending_tasks(self) -> None:
        with self._tasks_lock:
            tasks, self._tasks = self._tasks, []
        for _, future in tasks:
            future.set_exception(StandInError("the stand-in is closed"))

    def _apply(self, routes: dict[int, Route], opened: dict[int, socket.socket]) -> None:
        for port in sorted(set(self._listeners) - set(routes)):
            listener = self._listeners.pop(port)
            self._selector.unregister(listener.sock)
            listener.sock.close()
        for port, sock in opened.items():
            listener = _Listener(sock, routes[port])
            self._listeners[port] = listener
            self._selector.register(sock, selectors.EVENT_READ, listener)
        for port, route in routes.items():
            self._listeners[port].route = route
        for link in list(self._links):
            serving = self._listeners.get(link.port)
            if serving is None or link.target not in serving.route.targets:
                self._terminated[link.target] += 1
                self._close(link)

    def _accept(self, listener: _Listener) -> None:
        port = listener.route.port
        while True:
            try:
                client, _ = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. the peer reset before accept: nothing to serve
            self._accepted[port] += 1
            targets = listener.route.targets
            target = address = None
            if targets:
                target = targets[listener.turn % len(targets)]
                listener.turn += 1
                address = self._translations.get(target)
            if target is None or address is None:
                self._unroutable[port] += 1
                client.close()
                continue
            self._connect(port, target, address, client)

    def _connect(self, port: int, target: Target, address: Address, client: socket.socket) -> None:
        client.setblocking(False)
        backend = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        backend.setblocking(False)
        link = _Link(port, target, client, backend)
        self._links.add(link)
        self._forwarded[(port, target)] += 1
        code = backend.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._close(link)
            return
        # Until the backend answers, nothing is read from the client.
        self._update_interest(link)

    def _serve(self, link: _Link, side: str, events: int) -> None:
        if link.closed:
            return
        if side == "backend" and not link.connected:
            error = link.backend.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                self._close(link)
                return
            link.connected = True
        try:
            if events & selectors.EVENT_READ:
                self._read(link.upstream if side == "client" else link.downstream)
            if events & selectors.EVENT_WRITE:
                self._write(link.downstream if side == "client" else link.upstream)
        except OSError:
            self._close(link)
            return
        if link.upstream.done and link.downstream.done:
            self._close(link)
            return
        self._update_interest(link)

    def _read(self, pipe: _Pipe) -> None:
        if pipe.eof:
            return
        try:
            data = pipe.source.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            pipe.eof = True
        else:
            pipe.buffer += data
        self._flush(pipe)

    def _write(self, pipe: _Pipe) -> None:
        self._flush(pipe)

    def _flush(self, pipe: _Pipe) -> None:
        if pipe.buffer:
            try:
                sent = pipe.sink.send(pipe.buffer)
            except (BlockingIOError, InterruptedError):
                sent = 0
            del pipe.buffer[:sent]
        if pipe.eof and not pipe.buffer and not pipe.shut:
            pipe.sink.shutdown(socket.SHUT_WR)
            pipe.shut = True

    def _update_interest(self, link: _Link) -> None:
        if link.closed:
            return
        for sock, reading, writing in (
            (link.client, link.upstream, link.downstream),
            (link.backend, link.downstream, link.upstream),
        ):
            events = 0
            if sock is link.backend and not link.connected:
                events = selectors.EVENT_WRITE
            elif sock is link.client and not link.connected:
                events = 0
            else:
                if not reading.eof and len(reading.buffer) < _HIGH_WATER:
                    events |= selectors.EVENT_READ
                if writing.buffer:
                    events |= selectors.EVENT_WRITE
            self._set_interest(sock, events, (link, "client" if sock is link.client else "backend"))

    def _set_interest(self, sock: socket.socket, events: int, data: Any) -> None:
        try:
            key = self._selector.get_key(sock)
        except KeyError:
            key = None
        if events == 0:
            if key is not None:
                self._selector.unregister(sock)
        elif key is None:
            self._selector.register(sock, events, data)
        elif key.events != events:
            self._selector.modify(sock, events, data)

    def _close(self, link: _Link) -> None:
        if link.closed:
            return
        link.closed = True
        self._links.discard(link)
        for sock in (link.client, link.backend):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()

    def _release_everything(self) -> None:
        for link in list(self._links):
            self._close(link)
        for listener in self._listeners.values():
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(listener.sock)
            listener.sock.close()
        self._listeners.clear()
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self._wake_read)
        self._selector.close()
        self._wake_read.close()
        self._wake_write.close()


# --------------------------------------------------------------------------- ports


def free_port_block(size: int) -> int:
    """The first port of ``size`` consecutive loopback ports that are free now.

    Taken below the kernel's ephemeral range, so no outgoing connection (nor
    a broker started on a port the kernel picked) can take one meanwhile.
    """
    low, high = 20000, _ephemeral_range()[0]
    rng = random.Random()
    for _ in range(500):
        first = rng.randrange(low, high - size)
        if all(_bindable(first + offset) for offset in range(size)):
            return first
    raise RuntimeError(f"no {size} consecutive free ports in {low}..{high}")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return (32768, 60999)  # Linux's default
    return int(low), int(high)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
