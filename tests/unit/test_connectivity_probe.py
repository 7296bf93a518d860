"""The connectivity check, step by step, against servers on loopback.

Each failing step is provoked for real: a name that cannot resolve (under
``.invalid``, RFC 6761), a port nothing listens on, TLS servers presenting a
certificate for another name or from an unknown CA, servers answering
garbage or nothing to ApiVersions. The Kafka wire format is checked against
bytes written out field by field from the protocol spec. Names other than
``.invalid`` ones resolve through an injected resolver, so no test needs a
network beyond loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from msk_privatelink.cli.check_connectivity import COMMAND, render_report
from msk_privatelink.connectivity.kafka_wire import (
    ApiVersionRange,
    KafkaWireError,
    decode_api_versions_response,
    encode_api_versions_request,
    response_size,
)
from msk_privatelink.connectivity.probe import ProbeSettings, check, resolve
from msk_privatelink.connectivity.results import ProbeResult, ProbeTarget, Step
from msk_privatelink.connectivity.targets import (
    parse_endpoint,
    parse_expectations,
    read_view,
    targets_from_endpoints,
    targets_from_view,
)
from msk_privatelink.kernel.errors import ConfigError

HOST = "127.0.0.1"
BROKER_NAME = "b-1.democluster.abc123.c2.kafka.us-east-1.amazonaws.com"
OTHER_NAME = "b-1.someone-else.example.com"
UNRESOLVABLE = "b-1.no-such-cluster.invalid"
# Long enough for a loaded machine; every wait in here is bounded by it.
WAIT = 10.0


# ---------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_for: Callable[[str], tuple[Path, Path]]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA, and certificates it signs for any DNS name (cert, key files)."""
    directory = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("connectivity test CA"))
        .issuer_name(_name("connectivity test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def cert_for(dns_name: str) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(dns_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_file = directory / f"{dns_name}.crt"
        key_file = directory / f"{dns_name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_file, key_file

    return Pki(ca_file=ca_file, cert_for=cert_for)


def server_context(pki: Pki, dns_name: str, *, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki.cert_for(dns_name))
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(pki.ca_file))
    return context


# --------------------------------------------------------------------- servers


Handler = Callable[[socket.socket], None]


@dataclass
class Server:
    """Accepts on loopback, one thread per connection; TLS first when given a context.

    ``requests`` holds what each connection sent before the handler answered;
    ``client_closed`` counts connections the client closed (EOF seen).
    """

    handler: Handler
    context: ssl.SSLContext | None = None
    requests: list[bytes] = field(default_factory=list)
    handshake_errors: list[str] = field(default_factory=list)
    client_closed: int = 0
    accepted: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.create_server((HOST, 0))
        self.port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(WAIT)
        # A duplicate of the descriptor: after a refused handshake the client's
        # bytes are drained through it, so closing never resets the connection
        # (a reset could overtake the TLS alert the client must read).
        raw = conn.dup()
        try:
            served: socket.socket = conn
            if self.context is not None:
                try:
                    served = self.context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    with self._lock:
                        self.handshake_errors.append(str(exc))
                    self._drain(raw)
                    return
            self.handler(served)
            self._drain(served)
            served.close()
        finally:
            raw.close()

    def _drain(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except ConnectionResetError:
            pass  # closed with our answer unread: a reset is a close too
        except OSError:
            return
        with self._lock:
            self.client_closed += 1

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(WAIT)
        for thread in self._threads:
            thread.join(WAIT)

    def target(self, host: str = HOST, scheme: str = "plaintext", broker: str = "1") -> ProbeTarget:
        return ProbeTarget(broker=broker, host=host, port=self.port, scheme=scheme)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(handler: Handler, context: ssl.SSLContext | None = None) -> Server:
        server = Server(handler, context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def read_request(conn: socket.socket) -> bytes:
    """One size-prefixed request, without its prefix."""
    prefix = _read_exact(conn, 4)
    (size,) = struct.unpack(">i", prefix)
    return _read_exact(conn, size)


def _read_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def api_versions_answer(
    correlation_id: int, error_code: int = 0, apis: Sequence[tuple[int, int, int]] = ()
) -> bytes:
    body = struct.pack(">ihi", correlation_id, error_code, len(apis)) + b"".join(
        struct.pack(">hhh", *api) for api in apis
    )
    return struct.pack(">i", len(body)) + body


KAFKA_APIS = ((0, 0, 11), (1, 0, 17), (3, 0, 12), (18, 0, 4))


def kafka_broker(
    requests: list[bytes],
    error_code: int = 0,
    apis: Sequence[tuple[int, int, int]] = KAFKA_APIS,
) -> Handler:
    """A handler answering ApiVersions v0 the way a broker does; keeps each request."""

    def handle(conn: socket.socket) -> None:
        request = read_request(conn)
        requests.append(request)
        (correlation_id,) = struct.unpack_from(">i", request, 4)
        conn.sendall(api_versions_answer(correlation_id, error_code, apis))

    return handle


def start_kafka(
    serve: Callable[..., Server],
    context: ssl.SSLContext | None = None,
    error_code: int = 0,
    apis: Sequence[tuple[int, int, int]] = KAFKA_APIS,
) -> Server:
    requests: list[bytes] = []
    server = serve(kafka_broker(requests, error_code, apis), context)
    server.requests = requests
    return server


def silent(conn: socket.socket) -> None:
    """Answers nothing: the server reads until the client gives up."""


def resolver_to(address: str = HOST, *names: str) -> Callable[[str, int, float], list[str]]:
    """Resolves ``names`` (every name when none given) to ``address``; others fail."""

    def resolve_name(host: str, port: int, timeout: float) -> list[str]:
        if names and host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [address]

    return resolve_name


def run_one(
    target: ProbeTarget,
    settings: ProbeSettings | None = None,
    resolver: Callable[[str, int, float], Sequence[str]] = resolve,
) -> ProbeResult:
    report = check([target], settings or ProbeSettings(timeout=WAIT), resolver=resolver)
    assert len(report.results) == 1
    return report.results[0]


def wait_until(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {WAIT}s")
        time.sleep(0.01)


# ------------------------------------------------------------------------ DNS


def test_a_name_that_does_not_resolve_fails_at_dns_naming_it() -> None:
    result = run_one(ProbeTarget(broker="1", host=UNRESOLVABLE, port=9092, scheme="plaintext"))

    assert (result.step, result.ok) == (Step.DNS, False)
    assert UNRESOLVABLE in result.detail
    assert result.addresses == ()


def test_answers_outside_the_expected_addresses_fail_at_dns_with_what_it_resolved_to() -> None:
    # Given a name that resolves to 10.0.1.5 where only the endpoint's IPs are expected
    target = ProbeTarget(
        broker="1",
        host=BROKER_NAME,
        port=9094,
        scheme="tls",
        expected=frozenset({"10.1.0.7", "10.1.1.7"}),
    )

    result = run_one(target, resolver=resolver_to("10.0.1.5"))

    assert (result.step, result.ok) == (Step.DNS, False)
    assert "resolves to 10.0.1.5" in result.detail
    assert "10.1.0.7, 10.1.1.7" in result.detail
    assert result.addresses == ("10.0.1.5",)


def test_a_name_resolving_to_the_brokers_own_address_bypasses_privatelink() -> None:
    target = ProbeTarget(
        broker="2", host=BROKER_NAME, port=9094, scheme="tls", forbidden=frozenset({"10.0.1.5"})
    )

    result = run_one(target, resolver=resolver_to("10.0.1.5"))

    assert (result.step, result.ok) == (Step.DNS, False)
    assert "cluster's own broker address (10.0.1.5)" in result.detail


def test_expected_addresses_that_match_let_the_probe_go_on(serve: Callable[..., Server]) -> None:
    server = start_kafka(serve)
    target = ProbeTarget(
        broker="1",
        host=BROKER_NAME,
        port=server.port,
        scheme="plaintext",
        expected=frozenset({HOST}),
        forbidden=frozenset({"10.0.1.5"}),
    )

    result = run_one(target, resolver=resolver_to(HOST))

    assert (result.step, result.ok) == (Step.OK, True), result.detail


def test_a_resolver_that_hangs_is_abandoned_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()

    def hanging(*args: object, **kwargs: object) -> list[object]:
        release.wait(WAIT)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    started = time.monotonic()
    try:
        result = run_one(
            ProbeTarget(broker="1", host=BROKER_NAME, port=9092, scheme="plaintext"),
            ProbeSettings(timeout=0.2),
        )
    finally:
        release.set()

    assert (result.step, result.ok) == (Step.DNS, False)
    assert "no answer from the resolver within 0.2s" in result.detail
    assert time.monotonic() - started < WAIT


# ------------------------------------------------------------------------ TCP


def test_a_closed_port_fails_at_tcp_naming_the_endpoint() -> None:
    # Bound but not listening: the port stays ours, and connecting is refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        target = ProbeTarget(broker="3", host="localhost", port=port, scheme="plaintext")

        result = run_one(target, resolver=resolver_to(HOST, "localhost"))

    assert (result.step, result.ok) == (Step.TCP, False)
    assert result.target.broker == "3"
    assert f"localhost:{port}" in result.detail
    assert "connection refused" in result.detail
    assert result.connected_to is None


def test_the_next_address_is_tried_when_the_first_refuses(serve: Callable[..., Server]) -> None:
    server = start_kafka(serve)

    def two_answers(host: str, port: int, timeout: float) -> list[str]:
        # 127.0.0.2 is loopback too, and nothing listens there on this port.
        return ["127.0.0.2", HOST]

    result = run_one(server.target(host=BROKER_NAME), resolver=two_answers)

    assert (result.step, result.ok) == (Step.OK, True), result.detail
    assert result.addresses == ("127.0.0.2", HOST)
    assert result.connected_to == HOST


# ------------------------------------------------------------------------ TLS


def test_a_certificate_for_another_name_fails_at_tls_with_hostname_mismatch(
    serve: Callable[..., Server], pki: Pki
) -> None:
    # Given a TLS listener whose certificate names another host
    server = start_kafka(serve, server_context(pki, OTHER_NAME))
    settings = ProbeSettings(timeout=WAIT, ca_file=pki.ca_file)

    # When the broker's name (resolving to the listener) is probed over TLS
    result = run_one(
        server.target(host=BROKER_NAME, scheme="tls"), settings, resolver_to(HOST, BROKER_NAME)
    )

    # Then TLS fails, and says the certificate is not for that name
    assert (result.step, result.ok) == (Step.TLS, False)
    assert result.detail.startswith("hostname mismatch")
    assert BROKER_NAME in result.detail
    assert server.requests == []


def test_a_certificate_for_the_broker_name_passes_tls_when_connecting_to_an_address(
    serve: Callable[..., Server], pki: Pki
) -> None:
    # Given a TLS listener for the broker's name, reached at an address
    server = start_kafka(serve, server_context(pki, BROKER_NAME))
    settings = ProbeSettings(timeout=WAIT, ca_file=pki.ca_file)

    result = run_one(
        server.target(host=BROKER_NAME, scheme="sasl_iam"), settings, resolver_to(HOST)
    )

    # Then the handshake verified the name (not the address) and Kafka answered
    assert (result.step, result.ok) == (Step.OK, True), result.detail
    assert "4 APIs" in result.detail
    assert server.handshake_errors == []


def test_an_unknown_ca_fails_at_tls_and_points_to_ca_file(
    serve: Callable[..., Server], pki: Pki
) -> None:
    server = start_kafka(serve, server_context(pki, BROKER_NAME))

    # Without --ca-file: the system trust store does not know the test CA.
    result = run_one(
        server.target(host=BROKER_NAME, scheme="tls"),
        ProbeSettings(timeout=WAIT),
        resolver_to(HOST),
    )

    assert (result.step, result.ok) == (Step.TLS, False)
    assert result.detail.startswith("unknown CA")
    assert "--ca-file" in result.detail


def test_a_listener_requiring_a_client_certificate_fails_at_tls_without_one(
    serve: Callable[..., Server], pki: Pki
) -> None:
    server = start_kafka(serve, server_context(pki, BROKER_NAME, require_client_cert=True))
    target = server.target(host=BROKER_NAME, scheme="tls")

    refused = run_one(target, ProbeSettings(timeout=WAIT, ca_file=pki.ca_file), resolver_to(HOST))
    cert, key = pki.cert_for("client.example")
    admitted = run_one(
        target,
        ProbeSettings(timeout=WAIT, ca_file=pki.ca_file, client_cert=cert, client_key=key),
        resolver_to(HOST),
    )

    assert (refused.step, refused.ok) == (Step.TLS, False)
    assert "client certificate" in refused.detail
    assert (admitted.step, admitted.ok) == (Step.OK, True), admitted.detail


def test_tls_to_a_plaintext_listener_fails_at_tls(serve: Callable[..., Server]) -> None:
    def plaintext_kafka(conn: socket.socket) -> None:
        # A Kafka plaintext listener reads the ClientHello as a request size
        # far over its limit and closes the connection.
        conn.recv(5)
        conn.shutdown(socket.SHUT_WR)

    server = serve(plaintext_kafka)

    result = run_one(server.target(host=BROKER_NAME, scheme="tls"), resolver=resolver_to(HOST))

    assert (result.step, result.ok) == (Step.TLS, False)
    assert "plaintext listener" in result.detail


# ---------------------------------------------------------------------- Kafka


def test_a_kafka_answer_passes_and_the_request_is_apiversions_v0(
    serve: Callable[..., Server],
) -> None:
    server = start_kafka(serve)

    result = run_one(server.target())

    assert (result.step, result.ok) == (Step.OK, True), result.detail
    assert result.detail == f"ApiVersions: 4 APIs, ApiVersions v0-v4, via {HOST}"
    (request,) = server.requests
    api_key, api_version, _, client_id_length = struct.unpack_from(">hhih", request)
    assert (api_key, api_version) == (18, 0)
    assert request[10:] == b"msk-privatelink-check"
    assert client_id_length == len(b"msk-privatelink-check")
    # The check closed its connection when done.
    wait_until("the client closed its connection", lambda: server.client_closed == 1)


def test_garbage_in_answer_to_apiversions_fails_at_kafka(serve: Callable[..., Server]) -> None:
    def http(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = serve(http)

    result = run_one(server.target())

    assert (result.step, result.ok) == (Step.KAFKA, False)
    assert result.detail.startswith("not an ApiVersions answer")
    assert "b'HTTP'" in result.detail
    wait_until("the client closed its connection", lambda: server.client_closed == 1)


def test_a_well_framed_answer_to_another_request_fails_at_kafka(
    serve: Callable[..., Server],
) -> None:
    def wrong_correlation(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(api_versions_answer(7, 0, KAFKA_APIS))

    server = serve(wrong_correlation)

    result = run_one(server.target())

    assert (result.step, result.ok) == (Step.KAFKA, False)
    assert "correlation id 7 answers no request of ours" in result.detail


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"error_code": 35}, "error_code 35 (UNSUPPORTED_VERSION)"),
        ({"apis": ()}, "empty API list"),
    ],
)
def test_an_error_code_or_no_apis_fails_at_kafka(
    serve: Callable[..., Server], answer: dict[str, Any], reason: str
) -> None:
    server = start_kafka(serve, **answer)

    result = run_one(server.target())

    assert (result.step, result.ok) == (Step.KAFKA, False)
    assert reason in result.detail


def test_a_listener_that_closes_without_answering_fails_at_kafka(
    serve: Callable[..., Server],
) -> None:
    def hang_up(conn: socket.socket) -> None:
        read_request(conn)
        conn.shutdown(socket.SHUT_WR)

    server = serve(hang_up)

    result = run_one(server.target())

    assert (result.step, result.ok) == (Step.KAFKA, False)
    assert "connection closed after 0 byte(s)" in result.detail


def test_a_silent_listener_fails_at_kafka_within_the_step_timeout(
    serve: Callable[..., Server],
) -> None:
    server = serve(silent)

    started = time.monotonic()
    result = run_one(server.target(), ProbeSettings(timeout=0.3))

    assert (result.step, result.ok) == (Step.KAFKA, False)
    assert "no ApiVersions answer within 0.3s" in result.detail
    assert time.monotonic() - started < WAIT
    wait_until("the client closed its connection", lambda: server.client_closed == 1)


def test_plaintext_to_a_tls_listener_fails_at_kafka_with_a_hint(
    serve: Callable[..., Server], pki: Pki
) -> None:
    # Given a TLS listener, which waits for the rest of what it takes for a
    # TLS record (a real broker may close or send an alert instead)
    server = start_kafka(serve, server_context(pki, BROKER_NAME))

    result = run_one(server.target(host=BROKER_NAME), ProbeSettings(timeout=0.5), resolver_to(HOST))

    assert (result.step, result.ok) == (Step.KAFKA, False)
    assert "no ApiVersions answer within 0.5s" in result.detail
    assert "a TLS listener probed as plaintext?" in result.detail


# --------------------------------------------------------- pool and deadline


def test_many_targets_run_in_parallel_and_come_back_in_order(
    serve: Callable[..., Server],
) -> None:
    # Given 16 silent listeners and a step timeout of 0.5 s
    listener = serve(silent)
    targets = [listener.target(broker=str(i)) for i in range(1, 17)]

    started = time.monotonic()
    report = check(targets, ProbeSettings(timeout=0.5, workers=8))
    elapsed = time.monotonic() - started

    # Then all failed at Kafka, in the given order, in about two rounds of 8
    assert [r.target.broker for r in report.results] == [str(i) for i in range(1, 17)]
    assert {r.step for r in report.results} == {Step.KAFKA}
    assert elapsed < 16 * 0.5
    assert report.summary()["failed_by_step"] == {"kafka": 16}
    assert not report.ok
    wait_until("every connection closed", lambda: listener.client_closed == 16)


def test_the_overall_deadline_bounds_the_whole_check(serve: Callable[..., Server]) -> None:
    # Given more silent listeners than workers and a deadline below one step timeout
    listener = serve(silent)
    targets = [listener.target(broker=str(i)) for i in range(1, 5)]

    started = time.monotonic()
    report = check(targets, ProbeSettings(timeout=5.0, deadline=0.4, workers=2))

    assert time.monotonic() - started < 5.0
    assert report.deadline_reached
    assert not any(r.ok for r in report.results)
    # The first two spent the deadline waiting; the others could not start a step.
    assert all("overall deadline" in r.detail for r in report.results[2:])


def test_no_target_is_an_empty_report() -> None:
    report = check([], ProbeSettings())
    assert report.ok
    assert report.summary()["total"] == 0


@pytest.mark.parametrize(
    "settings",
    [
        {"timeout": 0},
        {"timeout": 31},
        {"deadline": 0},
        {"deadline": 601},
        {"workers": 0},
        {"workers": 33},
        {"client_key": Path("key.pem")},
    ],
)
def test_settings_out_of_bounds_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ProbeSettings(**settings)


def test_a_missing_ca_file_is_refused_before_any_probe(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load the TLS files"):
        check(
            [ProbeTarget(broker="1", host=BROKER_NAME, port=9094, scheme="tls")],
            ProbeSettings(ca_file=tmp_path / "missing.pem"),
        )


# ------------------------------------------------------------- wire format


# ApiVersions request v0 with request header v1, from the protocol spec:
# RequestHeader v1 => request_api_key INT16, request_api_version INT16,
# correlation_id INT32, client_id NULLABLE_STRING; ApiVersions Request (v0) => (empty).
SPEC_REQUEST = (
    b"\x00\x00\x00\x0f"  # size: 15 bytes follow
    b"\x00\x12"  # request_api_key 18 (ApiVersions)
    b"\x00\x00"  # request_api_version 0
    b"\x00\x00\x00\x2a"  # correlation_id 42
    b"\x00\x05"  # client_id: length 5 ...
    b"check"  # ... and its UTF-8 bytes
)
# ApiVersions Response (v0) => error_code INT16 [api_keys => api_key INT16
# min_version INT16 max_version INT16], after ResponseHeader v0 => correlation_id INT32.
SPEC_RESPONSE_PAYLOAD = (
    b"\x00\x00\x00\x2a"  # correlation_id 42
    b"\x00\x00"  # error_code 0
    b"\x00\x00\x00\x02"  # api_keys: 2 entries
    b"\x00\x00\x00\x00\x00\x0b"  # Produce (0) v0..v11
    b"\x00\x12\x00\x00\x00\x04"  # ApiVersions (18) v0..v4
)


def test_the_request_encodes_as_the_spec_lays_it_out() -> None:
    assert encode_api_versions_request(42, "check") == SPEC_REQUEST


def test_a_null_client_id_is_length_minus_one() -> None:
    assert encode_api_versions_request(1, None) == (
        b"\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff"
    )


def test_the_response_decodes_as_the_spec_lays_it_out() -> None:
    size = response_size(struct.pack(">i", len(SPEC_RESPONSE_PAYLOAD)))
    response = decode_api_versions_response(SPEC_RESPONSE_PAYLOAD, 42)

    assert size == 22
    assert response.correlation_id == 42
    assert (response.error_code, response.error_name) == (0, "NONE")
    assert response.api_keys == (ApiVersionRange(0, 0, 11), ApiVersionRange(18, 0, 4))
    assert response.range_of(18) == ApiVersionRange(18, 0, 4)
    assert response.range_of(3) is None


def test_unsupported_version_answers_decode_with_their_error_code() -> None:
    payload = b"\x00\x00\x00\x01\x00\x23\x00\x00\x00\x01\x00\x12\x00\x00\x00\x03"
    response = decode_api_versions_response(payload, 1)
    assert (response.error_code, response.error_name) == (35, "UNSUPPORTED_VERSION")


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        (b"HTTP", "exceeds 65536 bytes"),
        (b"\x00\x00\x00\x09", "below the 10 bytes"),
        (b"\xff\xff\xff\xff", "below the 10 bytes"),
        (b"\x00\x00", "4 bytes"),
    ],
)
def test_size_prefixes_out_of_bounds_are_refused(prefix: bytes, reason: str) -> None:
    with pytest.raises(KafkaWireError, match=reason):
        response_size(prefix)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (SPEC_RESPONSE_PAYLOAD[:-1], "need 22 bytes, the response has 21"),
        (SPEC_RESPONSE_PAYLOAD + b"\x00", "need 22 bytes, the response has 23"),
        (SPEC_RESPONSE_PAYLOAD[:9], "too short"),
        (b"\x00\x00\x00\x2a\x00\x00\xff\xff\xff\xff", "array length -1"),
    ],
)
def test_malformed_responses_are_refused(payload: bytes, reason: str) -> None:
    with pytest.raises(KafkaWireError, match=reason):
        decode_api_versions_response(payload, 42)


