"""Metadata through the bootstrap: the wire format, the SASL clients and the
fetch, against loopback servers.

Expected bytes are written out field by field from the protocol spec
(https://kafka.apache.org/protocol), never with the encoder under test. The
SCRAM client is checked against the RFC 7677 SCRAM-SHA-256 test vector and
against a server side written here from RFC 5802 section 3 (the server
recomputes the client key from the proof and checks it against the stored
key). The fake broker answers ApiVersions v0, SaslHandshake v1,
SaslAuthenticate v0/v1 and Metadata v4 as a broker does.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import json
import socket
import ssl
import struct
import subprocess
import sys
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

from msk_privatelink.connectivity.bootstrap_metadata import (
    AuthenticationError,
    MetadataFetchError,
    MetadataResult,
    Stage,
    compare_brokers,
    fetch_metadata,
)
from msk_privatelink.connectivity.kafka_metadata import (
    MAX_ITERATIONS,
    MIN_ITERATIONS,
    AuthenticationFailedError,
    MetadataBroker,
    OAuthBearer,
    SaslError,
    Scram,
    ScramClient,
    decode_metadata_response,
    decode_sasl_authenticate_response,
    decode_sasl_handshake_response,
    encode_metadata_request,
    encode_sasl_authenticate_request,
    encode_sasl_handshake_request,
    oauthbearer_error,
    oauthbearer_initial_response,
    response_size,
)
from msk_privatelink.connectivity.kafka_wire import KafkaWireError
from msk_privatelink.connectivity.results import Step

LAYER = Path(__file__).resolve().parents[2] / "layers" / "core"
HOST = "127.0.0.1"
BROKER_NAME = "b-1.democluster.abc123.c2.kafka.us-east-1.amazonaws.com"
WAIT = 10.0
CLIENT_ID = "canary"


# ------------------------------------------------------ spec-level encoding


def i16(value: int) -> bytes:
    return struct.pack(">h", value)


def i32(value: int) -> bytes:
    return struct.pack(">i", value)


def i64(value: int) -> bytes:
    return struct.pack(">q", value)


def kstr(value: str | None) -> bytes:
    """STRING / NULLABLE_STRING: INT16 length (-1: null), then UTF-8."""
    if value is None:
        return i16(-1)
    raw = value.encode()
    return i16(len(raw)) + raw


def kbytes(value: bytes) -> bytes:
    """BYTES: INT32 length, then the bytes."""
    return i32(len(value)) + value


def request_v1(
    api_key: int, version: int, correlation_id: int, client_id: str, body: bytes
) -> bytes:
    """Size, request header v1 (api_key, api_version, correlation_id, client_id), body."""
    payload = i16(api_key) + i16(version) + i32(correlation_id) + kstr(client_id) + body
    return i32(len(payload)) + payload


def framed(payload: bytes) -> bytes:
    return i32(len(payload)) + payload


BrokerRow = tuple[int, str, int, str | None]


def partition_v4(index: int, leader: int, replicas: Sequence[int], isr: Sequence[int]) -> bytes:
    return (
        i16(0)
        + i32(index)
        + i32(leader)
        + i32(len(replicas))
        + b"".join(i32(r) for r in replicas)
        + i32(len(isr))
        + b"".join(i32(r) for r in isr)
    )


def topic_v4(name: str, partitions: Sequence[bytes], *, internal: bool = False) -> bytes:
    return (
        i16(0) + kstr(name) + (b"\x01" if internal else b"\x00") + i32(len(partitions))
    ) + b"".join(partitions)


def metadata_v4(
    correlation_id: int,
    brokers: Sequence[BrokerRow],
    *,
    cluster_id: str | None = "kRaFtClUsTeRiDxx",
    controller_id: int = 1,
    topics: Sequence[bytes] = (),
    throttle_time_ms: int = 0,
) -> bytes:
    """A Metadata v4 response payload (header v0, no size prefix)."""
    return (
        i32(correlation_id)
        + i32(throttle_time_ms)
        + i32(len(brokers))
        + b"".join(i32(n) + kstr(h) + i32(p) + kstr(r) for n, h, p, r in brokers)
        + kstr(cluster_id)
        + i32(controller_id)
        + i32(len(topics))
        + b"".join(topics)
    )


THREE_BROKERS: tuple[BrokerRow, ...] = (
    (1, "b-1.democluster.abc123.c2.kafka.us-east-1.amazonaws.com", 9096, "use1-az1"),
    (2, "b-2.democluster.abc123.c2.kafka.us-east-1.amazonaws.com", 9096, "use1-az2"),
    (3, "b-3.democluster.abc123.c2.kafka.us-east-1.amazonaws.com", 9096, None),
)


# ------------------------------------------------------------- wire format


def test_sasl_handshake_request_is_header_v1_and_the_mechanism() -> None:
    encoded = encode_sasl_handshake_request(7, CLIENT_ID, "SCRAM-SHA-512")

    assert encoded == request_v1(17, 1, 7, CLIENT_ID, kstr("SCRAM-SHA-512"))


def test_sasl_handshake_response_lists_the_enabled_mechanisms() -> None:
    payload = i32(7) + i16(33) + i32(2) + kstr("SCRAM-SHA-512") + kstr("OAUTHBEARER")

    response = decode_sasl_handshake_response(payload, 7)

    assert (response.error_code, response.error_name) == (33, "UNSUPPORTED_SASL_MECHANISM")
    assert response.mechanisms == ("SCRAM-SHA-512", "OAUTHBEARER")
    for cut in range(len(payload)):
        with pytest.raises(KafkaWireError):
            decode_sasl_handshake_response(payload[:cut], 7)
    with pytest.raises(KafkaWireError, match="left over"):
        decode_sasl_handshake_response(payload + b"\x00", 7)


@pytest.mark.parametrize("version", [0, 1])
def test_sasl_authenticate_request_carries_the_token_as_bytes(version: int) -> None:
    encoded = encode_sasl_authenticate_request(9, CLIENT_ID, b"n,,n=user,r=abc", version)

    assert encoded == request_v1(36, version, 9, CLIENT_ID, kbytes(b"n,,n=user,r=abc"))


def test_sasl_authenticate_response_v1_has_the_session_lifetime_and_v0_not() -> None:
    v1 = i32(9) + i16(0) + kstr(None) + kbytes(b"r=abc,s=c2FsdA==,i=4096") + i64(3_600_000)
    v0 = i32(9) + i16(58) + kstr("Authentication failed") + kbytes(b"")

    first = decode_sasl_authenticate_response(v1, 9, version=1)
    second = decode_sasl_authenticate_response(v0, 9, version=0)

    assert (first.error_code, first.error_message, first.auth_bytes) == (
        0,
        None,
        b"r=abc,s=c2FsdA==,i=4096",
    )
    assert first.session_lifetime_ms == 3_600_000
    assert (second.error_name, second.error_message, second.session_lifetime_ms) == (
        "SASL_AUTHENTICATION_FAILED",
        "Authentication failed",
        None,
    )
    # A v1 answer read as v0 has 8 bytes too many; a v0 answer read as v1, 8 too few.
    with pytest.raises(KafkaWireError, match="left over"):
        decode_sasl_authenticate_response(v1, 9, version=0)
    with pytest.raises(KafkaWireError, match="truncated"):
        decode_sasl_authenticate_response(v0, 9, version=1)


def test_metadata_request_asks_for_no_topics_with_an_empty_array_not_null() -> None:
    encoded = encode_metadata_request(11, CLIENT_ID)

    # topics: an empty ARRAY (INT32 0; -1 would be null: every topic),
    # allow_auto_topic_creation: false.
    assert encoded == request_v1(3, 4, 11, CLIENT_ID, i32(0) + b"\x00")
    assert (
        encode_metadata_request(11, None)[4:]
        == i16(3) + i16(4) + i32(11) + i16(-1) + i32(0) + b"\x00"
    )


def test_metadata_response_gives_brokers_cluster_and_controller_and_walks_topics() -> None:
    topics = [
        topic_v4("orders", [partition_v4(0, 1, [1, 2, 3], [1, 2]), partition_v4(1, 2, [2], [2])]),
        topic_v4("__consumer_offsets", [], internal=True),
    ]
    payload = metadata_v4(21, THREE_BROKERS, controller_id=2, topics=topics, throttle_time_ms=5)

    response = decode_metadata_response(payload, 21)

    assert response.brokers == tuple(MetadataBroker(*row) for row in THREE_BROKERS)
    assert (response.cluster_id, response.controller_id, response.throttle_time_ms) == (
        "kRaFtClUsTeRiDxx",
        2,
        5,
    )
    assert response.topic_count == 2
    assert response.advertised[3] == (THREE_BROKERS[2][1], 9096)


def test_metadata_response_with_a_null_cluster_id_and_no_brokers() -> None:
    response = decode_metadata_response(metadata_v4(1, (), cluster_id=None, controller_id=-1), 1)

    assert (response.brokers, response.cluster_id, response.controller_id) == ((), None, -1)


def test_every_truncation_of_a_metadata_response_is_refused() -> None:
    topics = [topic_v4("orders", [partition_v4(0, 1, [1, 2], [1])])]
    payload = metadata_v4(21, THREE_BROKERS, topics=topics)

    for cut in range(len(payload)):
        with pytest.raises(KafkaWireError):
            decode_metadata_response(payload[:cut], 21)
    with pytest.raises(KafkaWireError, match="1 byte"):
        decode_metadata_response(payload + b"\x00", 21)


def _brokers_raw(rows: bytes, count: int) -> bytes:
    return i32(21) + i32(0) + i32(count) + rows + kstr(None) + i32(1) + i32(0)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (metadata_v4(22, THREE_BROKERS), "answers no request of ours"),
        (_brokers_raw(b"", -1), "null is not allowed"),
        (_brokers_raw(b"", 50_000), "at most"),
        (_brokers_raw(b"", 2), "truncated"),
        (_brokers_raw(i32(1) + kstr(None) + i32(9092) + kstr(None), 1), "host is null"),
        (_brokers_raw(i32(1) + i16(2) + b"\xff\xfe" + i32(9092) + kstr(None), 1), "not UTF-8"),
        (
            _brokers_raw((i32(1) + kstr("a") + i32(9092) + kstr(None)) * 2, 2),
            "broker 1 is listed twice",
        ),
        (_brokers_raw(i32(1) + kstr("a") + i32(70_000) + kstr(None), 1), "port 70000"),
        (
            i32(21)
            + i32(0)
            + i32(0)
            + kstr(None)
            + i32(1)
            + i32(1)
            + i16(0)
            + kstr("t")
            + b"\x00"
            # a partition count no payload of this size could hold
            + i32(2**30),
            "truncated",
        ),
    ],
)
def test_malformed_metadata_responses_are_refused(payload: bytes, message: str) -> None:
    with pytest.raises(KafkaWireError, match=message):
        decode_metadata_response(payload, 21)


def test_a_size_prefix_is_checked_before_anything_is_read() -> None:
    assert response_size(i32(1024)) == 1024
    with pytest.raises(KafkaWireError, match="exceeds 1048576"):
        response_size(i32(2**30))
    with pytest.raises(KafkaWireError, match="below"):
        response_size(i32(2))
    with pytest.raises(KafkaWireError, match="4 bytes"):
        response_size(b"\x00\x00")


def test_requests_that_cannot_be_encoded_are_refused() -> None:
    with pytest.raises(KafkaWireError, match="client id"):
        encode_metadata_request(1, "x" * 40_000)
    with pytest.raises(KafkaWireError, match="INT32"):
        encode_metadata_request(2**31, CLIENT_ID)
    with pytest.raises(KafkaWireError, match="at most"):
        encode_sasl_authenticate_request(1, CLIENT_ID, b"x" * 70_000)
    with pytest.raises(KafkaWireError, match="v2"):
        encode_sasl_authenticate_request(1, CLIENT_ID, b"x", version=2)


# ------------------------------------------------------------------- SCRAM

RFC7677_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC7677_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC7677_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC7677_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def rfc7677_client() -> ScramClient:
    return ScramClient(Scram("user", "pencil", "SCRAM-SHA-256"), nonce=RFC7677_NONCE)


def test_scram_sha_256_matches_the_rfc_7677_test_vector() -> None:
    client = rfc7677_client()

    assert client.client_first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert client.client_final(RFC7677_SERVER_FIRST) == RFC7677_CLIENT_FINAL
    client.verify_server_final(RFC7677_SERVER_FINAL)  # no error: the server is proven


@dataclass
class ScramServer:
    """The server side of RFC 5802 section 3, for one user."""

    password: str
    digest: str = "sha512"
    salt: bytes = b"kafka-salt-0123"
    iterations: int = 4096
    server_nonce: str = "+srv/Nonce%42"

    def __post_init__(self) -> None:
        salted = hashlib.pbkdf2_hmac(
            self.digest, self.password.encode(), self.salt, self.iterations
        )
        self.stored_key = hashlib.new(self.digest, self._mac(salted, b"Client Key")).digest()
        self.server_key = self._mac(salted, b"Server Key")
        self.first_bare = ""
        self.server_first = ""

    def _mac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self.digest).digest()

    def first(self, client_first: bytes) -> tuple[str, bytes]:
        """The user name (unescaped) and the server-first-message."""
        text = client_first.decode()
        assert text.startswith("n,,")
        self.first_bare = text[3:]
        attributes = dict(part.split("=", 1) for part in self.first_bare.split(","))
        user = attributes["n"].replace("=2C", ",").replace("=3D", "=")
        salt = base64.b64encode(self.salt).decode()
        nonce = attributes["r"] + self.server_nonce
        self.server_first = f"r={nonce},s={salt},i={self.iterations}"
        return user, self.server_first.encode()

    def final(self, client_final: bytes) -> bytes | None:
        """The server-final-message, or None when the proof is wrong."""
        without_proof, proof_b64 = client_final.decode().rsplit(",p=", 1)
        assert without_proof.startswith("c=biws,r=")
        auth_message = f"{self.first_bare},{self.server_first},{without_proof}".encode()
        signature = self._mac(self.stored_key, auth_message)
        proof = base64.b64decode(proof_b64)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if hashlib.new(self.digest, client_key).digest() != self.stored_key:
            return None
        verifier = base64.b64encode(self._mac(self.server_key, auth_message)).decode()
        return f"v={verifier}".encode()


def test_scram_sha_512_is_accepted_by_a_server_checking_the_proof() -> None:
    server = ScramServer("s3cret-Pa55")
    client = ScramClient(Scram("canary,user=1", "s3cret-Pa55", "SCRAM-SHA-512"))

    user, server_first = server.first(client.client_first())
    server_final = server.final(client.client_final(server_first))

    assert user == "canary,user=1"
    assert client.client_first().startswith(b"n,,n=canary=2Cuser=3D1,r=")
    assert server_final is not None
    client.verify_server_final(server_final)


def test_a_wrong_password_gives_a_proof_the_server_refuses() -> None:
    server = ScramServer("s3cret-Pa55")
    client = ScramClient(Scram("canary", "wrong", "SCRAM-SHA-512"))

    _, server_first = server.first(client.client_first())

    assert server.final(client.client_final(server_first)) is None


def test_a_server_signature_that_does_not_match_is_refused() -> None:
    client = rfc7677_client()
    client.client_final(RFC7677_SERVER_FIRST)
    forged = b"v=" + base64.b64encode(b"\x00" * 32)

    with pytest.raises(SaslError, match="server signature does not match") as caught:
        client.verify_server_final(forged)
    assert not isinstance(caught.value, AuthenticationFailedError)


def test_a_server_error_in_the_final_message_is_an_authentication_failure() -> None:
    client = rfc7677_client()
    client.client_final(RFC7677_SERVER_FIRST)

    with pytest.raises(AuthenticationFailedError, match=r"authentication failed.*invalid-proof"):
        client.verify_server_final(b"e=invalid-proof")


@pytest.mark.parametrize(
    ("server_first", "message"),
    [
        # A nonce that does not start with ours, and one that adds nothing to it.
        (b"r=someoneElsesNonce123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend ours"),
        (b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend ours"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095", "iteration count 4095"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=16385", "iteration count 16385"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x", "not a number"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096", "not a number"),
        (b"m=must,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22Z,i=4096", "mandatory extension"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,i=4096", "not r=...,s=...,i="),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=not*base64,i=4096", "not base64"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=,i=4096", "empty salt"),
        (b"\xff\xfe", "not UTF-8"),
        (b"garbage", "not SCRAM attributes"),
    ],
)
def test_server_first_messages_that_break_the_rules_are_refused(
    server_first: bytes, message: str
) -> None:
    with pytest.raises(SaslError, match=message):
        rfc7677_client().client_final(server_first)


def test_the_iteration_bounds_are_kafkas() -> None:
    assert (MIN_ITERATIONS, MAX_ITERATIONS) == (4096, 16384)
    server = ScramServer("pw", iterations=MAX_ITERATIONS)
    client = ScramClient(Scram("u", "pw"))
    _, server_first = server.first(client.client_first())

    final = server.final(client.client_final(server_first))

    assert final is not None


def test_a_server_final_message_before_the_client_final_one_is_refused() -> None:
    with pytest.raises(SaslError, match="before the client-final-message"):
        rfc7677_client().verify_server_final(RFC7677_SERVER_FINAL)


def test_scram_credentials_are_checked_and_never_shown() -> None:
    with pytest.raises(ValueError, match="SCRAM-SHA-256, SCRAM-SHA-512"):
        Scram("u", "p", "SCRAM-SHA-1")
    with pytest.raises(ValueError, match="password"):
        Scram("u", "")
    assert "hunter2" not in repr(Scram("u", "hunter2"))
    assert "tok" not in repr(OAuthBearer("tok"))


# ------------------------------------------------------------- OAUTHBEARER


def test_oauthbearer_initial_response_is_the_rfc_7628_layout() -> None:
    token = "aHR0cHM6Ly9rYWZrYS51cy1lYXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXI"

    assert oauthbearer_initial_response(token) == (
        b"n,,\x01auth=Bearer " + token.encode() + b"\x01\x01"
    )


@pytest.mark.parametrize("token", ["", "two words", "a\x01b", "é", "=abc", "x" * 20_000])
def test_tokens_outside_rfc_6750_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        oauthbearer_initial_response(token)


def test_an_oauthbearer_error_challenge_gives_its_status() -> None:
    assert oauthbearer_error(b'{"status":"invalid_token"}') == "invalid_token"
    assert oauthbearer_error(b"not json") == "not json"


# ----------------------------------------------------------- loopback servers


Handler = Callable[[socket.socket], None]


@dataclass
class Server:
    """Accepts on loopback, one thread per connection, TLS first when given a
    context; counts the connections whose client closed (EOF seen)."""

    handler: Handler
    context: ssl.SSLContext | None = None
    client_closed: int = 0
    accepted: int = 0
    handshake_errors: list[str] = field(default_factory=list)

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
        served: socket.socket = conn
        try:
            if self.context is not None:
                try:
                    served = self.context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    with self._lock:
                        self.handshake_errors.append(str(exc))
                    return
            self.handler(served)
            if served.fileno() != -1:  # a handler that hung up has nothing to drain
                self._drain(served)
        finally:
            served.close()
            conn.close()

    def _drain(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except ConnectionResetError:
            pass
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

    def wait_closed(self, count: int = 1) -> None:
        deadline = time.monotonic() + WAIT
        while self.client_closed < count:
            assert time.monotonic() < deadline, "the client never closed its connection"
            time.sleep(0.01)


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


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[socket.socket]:
    """Every socket socket.create_connection opens, to check it ends closed."""
    sockets: list[socket.socket] = []
    real = socket.create_connection

    def recording(*args: Any, **kwargs: Any) -> socket.socket:
        sock = real(*args, **kwargs)
        sockets.append(sock)
        return sock

    monkeypatch.setattr(socket, "create_connection", recording)
    return sockets


def _read_exact(conn: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        try:
            chunk = conn.recv(count - len(data))
        except ConnectionResetError:
            return None  # closed with our answer unread: a reset is a close too
        if not chunk:
            return None
        data += chunk
    return data


@dataclass(frozen=True)
class Request:
    api_key: int
    version: int
    correlation_id: int
    client_id: str | None
    body: bytes


def read_request(conn: socket.socket) -> Request | None:
    """One request (header v1), or None when the client closed."""
    prefix = _read_exact(conn, 4)
    if prefix is None:
        return None
    payload = _read_exact(conn, struct.unpack(">i", prefix)[0])
    assert payload is not None
    api_key, version, correlation_id, length = struct.unpack_from(">hhih", payload)
    client_id = None if length < 0 else payload[10 : 10 + length].decode()
    return Request(api_key, version, correlation_id, client_id, payload[10 + max(length, 0) :])


def api_versions_v0(correlation_id: int, apis: Sequence[tuple[int, int, int]]) -> bytes:
    return (
        i32(correlation_id)
        + i16(0)
        + i32(len(apis))
        + b"".join(struct.pack(">hhh", *a) for a in apis)
    )


BROKER_APIS = ((3, 0, 12), (17, 0, 1), (18, 0, 4), (36, 0, 2))


@dataclass
class FakeBroker:
    """A listener answering as a Kafka broker does: ApiVersions v0 at any
    time; SaslHandshake v1 and SaslAuthenticate v0/v1 when ``mechanisms``
    (a SASL listener, which closes the connection on any other request
    before authentication); Metadata v4 with ``brokers``."""

    brokers: Sequence[BrokerRow] = THREE_BROKERS
    mechanisms: tuple[str, ...] = ()
    users: dict[str, str] = field(default_factory=lambda: {"canary": "s3cret-Pa55"})
    tokens: frozenset[str] = frozenset({"good.token-1"})
    apis: Sequence[tuple[int, int, int]] = BROKER_APIS
    forge_signature: bool = False
    session_lifetime_ms: int = 3_600_000
    requests: list[Request] = field(default_factory=list)
    oauth_acks: int = 0

    def __call__(self, conn: socket.socket) -> None:
        authenticated = not self.mechanisms
        mechanism: str | None = None
        scram: ScramServer | None = None
        oauth_failed = False
        while (request := read_request(conn)) is not None:
            self.requests.append(request)
            cid = request.correlation_id
            if request.api_key == 18:
                conn.sendall(framed(api_versions_v0(cid, self.apis)))
            elif request.api_key == 17:
                (length,) = struct.unpack_from(">h", request.body)
                asked = request.body[2 : 2 + length].decode()
                if not self.mechanisms:
                    code = 34  # ILLEGAL_SASL_STATE: not a SASL listener
                elif asked in self.mechanisms:
                    code, mechanism = 0, asked
                else:
                    code = 33
                names = b"".join(kstr(m) for m in self.mechanisms)
                conn.sendall(framed(i32(cid) + i16(code) + i32(len(self.mechanisms)) + names))
            elif request.api_key == 36 and mechanism is not None:
                (length,) = struct.unpack_from(">i", request.body)
                token = request.body[4 : 4 + length]
                if mechanism == "OAUTHBEARER":
                    if oauth_failed:
                        assert token == b"\x01"
                        self.oauth_acks += 1
                        self._authenticate_answer(conn, request, 58, "Authentication failed", b"")
                        conn.close()  # as a broker ends a failed authentication
                        return
                    bearer = token.decode().split("auth=Bearer ")[1].rstrip("\x01")
                    if bearer in self.tokens:
                        authenticated = True
                        self._authenticate_answer(conn, request, 0, None, b"")
                    else:
                        oauth_failed = True
                        challenge = json.dumps({"status": "invalid_token"}).encode()
                        self._authenticate_answer(conn, request, 0, None, challenge)
                elif scram is None:
                    digest = "sha512" if mechanism == "SCRAM-SHA-512" else "sha256"
                    user = token.decode().split("n=")[1].split(",")[0]
                    if user not in self.users:
                        self._authenticate_answer(conn, request, 58, "unknown user", b"")
                        conn.close()  # as a broker ends a failed authentication
                        return
                    scram = ScramServer(self.users[user], digest)
                    _, server_first = scram.first(token)
                    self._authenticate_answer(conn, request, 0, None, server_first)
                else:
                    final = scram.final(token)
                    if final is None:
                        message = (
                            "Authentication failed during authentication due to invalid "
                            f"credentials with SASL mechanism {mechanism}"
                        )
                        self._authenticate_answer(conn, request, 58, message, b"")
                        conn.close()  # as a broker ends a failed authentication
                        return
                    if self.forge_signature:
                        final = b"v=" + base64.b64encode(b"\x01" * (len(final) * 3 // 4 - 2))
                    authenticated = True
                    self._authenticate_answer(conn, request, 0, None, final)
            elif request.api_key == 3 and authenticated:
                conn.sendall(framed(metadata_v4(cid, self.brokers)))
            else:
                # What a SASL listener does with any other request before authentication.
                conn.close()
                return

    def _authenticate_answer(
        self, conn: socket.socket, request: Request, code: int, message: str | None, data: bytes
    ) -> None:
        body = i32(request.correlation_id) + i16(code) + kstr(message) + kbytes(data)
        if request.version >= 1:
            body += i64(self.session_lifetime_ms)
        conn.sendall(framed(body))

    def kinds(self) -> list[tuple[int, int]]:
        return [(r.api_key, r.version) for r in self.requests]


def silent(conn: socket.socket) -> None:
    """Reads nothing, answers nothing: the server waits for the client to hang up."""


def fetch(
    server: Server,
    auth: Scram | OAuthBearer | None = None,
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str = BROKER_NAME,
    timeout: float = WAIT,
    deadline_in: float = 60.0,
    host: str = HOST,
    **kwargs: Any,
) -> MetadataResult:
    return fetch_metadata(
        host,
        server.port,
        tls=tls,
        server_hostname=server_hostname,
        auth=auth,
        timeout=timeout,
        deadline_at=time.monotonic() + deadline_in,
        **kwargs,
    )


def expected_view(port: int = 9096) -> dict[int, tuple[str, int]]:
    return {node: (host, port) for node, host, _, _ in THREE_BROKERS}


# ---------------------------------------------------------- fetch: success


def test_plaintext_without_auth_gives_the_advertised_brokers(
    serve: Callable[..., Server], opened: list[socket.socket]
) -> None:
    broker = FakeBroker()
    server = serve(broker)

    result = fetch(server, client_id=CLIENT_ID)

    assert result.advertised == expected_view()
    assert result.brokers[0].rack == "use1-az1"
    assert (result.cluster_id, result.controller_id) == ("kRaFtClUsTeRiDxx", 1)
    assert (result.connected_to, result.mechanism, result.session_lifetime_ms) == (HOST, None, None)
    assert broker.kinds() == [(18, 0), (3, 4)]
    assert broker.requests[1].body == i32(0) + b"\x00"
    assert {r.client_id for r in broker.requests} == {CLIENT_ID}
    assert [s.fileno() for s in opened] == [-1]
    server.wait_closed()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
def test_scram_authenticates_then_fetches(
    serve: Callable[..., Server], opened: list[socket.socket], mechanism: str
) -> None:
    broker = FakeBroker(mechanisms=("SCRAM-SHA-256", "SCRAM-SHA-512"))
    server = serve(broker)

    result = fetch(server, Scram("canary", "s3cret-Pa55", mechanism))

    assert result.advertised == expected_view()
    assert (result.mechanism, result.session_lifetime_ms) == (mechanism, 3_600_000)
    assert broker.kinds() == [(18, 0), (17, 1), (36, 1), (36, 1), (3, 4)]
    assert broker.requests[1].body == kstr(mechanism)
    assert [s.fileno() for s in opened] == [-1]


def test_saslauthenticate_v0_is_used_where_the_broker_has_no_v1(
    serve: Callable[..., Server],
) -> None:
    broker = FakeBroker(
        mechanisms=("SCRAM-SHA-512",), apis=((3, 0, 7), (17, 0, 1), (18, 0, 2), (36, 0, 0))
    )
    server = serve(broker)

    result = fetch(server, Scram("canary", "s3cret-Pa55"))

    assert result.session_lifetime_ms is None
    assert broker.kinds() == [(18, 0), (17, 1), (36, 0), (36, 0), (3, 4)]


def test_oauthbearer_sends_the_token_then_fetches(serve: Callable[..., Server]) -> None:
    broker = FakeBroker(mechanisms=("OAUTHBEARER",))
    server = serve(broker)

    result = fetch(server, OAuthBearer("good.token-1"))

    assert result.mechanism == "OAUTHBEARER"
    assert broker.requests[2].body == kbytes(b"n,,\x01auth=Bearer good.token-1\x01\x01")
    assert result.advertised == expected_view()


# --------------------------------------------------------- fetch: refusals


def test_a_wrong_scram_password_is_an_authentication_error_at_saslauthenticate(
    serve: Callable[..., Server], opened: list[socket.socket]
) -> None:
    broker = FakeBroker(mechanisms=("SCRAM-SHA-512",))
    server = serve(broker)

    with pytest.raises(AuthenticationError) as caught:
        fetch(server, Scram("canary", "not-the-password"))

    error = caught.value
    assert (error.step, error.stage) == (Step.KAFKA, Stage.SASL_AUTHENTICATE)
    assert "authentication failed (SCRAM-SHA-512)" in str(error)
    assert "invalid credentials" in error.detail
    assert str(error).startswith("kafka step, SaslAuthenticate: ")
    assert "not-the-password" not in str(error)
    assert (3, 4) not in broker.kinds()
    assert [s.fileno() for s in opened] == [-1]


def test_an_unknown_user_is_an_authentication_error(serve: Callable[..., Server]) -> None:
    server = serve(FakeBroker(mechanisms=("SCRAM-SHA-512",)))

    with pytest.raises(AuthenticationError, match="unknown user"):
        fetch(server, Scram("nobody", "s3cret-Pa55"))


def test_a_forged_server_signature_fails_but_not_as_an_authentication_error(
    serve: Callable[..., Server],
) -> None:
    broker = FakeBroker(mechanisms=("SCRAM-SHA-512",), forge_signature=True)
    server = serve(broker)

    with pytest.raises(MetadataFetchError, match="server signature does not match") as caught:
        fetch(server, Scram("canary", "s3cret-Pa55"))

    assert not isinstance(caught.value, AuthenticationError)
    assert caught.value.stage is Stage.SASL_AUTHENTICATE
    assert (3, 4) not in broker.kinds()


def test_an_invalid_token_is_acknowledged_then_an_authentication_error(
    serve: Callable[..., Server],
) -> None:
    broker = FakeBroker(mechanisms=("OAUTHBEARER",))
    server = serve(broker)

    with pytest.raises(AuthenticationError, match="'invalid_token'") as caught:
        fetch(server, OAuthBearer("expired.token"))

    assert "Authentication failed" in caught.value.detail
    assert broker.oauth_acks == 1


def test_a_mechanism_the_listener_does_not_enable_names_the_ones_it_does(
    serve: Callable[..., Server],
) -> None:
    server = serve(FakeBroker(mechanisms=("SCRAM-SHA-512", "OAUTHBEARER")))

    with pytest.raises(MetadataFetchError) as caught:
        fetch(server, Scram("canary", "s3cret-Pa55", "SCRAM-SHA-256"))

    assert caught.value.stage is Stage.SASL_HANDSHAKE
    assert "does not enable SCRAM-SHA-256 (it enables: SCRAM-SHA-512, OAUTHBEARER)" in str(
        caught.value
    )


def test_credentials_on_a_listener_without_sasl_fail_at_the_handshake(
    serve: Callable[..., Server],
) -> None:
    server = serve(FakeBroker())

    with pytest.raises(MetadataFetchError, match="ILLEGAL_SASL_STATE") as caught:
        fetch(server, Scram("canary", "s3cret-Pa55"))

    assert (caught.value.step, caught.value.stage) == (Step.KAFKA, Stage.SASL_HANDSHAKE)


def test_no_credentials_on_a_sasl_listener_fail_at_metadata_with_a_hint(
    serve: Callable[..., Server],
) -> None:
    server = serve(FakeBroker(mechanisms=("SCRAM-SHA-512",)))

    with pytest.raises(MetadataFetchError, match="no credentials given") as caught:
        fetch(server)

    assert caught.value.stage is Stage.METADATA
    assert caught.value.detail.startswith("connection closed after 0 byte(s) of the answer")


def test_a_broker_without_metadata_v4_is_named_and_not_asked(serve: Callable[..., Server]) -> None:
    broker = FakeBroker(apis=((3, 0, 3), (18, 0, 1)))
    server = serve(broker)

    with pytest.raises(MetadataFetchError, match="serves Metadata v0-v3, not v4"):
        fetch(server)

    assert broker.kinds() == [(18, 0)]


def test_a_broker_without_saslhandshake_v1_is_named(serve: Callable[..., Server]) -> None:
    server = serve(FakeBroker(mechanisms=("SCRAM-SHA-512",), apis=((3, 0, 12), (18, 0, 4))))

    with pytest.raises(MetadataFetchError, match="serves SaslHandshake not at all, not v1"):
        fetch(server, Scram("canary", "s3cret-Pa55"))


# ------------------------------------------------------- fetch: bad answers


def test_an_answer_cut_off_midway_fails_at_its_stage_and_closes_the_socket(
    serve: Callable[..., Server], opened: list[socket.socket]
) -> None:
    def cut_off(conn: socket.socket) -> None:
        request = read_request(conn)
        assert request is not None
        conn.sendall(framed(api_versions_v0(request.correlation_id, BROKER_APIS)))
        request = read_request(conn)
        assert request is not None
        answer = framed(metadata_v4(request.correlation_id, THREE_BROKERS))
        conn.sendall(answer[:40])
        conn.close()

    server = serve(cut_off)

    with pytest.raises(MetadataFetchError) as caught:
        fetch(server)

    assert (caught.value.step, caught.value.stage) == (Step.KAFKA, Stage.METADATA)
    assert "connection closed after 36 byte(s) of the answer" in caught.value.detail
    assert [s.fileno() for s in opened] == [-1]


def test_an_oversized_size_prefix_is_refused_before_reading_and_the_socket_closed(
    serve: Callable[..., Server], opened: list[socket.socket]
) -> None:
    def huge(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(i32(512 * 1024 * 1024) + b"\x00" * 16)

    server = serve(huge)

    with pytest.raises(MetadataFetchError, match="exceeds 1048576 bytes") as caught:
        fetch(server)

    assert caught.value.stage is Stage.API_VERSIONS
    assert [s.fileno() for s in opened] == [-1]
    server.wait_closed()


def test_a_smaller_response_bound_applies(serve: Callable[..., Server]) -> None:
    server = serve(FakeBroker())

    # ApiVersions' answer (34 bytes) fits, Metadata's for three brokers does not.
    with pytest.raises(MetadataFetchError, match="exceeds 64 bytes") as caught:
        fetch(server, max_response_bytes=64)

    assert caught.value.stage is Stage.METADATA


def test_a_silent_listener_times_out_within_the_step_budget(
    serve: Callable[..., Server], opened: list[socket.socket]
) -> None:
    server = serve(silent)

    started = time.monotonic()
    with pytest.raises(MetadataFetchError, match=r"no ApiVersions answer within 0\.3s") as caught:
        fetch(server, timeout=0.3)
    elapsed = time.monotonic() - started

    assert caught.value.step is Step.KAFKA
    assert elapsed < 3.0
    assert [s.fileno() for s in opened] == [-1]
    server.wait_closed()


def test_the_overall_deadline_cuts_the_step_budget(serve: Callable[..., Server]) -> None:
    server = serve(silent)

    started = time.monotonic()
    with pytest.raises(MetadataFetchError, match=r"within 0\.[234]s"):
        fetch(server, timeout=WAIT, deadline_in=0.3)

    assert time.monotonic() - started < 3.0


def test_a_passed_deadline_fails_before_connecting(serve: Callable[..., Server]) -> None:
    server = serve(FakeBroker())

    with pytest.raises(MetadataFetchError, match="deadline passed") as caught:
        fetch(server, deadline_in=-1.0)

    assert caught.value.step is Step.DNS
    assert server.accepted == 0


def test_a_correlation_id_from_another_request_is_refused(serve: Callable[..., Server]) -> None:
    def confused(conn: socket.socket) -> None:
        request = read_request(conn)
        assert request is not None
        conn.sendall(framed(api_versions_v0(request.correlation_id + 5, BROKER_APIS)))

    server = serve(confused)

    with pytest.raises(MetadataFetchError, match="answers no request of ours"):
        fetch(server)


def test_a_tls_alert_on_a_plaintext_connection_is_explained(serve: Callable[..., Server]) -> None:
    def tls_alert(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"\x15\x03\x03\x00\x02\x02\x46")

    server = serve(tls_alert)

    with pytest.raises(MetadataFetchError, match="TLS listener reached without TLS"):
        fetch(server)


# ----------------------------------------------------------- fetch: network


def test_nothing_listening_fails_at_tcp() -> None:
    probe = socket.create_server((HOST, 0))
    port = probe.getsockname()[1]
    probe.close()

    with pytest.raises(MetadataFetchError, match="connection refused") as caught:
        fetch_metadata(
            HOST,
            port,
            tls=None,
            server_hostname=HOST,
            auth=None,
            timeout=WAIT,
            deadline_at=time.monotonic() + 60,
        )

    assert (caught.value.step, caught.value.stage) == (Step.TCP, Stage.CONNECT)
    assert f"{HOST}:{port}" in caught.value.detail


def test_a_name_that_does_not_resolve_fails_at_dns(serve: Callable[..., Server]) -> None:
    server = serve(FakeBroker())

    def no_such_name(host: str, port: int, timeout: float) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(MetadataFetchError, match="does not resolve") as caught:
        fetch(server, host=BROKER_NAME, resolver=no_such_name)

    assert caught.value.step is Step.DNS


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA and a certificate it signs for BROKER_NAME."""
    directory = tmp_path_factory.mktemp("metadata-pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metadata test CA")])
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BROKER_NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(BROKER_NAME)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.pem", directory / "broker.pem", directory / "broker.key")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


