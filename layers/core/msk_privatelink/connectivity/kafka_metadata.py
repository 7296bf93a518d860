"""The Kafka requests that fetch cluster metadata through a bootstrap address:
SASL authentication (SaslHandshake, SaslAuthenticate, with a SCRAM or an
OAUTHBEARER client) and Metadata. Bytes in, bytes out: no sockets here.

Versions, all non-flexible, so that no request or response carries tagged
fields or compact (varint) lengths and the encoding stays a few fixed-width
integers, strings and arrays (https://kafka.apache.org/protocol):

- SaslHandshake (api_key 17) v1: v0 framed the SASL tokens without Kafka
  headers; v1 (Kafka 1.0, KIP-152) moves them into SaslAuthenticate.
- SaslAuthenticate (api_key 36) v1, or v0 where a broker (before Kafka 2.2)
  has no v1: v1 is the highest non-flexible version (v2 is the first
  flexible one, and would need tagged fields and compact lengths) and adds
  the session lifetime to the response (KIP-368).
- Metadata (api_key 3) v4: served from Kafka 1.0 on; v9 and later are
  flexible. KIP-896 ("Remove old client protocol API versions in Kafka
  4.0", https://cwiki.apache.org/confluence/display/KAFKA/KIP-896) lists
  Metadata v0-v3 and SaslHandshake v0 for removal, so v4 and v1 are the
  oldest versions that stay whichever way it lands (a Kafka 4.0.0 broker,
  asked with ApiVersions, serves Metadata v0-v13, SaslHandshake v0-v1 and
  SaslAuthenticate v0-v2). Versions 5 to 8 only add partition and
  authorization fields this check never reads, and v4 is also answered by
  the 2.0-2.2 brokers that have no v8.

Framing: every request is an INT32 size, header v1 (INT16 api_key, INT16
api_version, INT32 correlation_id, NULLABLE_STRING client_id) and the body;
every response (of a non-flexible version) is an INT32 size, header v0
(INT32 correlation_id) and the body. Integers are big-endian and signed;
STRING is an INT16 length and UTF-8 bytes (-1: null, where nullable); BYTES
an INT32 length; ARRAY an INT32 count (-1: null).

SCRAM follows RFC 5802 (https://www.rfc-editor.org/rfc/rfc5802) with
SHA-256 (RFC 7677, https://www.rfc-editor.org/rfc/rfc7677) or SHA-512 as
Kafka names them (KIP-84); OAUTHBEARER's initial client response follows
RFC 7628 (https://www.rfc-editor.org/rfc/rfc7628) with a bearer token as
RFC 6750 defines it (https://www.rfc-editor.org/rfc/rfc6750).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import struct
from dataclasses import dataclass, field

from msk_privatelink.connectivity.kafka_wire import SIZE_PREFIX, KafkaWireError

SASL_HANDSHAKE_KEY = 17
SASL_HANDSHAKE_VERSION = 1
SASL_AUTHENTICATE_KEY = 36
# Highest first: the version a broker is asked for is the first it serves.
SASL_AUTHENTICATE_VERSIONS = (1, 0)
METADATA_KEY = 3
METADATA_VERSION = 4

# Metadata for no topics is a few dozen bytes per broker; 1 MiB is far
# beyond any cluster and far below what would hurt a small function.
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
# More brokers than any cluster has: a count above it is not metadata.
MAX_BROKERS = 10_000
MAX_MECHANISMS = 64
# A SASL token in either direction (an MSK IAM token is under 2 KiB).
MAX_AUTH_BYTES = 64 * 1024
_MAX_STRING = 0x7FFF

# The error codes the SASL and Metadata answers carry, by name, for reports
# (https://kafka.apache.org/protocol#protocol_error_codes).
ERROR_NAMES = {
    -1: "UNKNOWN_SERVER_ERROR",
    0: "NONE",
    33: "UNSUPPORTED_SASL_MECHANISM",
    34: "ILLEGAL_SASL_STATE",
    35: "UNSUPPORTED_VERSION",
    42: "INVALID_REQUEST",
    58: "SASL_AUTHENTICATION_FAILED",
}
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
_HEADER = struct.Struct(">hhi")


def error_name(code: int) -> str:
    return ERROR_NAMES.get(code, f"error {code}")


class SaslError(KafkaWireError):
    """A SASL exchange that breaks its mechanism's rules: a server that is not
    speaking the mechanism, or that cannot prove it knows the credentials."""


class AuthenticationFailedError(SaslError):
    """The server refused the credentials (wrong password, unknown user,
    invalid token)."""


# ------------------------------------------------------------------ encoding


def _string(value: str, what: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > _MAX_STRING:
        raise KafkaWireError(f"{what} of {len(raw)} bytes: at most {_MAX_STRING}")
    return _INT16.pack(len(raw)) + raw


def _request(
    api_key: int, api_version: int, correlation_id: int, client_id: str | None, body: bytes
) -> bytes:
    if not -(2**31) <= correlation_id < 2**31:
        raise KafkaWireError(f"correlation id {correlation_id} is not an INT32")
    client = _INT16.pack(-1) if client_id is None else _string(client_id, "client id")
    payload = _HEADER.pack(api_key, api_version, correlation_id) + client + body
    return SIZE_PREFIX.pack(len(payload)) + payload


def encode_sasl_handshake_request(
    correlation_id: int, client_id: str | None, mechanism: str
) -> bytes:
    """SaslHandshake v1: ``mechanism`` STRING. The whole request, size prefix included."""
    return _request(
        SASL_HANDSHAKE_KEY,
        SASL_HANDSHAKE_VERSION,
        correlation_id,
        client_id,
        _string(mechanism, "mechanism"),
    )


def encode_sasl_authenticate_request(
    correlation_id: int, client_id: str | None, auth_bytes: bytes, version: int = 1
) -> bytes:
    """SaslAuthenticate v0 or v1 (the same body): ``auth_bytes`` BYTES."""
    if version not in SASL_AUTHENTICATE_VERSIONS:
        raise KafkaWireError(f"SaslAuthenticate v{version}: only v0 and v1 are encoded here")
    if len(auth_bytes) > MAX_AUTH_BYTES:
        raise KafkaWireError(f"a SASL token of {len(auth_bytes)} bytes: at most {MAX_AUTH_BYTES}")
    body = _INT32.pack(len(auth_bytes)) + auth_bytes
    return _request(SASL_AUTHENTICATE_KEY, version, correlation_id, client_id, body)


def encode_metadata_request(correlation_id: int, client_id: str | None) -> bytes:
    """Metadata v4 for no topics: an empty ``topics`` array (a null one asks
    for every topic), ``allow_auto_topic_creation`` false."""
    body = _INT32.pack(0) + b"\x00"
    return _request(METADATA_KEY, METADATA_VERSION, correlation_id, client_id, body)


# ------------------------------------------------------------------ decoding


def response_size(prefix: bytes, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> int:
    """The payload size a response's 4-byte prefix announces, checked before
    anything more is read: at least a correlation id, at most ``max_bytes``."""
    if len(prefix) != SIZE_PREFIX.size:
        raise KafkaWireError(f"a size prefix has 4 bytes, got {len(prefix)}")
    (size,) = SIZE_PREFIX.unpack(prefix)
    if size < _INT32.size:
        raise KafkaWireError(
            f"announced response size {size} is below the 4 bytes of a correlation id "
            f"(first bytes {prefix!r})"
        )
    if size > max_bytes:
        raise KafkaWireError(
            f"announced response size {size} exceeds {max_bytes} bytes (first bytes {prefix!r})"
        )
    return int(size)


class _Reader:
    """A cursor over one response payload; every read is bounds-checked and
    names the field that did not fit."""

    def __init__(self, payload: bytes, what: str) -> None:
        self._data = memoryview(payload)
        self._offset = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def _take(self, count: int, field_name: str) -> bytes:
        if count > self.remaining:
            raise KafkaWireError(
                f"{self._what} truncated: {field_name} needs {count} bytes at offset "
                f"{self._offset}, {self.remaining} left"
            )
        chunk = self._data[self._offset : self._offset + count].tobytes()
        self._offset += count
        return chunk

    def skip(self, count: int, field_name: str) -> None:
        self._take(count, field_name)

    def int16(self, field_name: str) -> int:
        (value,) = _INT16.unpack(self._take(2, field_name))
        return int(value)

    def int32(self, field_name: str) -> int:
        (value,) = _INT32.unpack(self._take(4, field_name))
        return int(value)

    def int64(self, field_name: str) -> int:
        (value,) = _INT64.unpack(self._take(8, field_name))
        return int(value)

    def nullable_string(self, field_name: str) -> str | None:
        length = self.int16(f"{field_name} length")
        if length == -1:
            return None
        if length < 0:
            raise KafkaWireError(f"{self._what}: {field_name} has length {length}")
        raw = self._take(length, field_name)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise KafkaWireError(f"{self._what}: {field_name} is not UTF-8 ({exc})") from None

    def string(self, field_name: str) -> str:
        value = self.nullable_string(field_name)
        if value is None:
            raise KafkaWireError(
                f"{self._what}: {field_name} is null, the schema does not allow it"
            )
        return value

    def skip_string(self, field_name: str) -> None:
        length = self.int16(f"{field_name} length")
        if length < 0:
            raise KafkaWireError(f"{self._what}: {field_name} has length {length}")
        self.skip(length, field_name)

    def bytes_field(self, field_name: str, max_bytes: int) -> bytes:
        length = self.int32(f"{field_name} length")
        if length < 0:
            raise KafkaWireError(f"{self._what}: {field_name} has length {length}")
        if length > max_bytes:
            raise KafkaWireError(
                f"{self._what}: {field_name} of {length} bytes, at most {max_bytes}"
            )
        return self._take(length, field_name)

    def array_length(self, field_name: str, min_item_bytes: int, max_count: int) -> int:
        """A non-null array's count, refused when its items could not fit in
        what is left (so a count never makes anything allocate or loop long)."""
        count = self.int32(f"{field_name} count")
        if count < 0:
            raise KafkaWireError(
                f"{self._what}: {field_name} count {count} (null is not allowed here)"
            )
        if count > max_count:
            raise KafkaWireError(f"{self._what}: {count} {field_name}, at most {max_count}")
        if count * min_item_bytes > self.remaining:
            raise KafkaWireError(
                f"{self._what} truncated: {count} {field_name} need at least "
                f"{count * min_item_bytes} bytes, {self.remaining} left"
            )
        return count

    def correlation_id(self, expected: int | None) -> int:
        value = self.int32("correlation_id")
        if expected is not None and value != expected:
            raise KafkaWireError(
                f"{self._what}: correlation id {value} answers no request of ours (sent {expected})"
            )
        return value

    def finish(self) -> None:
        if self.remaining:
            raise KafkaWireError(
                f"{self._what}: {self.remaining} byte(s) left over after the last field"
            )


@dataclass(frozen=True)
class SaslHandshakeResponse:
    correlation_id: int
    error_code: int
    mechanisms: tuple[str, ...]

    @property
    def error_name(self) -> str:
        return error_name(self.error_code)


def decode_sasl_handshake_response(
    payload: bytes, expected_correlation_id: int | None = None
) -> SaslHandshakeResponse:
    """SaslHandshake v1 (header v0): INT16 error_code, ARRAY of STRING
    mechanisms (the ones the listener enables)."""
    reader = _Reader(payload, "SaslHandshake response")
    correlation_id = reader.correlation_id(expected_correlation_id)
    error_code = reader.int16("error_code")
    count = reader.array_length("mechanisms", 2, MAX_MECHANISMS)
    mechanisms = tuple(reader.string("mechanism") for _ in range(count))
    reader.finish()
    return SaslHandshakeResponse(correlation_id, error_code, mechanisms)


@dataclass(frozen=True)
class SaslAuthenticateResponse:
    correlation_id: int
    error_code: int
    error_message: str | None
    auth_bytes: bytes
    # v1 only: how long the session may last before the client must
    # re-authenticate (0: no limit); None in a v0 answer.
    session_lifetime_ms: int | None

    @property
    def error_name(self) -> str:
        return error_name(self.error_code)


def decode_sasl_authenticate_response(
    payload: bytes, expected_correlation_id: int | None = None, version: int = 1
) -> SaslAuthenticateResponse:
    """SaslAuthenticate v0/v1 (header v0): INT16 error_code, NULLABLE_STRING
    error_message, BYTES auth_bytes, and in v1 INT64 session_lifetime_ms."""
    if version not in SASL_AUTHENTICATE_VERSIONS:
        raise KafkaWireError(f"SaslAuthenticate v{version}: only v0 and v1 are decoded here")
    reader = _Reader(payload, f"SaslAuthenticate v{version} response")
    correlation_id = reader.correlation_id(expected_correlation_id)
    error_code = reader.int16("error_code")
    error_message = reader.nullable_string("error_message")
    auth_bytes = reader.bytes_field("auth_bytes", MAX_AUTH_BYTES)
    lifetime = reader.int64("session_lifetime_ms") if version >= 1 else None
    reader.finish()
    return SaslAuthenticateResponse(correlation_id, error_code, error_message, auth_bytes, lifetime)


@dataclass(frozen=True)
class MetadataBroker:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True)
class MetadataResponse:
    correlation_id: int
    throttle_time_ms: int
    brokers: tuple[MetadataBroker, ...]
    cluster_id: str | None
    controller_id: int
    # Topics are walked and checked, never kept: none were asked for.
    topic_count: int

    @property
    def advertised(self) -> dict[int, tuple[str, int]]:
        """Node id -> (host, port), as a client bootstrapping here learns them."""
        return {b.node_id: (b.host, b.port) for b in self.brokers}


# The smallest encodings of the Metadata v4 arrays' items.
_BROKER_MIN = 4 + 2 + 4 + 2  # node_id, empty host, port, null rack
_TOPIC_MIN = 2 + 2 + 1 + 4  # error_code, empty name, is_internal, no partitions
_PARTITION_MIN = 2 + 4 + 4 + 4 + 4  # error_code, index, leader, two empty arrays


def decode_metadata_response(
    payload: bytes, expected_correlation_id: int | None = None
) -> MetadataResponse:
    """Metadata v4 (header v0): INT32 throttle_time_ms; brokers ARRAY of
    [INT32 node_id, STRING host, INT32 port, NULLABLE_STRING rack];
    NULLABLE_STRING cluster_id; INT32 controller_id; topics ARRAY of
    [INT16 error_code, STRING name, BOOLEAN is_internal, partitions ARRAY of
    [INT16 error_code, INT32 partition_index, INT32 leader_id,
    ARRAY INT32 replica_nodes, ARRAY INT32 isr_nodes]].

    Every byte must be accounted for; the topics are walked, not kept.
    """
    reader = _Reader(payload, "Metadata v4 response")
    correlation_id = reader.correlation_id(expected_correlation_id)
    throttle_time_ms = reader.int32("throttle_time_ms")
    count = reader.array_length("brokers", _BROKER_MIN, MAX_BROKERS)
    brokers: list[MetadataBroker] = []
    seen: set[int] = set()
    for _ in range(count):
        node_id = reader.int32("node_id")
        host = reader.string("host")
        port = reader.int32("port")
        rack = reader.nullable_string("rack")
        if node_id in seen:
            raise KafkaWireError(f"Metadata v4 response: broker {node_id} is listed twice")
        if not 0 <= port <= 0xFFFF:
            raise KafkaWireError(f"Metadata v4 response: broker {node_id} has port {port}")
        seen.add(node_id)
        brokers.append(MetadataBroker(node_id, host, port, rack))
    cluster_id = reader.nullable_string("cluster_id")
    controller_id = reader.int32("controller_id")
    topic_count = reader.array_length("topics", _TOPIC_MIN, 2**31 - 1)
    for _ in range(topic_count):
        reader.skip(2, "topic error_code")
        reader.skip_string("topic name")
        reader.skip(1, "is_internal")
        partitions = reader.array_length("partitions", _PARTITION_MIN, 2**31 - 1)
        for _ in range(partitions):
            reader.skip(2 + 4 + 4, "partition error_code, index and leader")
            for nodes in ("replica_nodes", "isr_nodes"):
                reader.skip(4 * reader.array_length(nodes, 4, 2**31 - 1), nodes)
    reader.finish()
    return MetadataResponse(
        correlation_id=correlation_id,
        throttle_time_ms=throttle_time_ms,
        brokers=tuple(brokers),
        cluster_id=cluster_id,
        controller_id=controller_id,
        topic_count=topic_count,
    )


# ---------------------------------------------------------------------- SASL

# Kafka's names (KIP-84) -> hashlib's; both hashes are in every OpenSSL build.
SCRAM_MECHANISMS = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
OAUTHBEARER = "OAUTHBEARER"
# Kafka refuses SCRAM credentials outside 4096..16384 iterations
# (org.apache.kafka.common.security.scram.internals.ScramMechanism), so a
# server asking for fewer weakens the password hash and one asking for more
# is not a Kafka broker (and would only burn this function's CPU time).
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
# A SCRAM message is a few hundred bytes.
_MAX_SCRAM_MESSAGE = 4096
_GS2_HEADER = "n,,"  # no channel binding, no authorization identity


@dataclass(frozen=True)
class Scram:
    """SCRAM credentials; the password never appears in a repr."""

    username: str
    password: str = field(repr=False)
    mechanism: str = "SCRAM-SHA-512"

    def __post_init__(self) -> None:
        if self.mechanism not in SCRAM_MECHANISMS:
            raise ValueError(
                f"SCRAM mechanism {self.mechanism!r}: one of {', '.join(sorted(SCRAM_MECHANISMS))}"
            )
        if not self.username:
            raise ValueError("a SCRAM user name is required")
        if not self.password:
            raise ValueError("a SCRAM password is required")


# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
# / "+" / "/" ) *"=". Kafka's broker accepts the base64url subset of it,
# which is what an MSK IAM token is.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MAX_TOKEN_CHARS = 16 * 1024


@dataclass(frozen=True)
class OAuthBearer:
    """A bearer token (an MSK IAM token, built by the caller); never in a repr."""

    token: str = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.token) > MAX_TOKEN_CHARS:
            raise ValueError(f"a bearer token of {len(self.token)} characters: at most 16384")
        if not _B64TOKEN.fullmatch(self.token):
            raise ValueError("the bearer token is not an RFC 6750 b64token")

    @property
    def mechanism(self) -> str:
        return OAUTHBEARER


def oauthbearer_initial_response(token: str) -> bytes:
    """RFC 7628 section 3.1: ``gs2-header kvsep "auth=Bearer " token kvsep
    kvsep``, with the gs2-header ``n,,`` and kvsep %x01."""
    checked = OAuthBearer(token).token
    return f"{_GS2_HEADER}\x01auth=Bearer {checked}\x01\x01".encode("ascii")


# RFC 7628 section 3.2.3: after an error challenge the client answers a
# single kvsep, and the server then fails the exchange.
OAUTHBEARER_ERROR_ACK = b"\x01"


def oauthbearer_error(challenge: bytes) -> str:
    """The ``status`` of an RFC 7628 section 3.2.2 error challenge (a JSON
    object), or the challenge itself, shortened, when it is not one."""
    text = challenge[:2048].decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(data, dict) and isinstance(data.get("status"), str):
        return str(data["status"])[:200]
    return text[:200]


def _saslname(username: str) -> str:
    # RFC 5802 section 5.1: "=" and "," are escaped as =3D and =2C.
    return username.replace("=", "=3D").replace(",", "=2C")


_PRINTABLE_NONCE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")  # printable ASCII but ","


class ScramClient:
    """The client side of one SCRAM exchange (RFC 5802 section 3):
    ``client_first()``, then ``client_final(server_first)``, then
    ``verify_server_final(server_final)``.

    The password is hashed as its UTF-8 bytes, without SASLprep: that is
    how Kafka stores SCRAM credentials (ScramFormatter.normalize), so it is
    what a Kafka broker verifies; for ASCII passwords the two agree.
    """

    def __init__(self, credentials: Scram, *, nonce: str | None = None) -> None:
        self._credentials = credentials
        self._digest = SCRAM_MECHANISMS[credentials.mechanism]
        # 24 random bytes, base64url: printable, no ",", as section 5.1 asks.
        self._nonce = secrets.token_urlsafe(24) if nonce is None else nonce
        if not _PRINTABLE_NONCE.fullmatch(self._nonce):
            raise ValueError("a SCRAM nonce is printable ASCII without ','")
        self._first_bare = f"n={_saslname(credentials.username)},r={self._nonce}"
        self._server_signature: bytes | None = None

    @property
    def mechanism(self) -> str:
        return self._credentials.mechanism

    def client_first(self) -> bytes:
        return (_GS2_HEADER + self._first_bare).encode("utf-8")

    def client_final(self, server_first: bytes) -> bytes:
        """Checks the server-first-message and answers it with the proof."""
        text = _scram_text(server_first, "server-first-message")
        attributes = _scram_attributes(text, "server-first-message")
        if attributes and attributes[0][0] == "m":
            raise SaslError(
                "the server-first-message has a mandatory extension (m=) we do not know"
            )
        # r, s and i in this order; extensions may follow (section 7).
        if [key for key, _ in attributes[:3]] != ["r", "s", "i"]:
            raise SaslError(f"the server-first-message is not r=...,s=...,i=...: {text[:120]!r}")
        (_, nonce), (_, salt_b64), (_, count) = attributes[:3]
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SaslError(
                "the server nonce does not extend ours: an answer to another exchange, or a "
                "server replaying one"
            )
        if not _PRINTABLE_NONCE.fullmatch(nonce):
            raise SaslError("the server nonce is not printable ASCII")
        try:
            salt = base64.b64decode(salt_b64, validate=True)
        except (binascii.Error, ValueError):
            raise SaslError("the salt in the server-first-message is not base64") from None
        if not salt:
            raise SaslError("the server-first-message has an empty salt")
        if not count.isascii() or not count.isdigit() or len(count) > 9:
            raise SaslError(f"iteration count {count[:12]!r} is not a number")
        iterations = int(count)
        if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
            raise SaslError(
                f"iteration count {iterations}: the server must ask for {MIN_ITERATIONS} to "
                f"{MAX_ITERATIONS}"
            )
        salted = hashlib.pbkdf2_hmac(
            self._digest, self._credentials.password.encode("utf-8"), salt, iterations
        )
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self._digest, client_key).digest()
        without_proof = f"c={_b64(_GS2_HEADER.encode('ascii'))},r={nonce}"
        auth_message = f"{self._first_bare},{text},{without_proof}".encode()
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={_b64(proof)}".encode("ascii")

    def verify_server_final(self, server_final: bytes) -> None:
        """Accepts only a server-final-message proving the server knows the
        credentials (section 3: the ServerSignature); ``e=`` is a refusal."""
        if self._server_signature is None:
            raise SaslError("server-final-message before the client-final-message")
        text = _scram_text(server_final, "server-final-message")
        attributes = _scram_attributes(text, "server-final-message")
        key, value = attributes[0]
        if key == "e":
            raise AuthenticationFailedError(f"authentication failed: the server answered {value}")
        if key != "v":
            raise SaslError(f"the server-final-message is neither v= nor e=: {text[:120]!r}")
        try:
            verifier = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SaslError("the server signature is not base64") from None
        if not hmac.compare_digest(verifier, self._server_signature):
            raise SaslError(
                "the server signature does not match: the server does not hold this user's "
                "credentials, or something between us altered the exchange"
            )

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self._digest).digest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _scram_text(message: bytes, what: str) -> str:
    if len(message) > _MAX_SCRAM_MESSAGE:
        raise SaslError(f"a {what} of {len(message)} bytes: not SCRAM")
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError(f"the {what} is not UTF-8: not SCRAM") from None


def _scram_attributes(text: str, what: str) -> list[tuple[str, str]]:
    """``a=value`` pairs in order (RFC 5802 section 7); a value may hold "="."""
    attributes: list[tuple[str, str]] = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=" or not part[0].isascii() or not part[0].isalpha():
            raise SaslError(f"the {what} is not SCRAM attributes: {text[:120]!r}")
        attributes.append((part[0], part[2:]))
    return attributes