def test_a_response_to_another_correlation_id_is_refused() -> None:
    with pytest.raises(KafkaWireError, match="correlation id 42 answers no request"):
        decode_api_versions_response(SPEC_RESPONSE_PAYLOAD, 43)


# ---------------------------------------------------------------- targets


DETAIL = {
    "schemaVersion": "1.0",
    "clusterArn": (
        "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/"
        "7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
    ),
    "clusterName": "demo-cluster",
    "region": "us-east-1",
    "pattern": "nlb-per-broker",
    "generation": 4,
    "brokers": [
        {
            "brokerId": broker_id,
            "hostNames": [f"b-{broker_id}.democluster.abc123.c2.kafka.us-east-1.amazonaws.com"],
            "endpointServiceName": f"com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef{broker_id}",
            "endpointServiceId": f"vpce-svc-0123456789abcdef{broker_id}",
            "ports": {"sasl_iam": 9098, "tls": 9094},
        }
        for broker_id in (2, 1)
    ],
    "bootstrap": None,
}


@pytest.mark.parametrize(
    "document",
    [
        DETAIL,
        {"version": "0", "detail-type": "BrokerEndpointsChanged", "detail": DETAIL},
        {"DetailType": "BrokerEndpointsChanged", "Detail": json.dumps(DETAIL)},
    ],
    ids=["detail", "event", "put-events-entry"],
)
def test_a_view_as_published_gives_every_broker_and_scheme(document: dict[str, object]) -> None:
    view = read_view(json.dumps(document))

    targets = targets_from_view(view)

    assert [(t.broker, t.scheme, t.port) for t in targets] == [
        ("1", "sasl_iam", 9098),
        ("1", "tls", 9094),
        ("2", "sasl_iam", 9098),
        ("2", "tls", 9094),
    ]
    assert targets[0].host == "b-1.democluster.abc123.c2.kafka.us-east-1.amazonaws.com"
    assert all(t.uses_tls for t in targets)