def tls_server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return context


def test_over_tls_the_certificate_is_verified_against_the_server_hostname(
    serve: Callable[..., Server], pki: Pki
) -> None:
    broker = FakeBroker(mechanisms=("SCRAM-SHA-512",))
    server = serve(broker, tls_server_context(pki))
    client = ssl.create_default_context(cafile=str(pki.ca_file))

    # Connected to an address, the certificate checked against the broker name.
    result = fetch(server, Scram("canary", "s3cret-Pa55"), tls=client)

    assert result.advertised == expected_view()
    server.wait_closed()


def test_over_tls_a_certificate_for_another_name_fails_at_tls(
    serve: Callable[..., Server], pki: Pki
) -> None:
    server = serve(FakeBroker(), tls_server_context(pki))
    client = ssl.create_default_context(cafile=str(pki.ca_file))

    with pytest.raises(MetadataFetchError, match=r"b-1\.someone-else\.example\.com") as caught:
        fetch(server, tls=client, server_hostname="b-1.someone-else.example.com")

    assert (caught.value.step, caught.value.stage) == (Step.TLS, Stage.TLS)
    assert "certificate verification failed" in caught.value.detail


def test_invalid_arguments_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="timeout"):
        fetch_metadata(
            HOST, 9092, tls=None, server_hostname=HOST, auth=None, timeout=0, deadline_at=0
        )
    with pytest.raises(ValueError, match="port"):
        fetch_metadata(HOST, 0, tls=None, server_hostname=HOST, auth=None, timeout=1, deadline_at=0)


