"""The steps of the connectivity check, run against one target each, and the
bounded pool that runs them for many.

Every step has a budget: the per-step timeout, cut short by the overall
deadline. One TCP connection per target carries the TLS handshake and the
ApiVersions request, and is closed before the probe returns, whatever
happened. Nothing here retries: the check reports what a client sees on its
first attempt.
"""

from __future__ import annotations

import errno
import ipaddress
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from msk_privatelink.connectivity.kafka_wire import (
    API_VERSIONS_KEY,
    DEFAULT_MAX_RESPONSE_BYTES,
    SIZE_PREFIX,
    KafkaWireError,
    decode_api_versions_response,
    encode_api_versions_request,
    response_size,
)
from msk_privatelink.connectivity.results import CheckReport, ProbeResult, ProbeTarget, Step
from msk_privatelink.kernel.errors import ConfigError

DEFAULT_TIMEOUT = 3.0
MAX_TIMEOUT = 30.0
DEFAULT_DEADLINE = 60.0
MAX_DEADLINE = 600.0
DEFAULT_WORKERS = 8
MAX_WORKERS = 32
CLIENT_ID = "msk-privatelink-check"
# After the overall deadline, how long a probe still stuck in a step (only a
# resolver can be: every socket call has the step's timeout) is waited for.
_GRACE = 0.5

# OpenSSL's X509_V_ERR_* codes the report explains in words.
_HOSTNAME_MISMATCH = 62
_IP_MISMATCH = 64
_UNKNOWN_CA = frozenset({18, 19, 20, 21})  # self-signed, self-signed in chain, no issuer
_EXPIRED = 10

# (host, port, timeout in seconds) -> the addresses the name resolves to.
Resolver = Callable[[str, int, float], Sequence[str]]
# (address, port) -> where a connection to it is opened: the identity on a
# real network; a stand-in network (tests) maps an endpoint address to the
# local listener that plays its load balancer.
Route = Callable[[str, int], tuple[str, int]]


def direct(address: str, port: int) -> tuple[str, int]:
    return address, port


Clock = Callable[[], float]


@dataclass(frozen=True)
class ProbeSettings:
    """How long each step may take, the overall deadline, how many targets
    are probed at once, and what the TLS client trusts and presents."""

    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    workers: int = DEFAULT_WORKERS
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    client_id: str = CLIENT_ID
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= MAX_TIMEOUT:
            raise ConfigError(
                f"timeout {self.timeout}s: give more than 0 and at most {MAX_TIMEOUT}"
            )
        if not 0 < self.deadline <= MAX_DEADLINE:
            raise ConfigError(
                f"deadline {self.deadline}s: give more than 0 and at most {MAX_DEADLINE}"
            )
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ConfigError(f"workers {self.workers}: give 1 to {MAX_WORKERS}")
        if self.client_key is not None and self.client_cert is None:
            raise ConfigError("a client key needs its client certificate")