def test_a_shared_nlb_view_adds_the_bootstrap_name_and_schemes_filter() -> None:
    detail = {
        **DETAIL,
        "pattern": "shared-nlb",
        "bootstrap": {
            "endpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
            "endpointServiceId": "vpce-svc-0123456789abcdef0",
            "ports": {"tls": 9000, "sasl_iam": 9100},
        },
    }
    view = read_view(json.dumps(detail))

    targets = targets_from_view(view, schemes=["tls"])

    assert [(t.broker, t.host.split(".")[0], t.port) for t in targets] == [
        ("1", "b-1", 9094),
        ("2", "b-2", 9094),
        ("bootstrap", "bootstrap", 9000),
    ]
    assert targets[-1].host == "bootstrap.democluster.abc123.c2.kafka.us-east-1.amazonaws.com"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({"detail-type": "ConsumerOnboarded", "detail": {}}), "not a BrokerEndpoints"),
        (json.dumps({**DETAIL, "generation": 0}), "generation"),
    ],
)
def test_a_view_that_is_not_one_is_refused(document: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        read_view(document)


def test_a_scheme_no_broker_has_is_refused() -> None:
    with pytest.raises(ConfigError, match="no broker port for plaintext"):
        targets_from_view(read_view(json.dumps(DETAIL)), schemes=["plaintext"])


def test_endpoints_by_hand_take_the_scheme_of_msk_ports_or_the_one_given() -> None:
    targets = targets_from_endpoints(
        [f"{BROKER_NAME}:9098", "10.0.0.5:9092", "[fd00::5]:9196"], None
    )
    assert [(t.broker, t.host, t.scheme) for t in targets] == [
        ("1", BROKER_NAME, "sasl_iam"),
        ("-", "10.0.0.5", "plaintext"),
        ("-", "fd00::5", "sasl_scram"),
    ]
    assert targets[2].endpoint == "[fd00::5]:9196"
    assert targets_from_endpoints(["nlb.example:9001"], "tls")[0].scheme == "tls"
    with pytest.raises(ConfigError, match="give --scheme"):
        targets_from_endpoints(["nlb.example:9001"], None)


@pytest.mark.parametrize("text", ["no-port", "host:", "host:http", "host:70000", "fd00::5:x"])
def test_malformed_endpoints_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_endpoint(text)


def test_address_expectations_per_name_win_over_the_general_ones() -> None:
    rules = parse_expectations(
        ["10.1.0.7,10.1.1.7", f"{BROKER_NAME.upper()}.=10.1.0.9"], ["10.0.1.5", "10.0.1.6"]
    )

    assert rules.expected_for(BROKER_NAME) == frozenset({"10.1.0.9"})
    assert rules.expected_for(OTHER_NAME) == frozenset({"10.1.0.7", "10.1.1.7"})
    assert rules.forbidden == {"10.0.1.5", "10.0.1.6"}
    with pytest.raises(ConfigError, match="not an IP address"):
        parse_expectations(["b-1.example"])
    assert parse_expectations([]).expected_for(BROKER_NAME) is None


# --------------------------------------------------------------------- CLI


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="check-connectivity")
    COMMAND.configure(parser)
    return COMMAND.run(parser.parse_args(argv))