# ----------------------------------------------------------- compare_brokers


def test_views_that_agree_have_no_differences_whatever_the_case_or_trailing_dot() -> None:
    expected = {1: ("B-1.Example.COM.", 9096), 2: ("b-2.example.com", 9096)}
    advertised = {1: ("b-1.example.com", 9096), 2: ("b-2.example.com.", 9096)}

    assert compare_brokers(expected, advertised) == []


def test_every_difference_is_one_line_per_broker_by_node_id() -> None:
    expected = {
        1: ("b-1.example.com", 9096),
        2: ("b-2.example.com", 9096),
        3: ("b-3.example.com", 9096),
        4: ("b-4.example.com", 9096),
    }
    advertised = {
        1: ("b-1.example.com", 9196),
        2: ("b-2.other.example.com", 9096),
        3: ("ip-10-0-1-5.ec2.internal", 9092),
        5: ("b-5.example.com", 9096),
    }

    assert compare_brokers(expected, advertised) == [
        "broker 1: advertised at b-1.example.com:9196, expected b-1.example.com:9096 "
        "(port differs)",
        "broker 2: advertised at b-2.other.example.com:9096, expected b-2.example.com:9096 "
        "(host differs)",
        "broker 3: advertised at ip-10-0-1-5.ec2.internal:9092, expected b-3.example.com:9096 "
        "(host and port differ)",
        "broker 4: expected at b-4.example.com:9096, not advertised",
        "broker 5: advertised at b-5.example.com:9096, not expected",
    ]


def test_ipv6_hosts_are_shown_in_brackets() -> None:
    assert compare_brokers({}, {1: ("fd00::5", 9092)}) == [
        "broker 1: advertised at [fd00::5]:9092, not expected"
    ]


# ------------------------------------------------------------- shipped alone


def test_the_modules_run_on_the_standard_library_alone() -> None:
    """Imported from the layer with no site-packages at all, they load
    nothing but the connectivity package and the kernel's errors."""
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(LAYER)!r})\n"
        "import msk_privatelink.connectivity.bootstrap_metadata\n"
        "import msk_privatelink.connectivity.kafka_metadata\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names)\n"
        "print(json.dumps(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = json.loads(done.stdout.splitlines()[-1])

    assert {m.split(".")[1] for m in loaded if "." in m} <= {"connectivity", "kernel"}
    assert {m.split(".")[0] for m in loaded} <= {"__main__", "msk_privatelink"}