def tls_context(settings: ProbeSettings) -> ssl.SSLContext:
    """A client context that verifies the chain and the host name.

    Without a CA file the system's trust store is used: MSK's broker
    certificates chain to Amazon's public CAs. A CA file replaces it (a
    private CA, a test broker).
    """
    cafile = str(settings.ca_file) if settings.ca_file is not None else None
    try:
        context = ssl.create_default_context(cafile=cafile)
        if settings.client_cert is not None:
            keyfile = str(settings.client_key) if settings.client_key is not None else None
            context.load_cert_chain(str(settings.client_cert), keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS files: {exc}") from exc
    return context


def resolve(host: str, port: int, timeout: float) -> list[str]:
    """The addresses ``host`` resolves to, as the system resolver answers.

    getaddrinfo has no timeout of its own, so it runs in a daemon thread
    that is abandoned after ``timeout`` (it ends when the resolver gives up).
    """
    answers: list[list[str]] = []
    errors: list[OSError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            errors.append(exc)
        else:
            answers.append([str(info[4][0]) for info in infos])

    worker = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no answer from the resolver within {timeout:.1f}s")
    if errors:
        raise errors[0]
    return answers[0]


def normalize_address(address: str) -> str:
    """One spelling per address (``FD00:0::5`` and ``fd00::5`` compare equal);
    an IPv6 scope (``%eth0``) is kept: connecting needs it."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


class StepFailedError(Exception):
    """Ends a probe: ``step`` failed for the reason given."""

    def __init__(self, step: Step, detail: str) -> None:
        super().__init__(detail)
        self.step = step
        self.detail = detail


class _Probe:
    """One target's probe; the pool reads ``step`` when the deadline passes."""

    def __init__(
        self,
        target: ProbeTarget,
        *,
        settings: ProbeSettings,
        context: ssl.SSLContext | None,
        resolver: Resolver,
        deadline_at: float,
        clock: Clock,
        route: Route = direct,
    ) -> None:
        self.target = target
        self.route = route
        self.settings = settings
        self.context = context
        self.resolver = resolver
        self.deadline_at = deadline_at
        self.clock = clock
        self.step = Step.DNS
        self.started_at: float | None = None
        self.addresses: tuple[str, ...] = ()
        self.connected_to: str | None = None
        # Set when the overall deadline ended (or pre-empted) a step.
        self.cut_short = False

    # ------------------------------------------------------------ results

    def _result(self, step: Step, ok: bool, detail: str) -> ProbeResult:
        elapsed = 0.0 if self.started_at is None else self.clock() - self.started_at
        return ProbeResult(
            target=self.target,
            step=step,
            ok=ok,
            detail=detail,
            elapsed_ms=round(elapsed * 1000),
            addresses=self.addresses,
            connected_to=self.connected_to,
        )

    def unfinished(self) -> ProbeResult:
        """The result of a probe the overall deadline cut short."""
        self.cut_short = True
        where = "before it started" if self.started_at is None else f"in the {self.step} step"
        return self._result(
            self.step,
            False,
            f"not finished within the overall deadline of {self.settings.deadline:g}s ({where})",
        )

    def budget(self) -> float:
        """This step's timeout: the per-step one, or less when the deadline is near."""
        left = self.deadline_at - self.clock()
        if left <= 0:
            self.cut_short = True
            raise StepFailedError(
                self.step,
                f"the overall deadline of {self.settings.deadline:g}s passed before this step",
            )
        return min(self.settings.timeout, left)

    # -------------------------------------------------------------- steps

    def run(self) -> ProbeResult:
        self.started_at = self.clock()
        conn: socket.socket | None = None
        try:
            self.step = Step.DNS
            addresses = self.dns()
            self.step = Step.TCP
            conn = self.tcp(addresses)
            if self.target.uses_tls:
                self.step = Step.TLS
                conn = self.tls(conn)
            self.step = Step.KAFKA
            detail = self.kafka(conn)
        except StepFailedError as failure:
            if self.clock() >= self.deadline_at:
                self.cut_short = True
            return self._result(failure.step, False, failure.detail)
        finally:
            if conn is not None:
                conn.close()
        self.step = Step.OK
        return self._result(Step.OK, True, detail)

    def dns(self) -> list[str]:
        host = self.target.host
        budget = self.budget()
        try:
            answers = self.resolver(host, self.target.port, budget)
        except TimeoutError as exc:
            raise StepFailedError(Step.DNS, f"{host}: {exc}") from exc
        except socket.gaierror as exc:
            raise StepFailedError(
                Step.DNS, f"{host} does not resolve: {exc.strerror or exc}"
            ) from exc
        except OSError as exc:
            raise StepFailedError(Step.DNS, f"{host} does not resolve: {exc}") from exc
        addresses = list(dict.fromkeys(normalize_address(a) for a in answers))
        self.addresses = tuple(addresses)
        if not addresses:
            raise StepFailedError(Step.DNS, f"{host} resolves to no address")
        shown = ", ".join(addresses)
        forbidden = {normalize_address(a) for a in self.target.forbidden}
        direct = [a for a in addresses if a in forbidden]
        if direct:
            raise StepFailedError(
                Step.DNS,
                f"{host} resolves to {shown}, the cluster's own broker address "
                f"({', '.join(direct)}), not an interface endpoint: is the private hosted "
                "zone associated with this VPC?",
            )
        if self.target.expected is not None:
            expected = {normalize_address(a) for a in self.target.expected}
            outside = [a for a in addresses if a not in expected]
            if outside:
                raise StepFailedError(
                    Step.DNS,
                    f"{host} resolves to {shown}; {', '.join(outside)} is not among the "
                    f"expected addresses ({', '.join(sorted(expected)) or 'none'})",
                )
        return addresses

    def tcp(self, addresses: Sequence[str]) -> socket.socket:
        """A connection to the first address that accepts one, as clients do."""
        port = self.target.port
        refusals: list[str] = []
        for address in addresses:
            budget = self.budget()
            host, real_port = self.route(address, port)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(budget)
                sock.connect((host, real_port))
            except TimeoutError:
                sock.close()
                refusals.append(
                    f"{address}: no answer within {budget:.1f}s (dropped on the way: security "
                    "group, network ACL or route?)"
                )
            except ConnectionRefusedError:
                sock.close()
                refusals.append(
                    f"{address}: connection refused (nothing listens there: the listener, "
                    "the target or the broker is down)"
                )
            except OSError as exc:
                sock.close()
                refusals.append(f"{address}: {_os_reason(exc)}")
            else:
                self.connected_to = address
                return sock
        raise StepFailedError(
            Step.TCP, f"cannot connect to {self.target.endpoint}: {'; '.join(refusals)}"
        )

    def tls(self, sock: socket.socket) -> ssl.SSLSocket:
        """The handshake, verifying the certificate against the broker name
        (not the address connected to: through PrivateLink that is the
        endpoint's, which no certificate names)."""
        assert self.context is not None
        host = self.target.host
        budget = self.budget()
        # wrap_socket takes the descriptor over; the caller closes the result.
        conn = self.context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        try:
            conn.settimeout(budget)
            conn.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise StepFailedError(Step.TLS, _verification_reason(exc, host)) from exc
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            conn.close()
            raise StepFailedError(
                Step.TLS,
                "connection closed during the TLS handshake: a plaintext listener, or "
                "nothing healthy behind the load balancer?",
            ) from exc
        except ssl.SSLError as exc:
            conn.close()
            raise StepFailedError(Step.TLS, _tls_reason(exc)) from exc
        except TimeoutError as exc:
            conn.close()
            raise StepFailedError(
                Step.TLS, f"no TLS handshake within {budget:.1f}s (a plaintext listener?)"
            ) from exc
        except OSError as exc:
            conn.close()
            raise StepFailedError(
                Step.TLS,
                f"connection closed during the TLS handshake ({_os_reason(exc)}): a plaintext "
                "listener, or nothing healthy behind the load balancer?",
            ) from exc
        return conn

    def kafka(self, conn: socket.socket) -> str:
        budget = self.budget()
        until = self.clock() + budget
        correlation_id = random.randrange(1, 2**31)
        request = encode_api_versions_request(correlation_id, self.settings.client_id)
        prefix = b""
        try:
            conn.settimeout(budget)
            conn.sendall(request)
            prefix = self._read_exact(conn, SIZE_PREFIX.size, until)
            size = response_size(prefix, self.settings.max_response_bytes)
            payload = self._read_exact(conn, size, until)
            response = decode_api_versions_response(payload, correlation_id)
        except ssl.SSLError as exc:
            # TLS 1.3 ends the client's handshake before the server has
            # checked the client's certificate: its refusal arrives here.
            raise StepFailedError(Step.TLS, _tls_reason(exc)) from exc
        except KafkaWireError as exc:
            raise StepFailedError(Step.KAFKA, self._wire_reason(exc, prefix)) from exc
        except _ClosedError as exc:
            raise StepFailedError(Step.KAFKA, self._closed_reason(exc.received)) from exc
        except TimeoutError as exc:
            hint = "" if self.target.uses_tls else " (a TLS listener probed as plaintext?)"
            raise StepFailedError(
                Step.KAFKA, f"no ApiVersions answer within {budget:.1f}s{hint}"
            ) from exc
        except OSError as exc:
            raise StepFailedError(
                Step.KAFKA, f"connection lost during ApiVersions: {_os_reason(exc)}"
            ) from exc
        if response.error_code != 0:
            raise StepFailedError(
                Step.KAFKA,
                f"ApiVersions answered error_code {response.error_code} ({response.error_name})",
            )
        if not response.api_keys:
            raise StepFailedError(Step.KAFKA, "ApiVersions answered an empty API list")
        own = response.range_of(API_VERSIONS_KEY)
        versions = f", ApiVersions v{own.min_version}-v{own.max_version}" if own else ""
        return f"ApiVersions: {len(response.api_keys)} APIs{versions}, via {self.connected_to}"

    def _read_exact(self, conn: socket.socket, count: int, until: float) -> bytes:
        data = bytearray()
        while len(data) < count:
            left = until - self.clock()
            if left <= 0:
                raise TimeoutError
            conn.settimeout(left)
            chunk = conn.recv(min(count - len(data), 65536))
            if not chunk:
                raise _ClosedError(len(data))
            data += chunk
        return bytes(data)

    def _wire_reason(self, exc: KafkaWireError, prefix: bytes) -> str:
        # A TLS record header: content type 21 (alert), version 3.x.
        if not self.target.uses_tls and prefix[:2] == b"\x15\x03":
            return "the listener answered with a TLS alert: a TLS listener probed as plaintext?"
        return f"not an ApiVersions answer: {exc}"

    def _closed_reason(self, received: int) -> str:
        hint = (
            " (a TLS listener probed as plaintext?)"
            if not self.target.uses_tls
            else " (not a Kafka listener, or a listener for another scheme?)"
        )
        return f"connection closed after {received} byte(s) of the answer{hint}"


class _ClosedError(Exception):
    def __init__(self, received: int) -> None:
        super().__init__(f"closed after {received} bytes")
        self.received = received


def _os_reason(exc: OSError) -> str:
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return f"{exc.strerror} (no route from here)"
    return exc.strerror or str(exc) or type(exc).__name__


def _verification_reason(exc: ssl.SSLCertVerificationError, host: str) -> str:
    message = exc.verify_message or exc.reason or str(exc)
    if exc.verify_code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
        return f"hostname mismatch: the broker's certificate is not valid for {host} ({message})"
    if exc.verify_code in _UNKNOWN_CA:
        return (
            f"unknown CA: {message} (give the CA that signed the broker's certificate "
            "with --ca-file)"
        )
    if exc.verify_code == _EXPIRED:
        return f"certificate expired: {message}"
    return f"certificate verification failed: {message}"


def _tls_reason(exc: ssl.SSLError) -> str:
    reason = exc.reason or str(exc)
    if "CERTIFICATE_REQUIRED" in reason or "BAD_CERTIFICATE" in reason:
        return (
            f"the listener refused the client certificate ({reason}): it needs one its CA "
            "trusts (--client-cert, --client-key)"
        )
    if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER_FAILURE" in reason:
        return f"the port does not speak TLS ({reason}): a plaintext listener?"
    return f"TLS handshake failed: {reason}"


def check(
    targets: Sequence[ProbeTarget],
    settings: ProbeSettings,
    *,
    resolver: Resolver = resolve,
    clock: Clock = time.monotonic,
    route: Route = direct,
) -> CheckReport:
    """Probes every target, ``settings.workers`` at a time, within the deadline.

    Results come back in the order of ``targets``.
    """
    start = clock()
    deadline_at = start + settings.deadline
    context = tls_context(settings) if any(t.uses_tls for t in targets) else None
    probes = [
        _Probe(
            t,
            settings=settings,
            context=context,
            resolver=resolver,
            deadline_at=deadline_at,
            clock=clock,
            route=route,
        )
        for t in targets
    ]
    if not probes:
        return CheckReport(results=(), elapsed_ms=0)
    pool = ThreadPoolExecutor(
        max_workers=min(settings.workers, len(probes)), thread_name_prefix="probe"
    )
    try:
        futures: list[Future[ProbeResult]] = [pool.submit(p.run) for p in probes]
        # Steps end on their own by the deadline; the grace covers a resolver
        # abandoned mid-lookup. A probe that raised is a bug: it surfaces.
        wait(futures, timeout=max(0.0, deadline_at - clock()) + _GRACE)
        results = [
            f.result() if f.done() else p.unfinished() for f, p in zip(futures, probes, strict=True)
        ]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return CheckReport(
        results=tuple(results),
        elapsed_ms=round((clock() - start) * 1000),
        deadline_reached=any(p.cut_short for p in probes),
    )