def test_the_command_prints_json_and_exits_0_when_every_check_passes(
    serve: Callable[..., Server], capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_kafka(serve)

    code = run_cli(
        ["--brokers", f"{HOST}:{server.port}", "--scheme", "plaintext", "--output", "json"]
    )

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["summary"]["ok"] is True
    (row,) = document["results"]
    assert set(row) == {
        "broker",
        "scheme",
        "host",
        "port",
        "step",
        "ok",
        "detail",
        "elapsed_ms",
        "addresses",
        "connected_to",
    }
    assert (row["step"], row["ok"], row["connected_to"]) == ("ok", True, HOST)


def test_the_command_names_the_failing_step_in_its_table_and_exits_1(
    serve: Callable[..., Server], capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_kafka(serve)

    code = run_cli(
        [
            "--bootstrap",
            f"{HOST}:{server.port},{UNRESOLVABLE}:9092",
            "--scheme",
            "plaintext",
            "--timeout",
            "2",
        ]
    )

    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["BROKER", "SCHEME", "ENDPOINT", "RESULT", "MS"]
    assert lines[2].split()[3] == "OK"
    assert lines[3].split()[:4] == ["1", "plaintext", f"{UNRESOLVABLE}:9092", "DNS"]
    assert "1 of 2 checks failed (1 at DNS)" in out


def test_the_command_reads_a_view_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    view = tmp_path / "view.json"
    first_broker = {**DETAIL["brokers"][0], "hostNames": [UNRESOLVABLE]}  # type: ignore[index]
    detail = {**DETAIL, "brokers": [first_broker]}
    view.write_text(json.dumps({"detail-type": "BrokerEndpointsChanged", "detail": detail}))

    code = run_cli(["--view", str(view), "--scheme", "tls", "--output", "json"])

    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(r["broker"], r["scheme"], r["step"]) for r in document["results"]] == [
        ("2", "tls", "dns")
    ]


@pytest.mark.parametrize("argv", [["--timeout", "0"], ["--timeout", "31"], ["--parallel", "0"]])
def test_the_command_refuses_unbounded_settings(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        run_cli(["--brokers", "localhost:9092", *argv])


def test_the_table_reports_a_deadline_cut(serve: Callable[..., Server]) -> None:
    listener = serve(silent)
    report = check(
        [listener.target(broker=str(i)) for i in (1, 2)],
        ProbeSettings(timeout=5.0, deadline=0.2, workers=1),
    )

    text = render_report(report)

    # The second never started a step: it is reported where it stood, at DNS.
    assert "2 of 2 checks failed (1 at DNS, 1 at KAFKA)" in text
    assert "The overall deadline ended some checks early" in text


def test_a_route_takes_the_connection_where_the_network_would_and_reports_the_address(
    serve: Callable[..., Server],
) -> None:
    """A stand-in network: the endpoint address the name resolves to is
    played by a local listener; the result still names the endpoint address."""
    server = start_kafka(serve)
    endpoint = "10.0.7.21"
    routed: list[tuple[str, int]] = []

    def route(address: str, port: int) -> tuple[str, int]:
        routed.append((address, port))
        return (HOST, server.port) if address == endpoint else (address, port)

    target = ProbeTarget(broker="1", host=BROKER_NAME, port=9092, scheme="plaintext")
    report = check(
        [target],
        ProbeSettings(timeout=WAIT),
        resolver=resolver_to(endpoint),
        route=route,
    )

    (result,) = report.results
    assert (result.step, result.ok, result.connected_to) == (Step.OK, True, endpoint)
    assert routed == [(endpoint, 9092)]
