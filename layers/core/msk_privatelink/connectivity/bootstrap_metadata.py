"""Cluster metadata as a client learns it through a bootstrap address.

One connection: resolve the name, connect, TLS when asked for (verifying
the certificate against ``server_hostname``), ApiVersions v0 (answered
before authentication; it tells which SASL and Metadata versions the broker
serves), SaslHandshake and SaslAuthenticate when credentials are given, then
Metadata for no topics. The brokers it lists (node id, host, port) are what
every client of that listener connects to next, so comparing them with the
expected view (:func:`compare_brokers`) shows a listener advertising the
wrong names or ports.

Every step has a budget (the per-step timeout, cut short by the overall
deadline), every answer's size is checked before it is read, and the socket
is closed before the function returns, whatever happened. Standard library
only, like the rest of ``connectivity``.
"""

from __future__ import annotations

import errno
import random
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from msk_privatelink.connectivity.kafka_metadata import (
    DEFAULT_MAX_RESPONSE_BYTES,
    ILLEGAL_SASL_STATE,
    METADATA_KEY,
    METADATA_VERSION,
    OAUTHBEARER_ERROR_ACK,
    SASL_AUTHENTICATE_KEY,
    SASL_AUTHENTICATE_VERSIONS,
    SASL_AUTHENTICATION_FAILED,
    SASL_HANDSHAKE_KEY,
    SASL_HANDSHAKE_VERSION,
    UNSUPPORTED_SASL_MECHANISM,
    AuthenticationFailedError,
    MetadataBroker,
    MetadataResponse,
    OAuthBearer,
    SaslAuthenticateResponse,
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
from msk_privatelink.connectivity.kafka_wire import (
    SIZE_PREFIX,
    ApiVersionRange,
    ApiVersionsResponse,
    KafkaWireError,
    decode_api_versions_response,
    encode_api_versions_request,
)
from msk_privatelink.connectivity.probe import Route, direct, normalize_address, resolve
from msk_privatelink.connectivity.results import Step

__all__ = [
    "CLIENT_ID",
    "AuthenticationError",
    "MetadataBroker",
    "MetadataFetchError",
    "MetadataResult",
    "OAuthBearer",
    "Scram",
    "Stage",
    "compare_brokers",
    "fetch_metadata",
]

CLIENT_ID = "msk-privatelink-canary"
# The longest error text from a broker kept in a report.
_MAX_SERVER_TEXT = 300

T = TypeVar("T")
# (host, port, timeout in seconds) -> the addresses the name resolves to.
Resolver = Callable[[str, int, float], Sequence[str]]
Clock = Callable[[], float]


class Stage(StrEnum):
    """Where in the exchange a fetch stopped, finer than :class:`Step`."""

    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    API_VERSIONS = "ApiVersions"
    SASL_HANDSHAKE = "SaslHandshake"
    SASL_AUTHENTICATE = "SaslAuthenticate"
    METADATA = "Metadata"

    @property
    def step(self) -> Step:
        """The connectivity check's step this stage belongs to: everything
        after the handshakes is Kafka's."""
        return {Stage.DNS: Step.DNS, Stage.CONNECT: Step.TCP, Stage.TLS: Step.TLS}.get(
            self, Step.KAFKA
        )


class MetadataFetchError(Exception):
    """The fetch failed at ``stage`` (in the check's ``step``) for ``detail``."""

    def __init__(self, stage: Stage, detail: str) -> None:
        super().__init__(f"{stage.step.value} step, {stage.value}: {detail}")
        self.stage = stage
        self.step = stage.step
        self.detail = detail


class AuthenticationError(MetadataFetchError):
    """The broker refused the credentials (wrong password, unknown user,
    invalid token): the listener is reachable, the secret is not right."""


@dataclass(frozen=True)
class MetadataResult:
    brokers: tuple[MetadataBroker, ...]
    cluster_id: str | None
    controller_id: int
    connected_to: str
    # The SASL mechanism used, None without authentication.
    mechanism: str | None = None
    # SaslAuthenticate v1's session lifetime (0: none); None when not known.
    session_lifetime_ms: int | None = None
    elapsed_ms: int = 0

    @property
    def advertised(self) -> dict[int, tuple[str, int]]:
        """Node id -> (host, port): the input :func:`compare_brokers` takes."""
        return {b.node_id: (b.host, b.port) for b in self.brokers}


def fetch_metadata(
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None,
    server_hostname: str,
    auth: Scram | OAuthBearer | None,
    timeout: float,
    deadline_at: float,
    clock: Clock = time.monotonic,
    client_id: str = CLIENT_ID,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    resolver: Resolver = resolve,
    route: Route = direct,
) -> MetadataResult:
    """The brokers advertised through ``host:port``.

    ``timeout`` bounds each step (resolving, connecting, the TLS handshake,
    each request's answer); ``deadline_at`` (on ``clock``) bounds them all.
    ``server_hostname`` is the name the broker's certificate must carry,
    whatever ``host`` is (through an interface endpoint, an address or a
    name no certificate lists). ``route`` maps each resolved address and
    port to where the connection goes (the network between, as the probes
    take it). Raises
    :class:`MetadataFetchError` (:class:`AuthenticationError` for refused
    credentials) naming the stage and step that failed.
    """
    if not timeout > 0:
        raise ValueError(f"timeout {timeout}: more than 0 is required")
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    fetch = _Fetch(
        timeout=timeout,
        deadline_at=deadline_at,
        clock=clock,
        client_id=client_id,
        max_response_bytes=max_response_bytes,
        uses_tls=tls is not None,
        has_auth=auth is not None,
    )
    started = clock()
    try:
        fetch.connect(host, port, resolver, route)
        if tls is not None:
            fetch.handshake(tls, server_hostname)
        versions = fetch.api_versions()
        lifetime = None if auth is None else fetch.authenticate(auth, versions)
        response = fetch.metadata(versions)
    finally:
        fetch.close()
    assert fetch.connected_to is not None
    return MetadataResult(
        brokers=response.brokers,
        cluster_id=response.cluster_id,
        controller_id=response.controller_id,
        connected_to=fetch.connected_to,
        mechanism=None if auth is None else _mechanism(auth),
        session_lifetime_ms=lifetime,
        elapsed_ms=round((clock() - started) * 1000),
    )


def compare_brokers(
    expected: Mapping[int, tuple[str, int]], advertised: Mapping[int, tuple[str, int]]
) -> list[str]:
    """What differs between two views of node id -> (host, port), one line
    per broker, by node id; empty when they agree. Host names compare as
    DNS does: case-insensitively, a trailing dot ignored."""
    differences: list[str] = []
    for node_id in sorted(set(expected) | set(advertised)):
        want, got = expected.get(node_id), advertised.get(node_id)
        if got is None:
            assert want is not None
            differences.append(f"broker {node_id}: expected at {_endpoint(want)}, not advertised")
        elif want is None:
            differences.append(f"broker {node_id}: advertised at {_endpoint(got)}, not expected")
        else:
            host_differs = _host_key(want[0]) != _host_key(got[0])
            port_differs = want[1] != got[1]
            if host_differs or port_differs:
                what = " and ".join(
                    name
                    for name, differs in (("host", host_differs), ("port", port_differs))
                    if differs
                )
                differences.append(
                    f"broker {node_id}: advertised at {_endpoint(got)}, expected "
                    f"{_endpoint(want)} ({what} differ{'' if what == 'host and port' else 's'})"
                )
    return differences


def _host_key(host: str) -> str:
    return host.lower().removesuffix(".")


def _endpoint(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _mechanism(auth: Scram | OAuthBearer) -> str:
    return auth.mechanism


class _ClosedError(Exception):
    def __init__(self, received: int) -> None:
        super().__init__(f"closed after {received} bytes")
        self.received = received


class _Fetch:
    """One connection's state: the socket, the budget, the next correlation id."""

    def __init__(
        self,
        *,
        timeout: float,
        deadline_at: float,
        clock: Clock,
        client_id: str,
        max_response_bytes: int,
        uses_tls: bool,
        has_auth: bool,
    ) -> None:
        self.timeout = timeout
        self.deadline_at = deadline_at
        self.clock = clock
        self.client_id = client_id
        self.max_response_bytes = max_response_bytes
        self.uses_tls = uses_tls
        self.has_auth = has_auth
        self.conn: socket.socket | None = None
        self.connected_to: str | None = None
        # Random start: an answer left over from another connection (a
        # confused proxy) cannot match by accident.
        self._correlation_id = random.randrange(1, 2**31 - 1024)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def budget(self, stage: Stage) -> float:
        left = self.deadline_at - self.clock()
        if left <= 0:
            raise MetadataFetchError(stage, "the overall deadline passed before this step")
        return min(self.timeout, left)

    def next_correlation_id(self) -> int:
        self._correlation_id += 1
        return self._correlation_id

    # ------------------------------------------------------- DNS, TCP, TLS

    def connect(self, host: str, port: int, resolver: Resolver, route: Route) -> None:
        budget = self.budget(Stage.DNS)
        try:
            answers = resolver(host, port, budget)
        except TimeoutError as exc:
            raise MetadataFetchError(Stage.DNS, f"{host}: {exc}") from exc
        except socket.gaierror as exc:
            raise MetadataFetchError(
                Stage.DNS, f"{host} does not resolve: {exc.strerror or exc}"
            ) from exc
        except OSError as exc:
            raise MetadataFetchError(Stage.DNS, f"{host} does not resolve: {exc}") from exc
        addresses = list(dict.fromkeys(normalize_address(a) for a in answers))
        if not addresses:
            raise MetadataFetchError(Stage.DNS, f"{host} resolves to no address")
        failures: list[str] = []
        for address in addresses:
            budget = self.budget(Stage.CONNECT)
            try:
                # The address is literal: create_connection resolves nothing more.
                self.conn = socket.create_connection(route(address, port), timeout=budget)
            except TimeoutError:
                failures.append(f"{address}: no answer within {budget:.1f}s")
            except ConnectionRefusedError:
                failures.append(f"{address}: connection refused")
            except OSError as exc:
                failures.append(f"{address}: {_os_reason(exc)}")
            else:
                self.connected_to = address
                return
        raise MetadataFetchError(
            Stage.CONNECT, f"cannot connect to {_endpoint((host, port))}: {'; '.join(failures)}"
        )

    def handshake(self, context: ssl.SSLContext, server_hostname: str) -> None:
        assert self.conn is not None
        budget = self.budget(Stage.TLS)
        # wrap_socket takes the descriptor over; close() closes the wrapper.
        wrapped = context.wrap_socket(
            self.conn, server_hostname=server_hostname, do_handshake_on_connect=False
        )
        self.conn = wrapped
        try:
            wrapped.settimeout(budget)
            wrapped.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            message = exc.verify_message or exc.reason or str(exc)
            raise MetadataFetchError(
                Stage.TLS, f"certificate verification failed for {server_hostname}: {message}"
            ) from exc
        except ssl.SSLError as exc:
            raise MetadataFetchError(
                Stage.TLS, f"TLS handshake failed: {exc.reason or exc}"
            ) from exc
        except TimeoutError as exc:
            raise MetadataFetchError(
                Stage.TLS, f"no TLS handshake within {budget:.1f}s (a plaintext listener?)"
            ) from exc
        except OSError as exc:
            raise MetadataFetchError(
                Stage.TLS,
                f"connection closed during the TLS handshake ({_os_reason(exc)}): a plaintext "
                "listener?",
            ) from exc

    # ------------------------------------------------------------- Kafka

    def call(self, stage: Stage, request: bytes, decode: Callable[[bytes], T]) -> T:
        """Sends one request and decodes its answer, every failure named by ``stage``."""
        assert self.conn is not None
        budget = self.budget(stage)
        until = self.clock() + budget
        prefix = b""
        try:
            self.conn.settimeout(budget)
            self.conn.sendall(request)
            prefix = self._read_exact(SIZE_PREFIX.size, until)
            payload = self._read_exact(response_size(prefix, self.max_response_bytes), until)
            return decode(payload)
        except ssl.SSLError as exc:
            # TLS 1.3 refuses a client certificate after the client's handshake ended.
            raise MetadataFetchError(
                Stage.TLS, f"TLS failed during {stage.value}: {exc.reason or exc}"
            ) from exc
        except KafkaWireError as exc:
            if not self.uses_tls and prefix[:2] == b"\x15\x03":
                # A TLS record header: content type 21 (alert), version 3.x.
                detail = (
                    "the listener answered with a TLS alert: a TLS listener reached without TLS?"
                )
            else:
                detail = f"not a {stage.value} answer: {exc}"
            raise MetadataFetchError(stage, detail) from exc
        except _ClosedError as exc:
            raise MetadataFetchError(
                stage,
                f"connection closed after {exc.received} byte(s) of the answer{self._hint(stage)}",
            ) from exc
        except TimeoutError as exc:
            raise MetadataFetchError(
                stage, f"no {stage.value} answer within {budget:.1f}s{self._hint(stage)}"
            ) from exc
        except OSError as exc:
            raise MetadataFetchError(
                stage, f"connection lost during {stage.value}: {_os_reason(exc)}"
            ) from exc

    def _hint(self, stage: Stage) -> str:
        if not self.uses_tls and stage is Stage.API_VERSIONS:
            return " (a TLS listener reached without TLS?)"
        if not self.has_auth and stage is Stage.METADATA:
            # A SASL listener closes the connection on any request but
            # ApiVersions and SaslHandshake before authentication.
            return " (a SASL listener, and no credentials given?)"
        return ""

    def _read_exact(self, count: int, until: float) -> bytes:
        assert self.conn is not None
        data = bytearray()
        while len(data) < count:
            left = until - self.clock()
            if left <= 0:
                raise TimeoutError
            self.conn.settimeout(left)
            chunk = self.conn.recv(min(count - len(data), 65536))
            if not chunk:
                raise _ClosedError(len(data))
            data += chunk
        return bytes(data)

    def api_versions(self) -> ApiVersionsResponse:
        correlation_id = self.next_correlation_id()
        response = self.call(
            Stage.API_VERSIONS,
            encode_api_versions_request(correlation_id, self.client_id),
            lambda payload: decode_api_versions_response(payload, correlation_id),
        )
        if response.error_code != 0:
            raise MetadataFetchError(
                Stage.API_VERSIONS,
                f"ApiVersions answered error_code {response.error_code} ({response.error_name})",
            )
        return response

    def metadata(self, versions: ApiVersionsResponse) -> MetadataResponse:
        _require(versions, Stage.METADATA, METADATA_KEY, METADATA_VERSION)
        correlation_id = self.next_correlation_id()
        return self.call(
            Stage.METADATA,
            encode_metadata_request(correlation_id, self.client_id),
            lambda payload: decode_metadata_response(payload, correlation_id),
        )

    # --------------------------------------------------------------- SASL

    def authenticate(self, auth: Scram | OAuthBearer, versions: ApiVersionsResponse) -> int | None:
        """SaslHandshake, then the mechanism's exchange; the session
        lifetime the broker gives (None from a v0 answer)."""
        _require(versions, Stage.SASL_HANDSHAKE, SASL_HANDSHAKE_KEY, SASL_HANDSHAKE_VERSION)
        served = versions.range_of(SASL_AUTHENTICATE_KEY)
        version = next(
            (
                v
                for v in SASL_AUTHENTICATE_VERSIONS
                if served is not None and served.min_version <= v <= served.max_version
            ),
            None,
        )
        if version is None:
            raise MetadataFetchError(
                Stage.SASL_AUTHENTICATE,
                f"the broker serves SaslAuthenticate {_range(served)}, not v0 or v1",
            )
        mechanism = _mechanism(auth)
        correlation_id = self.next_correlation_id()
        handshake = self.call(
            Stage.SASL_HANDSHAKE,
            encode_sasl_handshake_request(correlation_id, self.client_id, mechanism),
            lambda payload: decode_sasl_handshake_response(payload, correlation_id),
        )
        if handshake.error_code == UNSUPPORTED_SASL_MECHANISM:
            enabled = ", ".join(handshake.mechanisms) or "none"
            raise MetadataFetchError(
                Stage.SASL_HANDSHAKE,
                f"the listener does not enable {mechanism} (it enables: {enabled})",
            )
        if handshake.error_code == ILLEGAL_SASL_STATE:
            raise MetadataFetchError(
                Stage.SASL_HANDSHAKE,
                "ILLEGAL_SASL_STATE: the listener does not authenticate with SASL "
                "(a plaintext, TLS or mutual-TLS listener?)",
            )
        if handshake.error_code != 0:
            raise MetadataFetchError(
                Stage.SASL_HANDSHAKE,
                f"SaslHandshake answered error_code {handshake.error_code} "
                f"({handshake.error_name})",
            )
        if isinstance(auth, Scram):
            return self._scram(auth, version)
        return self._oauthbearer(auth, version)

    def _scram(self, auth: Scram, version: int) -> int | None:
        client = ScramClient(auth)
        first = self._sasl_authenticate(client.client_first(), version, auth.mechanism)
        try:
            final = client.client_final(first.auth_bytes)
        except SaslError as exc:
            raise MetadataFetchError(Stage.SASL_AUTHENTICATE, f"{auth.mechanism}: {exc}") from exc
        last = self._sasl_authenticate(final, version, auth.mechanism)
        try:
            client.verify_server_final(last.auth_bytes)
        except AuthenticationFailedError as exc:
            raise AuthenticationError(
                Stage.SASL_AUTHENTICATE, f"{exc} ({auth.mechanism}, user {auth.username})"
            ) from exc
        except SaslError as exc:
            raise MetadataFetchError(Stage.SASL_AUTHENTICATE, f"{auth.mechanism}: {exc}") from exc
        return last.session_lifetime_ms

    def _oauthbearer(self, auth: OAuthBearer, version: int) -> int | None:
        answer = self._sasl_authenticate(
            oauthbearer_initial_response(auth.token), version, auth.mechanism
        )
        if not answer.auth_bytes:
            return answer.session_lifetime_ms
        # RFC 7628 section 3.2.2: a challenge after the initial response is
        # an error; the client acknowledges it and the server then fails
        # the exchange, with its own message.
        status = oauthbearer_error(answer.auth_bytes)
        reason = f"the server answered status {status!r}"
        try:
            self._sasl_authenticate(OAUTHBEARER_ERROR_ACK, version, auth.mechanism)
        except AuthenticationError as exc:
            reason = f"{reason}; {exc.detail}"
        except MetadataFetchError:
            pass  # the refusal is known already; how the server ended it is not needed
        raise AuthenticationError(
            Stage.SASL_AUTHENTICATE, f"authentication failed ({auth.mechanism}): {reason}"
        )

    def _sasl_authenticate(
        self, auth_bytes: bytes, version: int, mechanism: str
    ) -> SaslAuthenticateResponse:
        correlation_id = self.next_correlation_id()
        answer = self.call(
            Stage.SASL_AUTHENTICATE,
            encode_sasl_authenticate_request(correlation_id, self.client_id, auth_bytes, version),
            lambda payload: decode_sasl_authenticate_response(payload, correlation_id, version),
        )
        message = (answer.error_message or "no message")[:_MAX_SERVER_TEXT]
        if answer.error_code == SASL_AUTHENTICATION_FAILED:
            raise AuthenticationError(
                Stage.SASL_AUTHENTICATE, f"authentication failed ({mechanism}): {message}"
            )
        if answer.error_code != 0:
            raise MetadataFetchError(
                Stage.SASL_AUTHENTICATE,
                f"SaslAuthenticate answered error_code {answer.error_code} "
                f"({answer.error_name}): {message}",
            )
        return answer


def _range(served: ApiVersionRange | None) -> str:
    return "not at all" if served is None else f"v{served.min_version}-v{served.max_version}"


def _require(versions: ApiVersionsResponse, stage: Stage, api_key: int, version: int) -> None:
    served = versions.range_of(api_key)
    if served is None or not served.min_version <= version <= served.max_version:
        raise MetadataFetchError(
            stage, f"the broker serves {stage.value} {_range(served)}, not v{version}"
        )


def _os_reason(exc: OSError) -> str:
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return f"{exc.strerror} (no route from here)"
    return exc.strerror or str(exc) or type(exc).__name__
