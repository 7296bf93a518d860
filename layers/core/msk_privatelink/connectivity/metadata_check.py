"""The credentialed half of the connectivity check: fetch the cluster's
metadata through its bootstrap, as a client does after connecting, and
compare the brokers it advertises with the ones the view holds.

The probes (probe.py) prove each name and port answers Kafka; only the
metadata shows whether the cluster then sends clients to those names and
ports. On a SASL listener that takes credentials, so it runs only where the
operator gave them (a SCRAM secret in the consumer account, see
canary/credentials.py, or IAM: a token the canary signs, canary/iam_token.py).

The prober runs :func:`run_request` inside the consumer network; the canary
controller builds the requests (:class:`MetadataRequest`) and judges the
answers (:func:`differences`). Both cross Lambda's API as JSON, checked on
each side like the probes' contract (prober.py). Standard library only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from msk_privatelink.connectivity.bootstrap_metadata import (
    AuthenticationError,
    MetadataFetchError,
    Resolver,
    fetch_metadata,
)
from msk_privatelink.connectivity.kafka_metadata import (
    MAX_TOKEN_CHARS,
    OAUTHBEARER,
    SCRAM_MECHANISMS,
    OAuthBearer,
    Scram,
)
from msk_privatelink.connectivity.probe import ProbeSettings, Route, direct, resolve, tls_context
from msk_privatelink.connectivity.results import ProbeTarget, Step
from msk_privatelink.kernel.dns import normalize_dns
from msk_privatelink.kernel.errors import ConfigError

if TYPE_CHECKING:
    # Only its shape: the prober imports this module with the standard library alone.
    from msk_privatelink.kernel.events import BrokerEndpointsChanged

# One request per cluster a prober's network serves; a network serving more
# clusters than this has its metadata checked for the first ones only.
MAX_REQUESTS = 50
# MSK allows at most a few hundred brokers per cluster; an answer listing
# more is not a cluster's.
MAX_BROKERS = 1000
MAX_LABEL = 300
MAX_HOST = 253
MAX_DETAIL = 2000
# The longest SCRAM user name or password a request carries (both sides).
MAX_SCRAM_FIELD = 1024
# Schemes whose listener a metadata request can be answered on.
CREDENTIAL_SCHEMES = frozenset({"plaintext", "tls", "sasl_scram", "sasl_iam"})
MECHANISMS = frozenset({*SCRAM_MECHANISMS, OAUTHBEARER})


class MetadataContractError(ConfigError):
    """A metadata request or answer that is not what the contract says."""


@dataclass(frozen=True)
class MetadataRequest:
    """Fetch ``cluster``'s metadata through ``host:port`` on ``scheme``
    (TLS for every scheme but plaintext, the certificate checked against
    ``host``), authenticating with ``auth`` where given."""

    cluster: str
    host: str
    port: int
    scheme: str
    auth: Scram | OAuthBearer | None = field(default=None, repr=False)

    @property
    def uses_tls(self) -> bool:
        return self.scheme != "plaintext"

    def to_dict(self) -> dict[str, Any]:
        auth: dict[str, str] | None = None
        if isinstance(self.auth, OAuthBearer):
            auth = {"mechanism": OAUTHBEARER, "token": self.auth.token}
        elif self.auth is not None:
            auth = {
                "mechanism": self.auth.mechanism,
                "username": self.auth.username,
                "password": self.auth.password,
            }
        return {
            "cluster": self.cluster,
            "host": self.host,
            "port": self.port,
            "scheme": self.scheme,
            "auth": auth,
        }


@dataclass(frozen=True)
class MetadataOutcome:
    """What one request found: the advertised brokers (node id, host, port),
    or the step and stage it stopped at. ``authentication``: the broker
    refused the credentials (the listener answered; the secret is wrong)."""

    cluster: str
    step: Step
    detail: str = ""
    stage: str | None = None
    authentication: bool = False
    brokers: tuple[tuple[int, str, int], ...] = ()
    connected_to: str | None = None

    @property
    def ok(self) -> bool:
        return self.step is Step.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "ok": self.ok,
            "step": self.step.value,
            "stage": self.stage,
            "detail": self.detail,
            "authentication": self.authentication,
            "brokers": [list(b) for b in self.brokers],
            "connected_to": self.connected_to,
        }


# Per broker id: the names it may be advertised under, and its port.
Expected = Mapping[int, tuple[frozenset[str], int]]
BOOTSTRAP_LABEL = "bootstrap"


def request_for_view(
    view: BrokerEndpointsChanged,
    targets: Sequence[ProbeTarget],
    scheme: str,
    auth: Scram | OAuthBearer | None,
) -> tuple[MetadataRequest, Expected] | None:
    """The fetch of ``view``'s metadata on ``scheme`` and what it must list:
    through the bootstrap name (shared-nlb) when ``targets`` hold it, else
    the first broker name of the scheme in ``targets`` (the ones that can be
    reached); every broker of the view is expected. None when the view or
    ``targets`` have nothing on ``scheme``."""
    expected = {
        broker.broker_id: (
            frozenset(normalize_dns(h) for h in broker.host_names),
            broker.ports[scheme],
        )
        for broker in view.brokers
        if scheme in broker.ports
    }
    through = [t for t in targets if t.scheme == scheme]
    if not expected or not through:
        return None
    bootstrap = next((t for t in through if t.broker == BOOTSTRAP_LABEL), through[0])
    request = MetadataRequest(
        cluster=view.cluster_arn,
        host=bootstrap.host,
        port=bootstrap.port,
        scheme=scheme,
        auth=auth,
    )
    return request, expected


def run_request(
    request: MetadataRequest,
    settings: ProbeSettings,
    deadline_at: float,
    *,
    resolver: Resolver = resolve,
    route: Route = direct,
    clock: Any = time.monotonic,
) -> MetadataOutcome:
    """One fetch, never raising for what the network or the broker did."""
    try:
        result = fetch_metadata(
            request.host,
            request.port,
            tls=tls_context(settings) if request.uses_tls else None,
            server_hostname=request.host,
            auth=request.auth,
            timeout=settings.timeout,
            deadline_at=deadline_at,
            clock=clock,
            client_id=settings.client_id,
            max_response_bytes=settings.max_response_bytes,
            resolver=resolver,
            route=route,
        )
    except MetadataFetchError as exc:
        return MetadataOutcome(
            cluster=request.cluster,
            step=exc.step,
            stage=exc.stage.value,
            detail=exc.detail[:MAX_DETAIL],
            authentication=isinstance(exc, AuthenticationError),
        )
    brokers = tuple(sorted((b.node_id, b.host, b.port) for b in result.brokers))
    return MetadataOutcome(
        cluster=request.cluster,
        step=Step.OK,
        brokers=brokers[:MAX_BROKERS],
        connected_to=result.connected_to,
    )


def differences(
    expected: Expected,
    advertised: Sequence[tuple[int, str, int]],
) -> dict[int, str]:
    """Per broker id, how the advertised broker differs from the view: not
    advertised, not expected, or at another host or port. A broker with
    several names in the view may be advertised under any of them."""
    found = {node_id: (host, port) for node_id, host, port in advertised}
    out: dict[int, str] = {}
    for node_id in sorted(set(expected) | set(found)):
        want, got = expected.get(node_id), found.get(node_id)
        if got is None:
            assert want is not None
            out[node_id] = f"not advertised (expected on port {want[1]})"
        elif want is None:
            out[node_id] = f"advertised at {_endpoint(got)}, not in the view"
        else:
            names, port = want
            if normalize_dns(got[0]) not in names or got[1] != port:
                shown = " or ".join(sorted(names))
                out[node_id] = f"advertised at {_endpoint(got)}, the view has {shown}:{port}"
    return out


def _endpoint(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- the JSON contract ------------------------------------------------------------


def decode_requests(raw: Any) -> list[MetadataRequest]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_REQUESTS:
        raise MetadataContractError(f"metadata: a list of at most {MAX_REQUESTS} is required")
    return [_request(item, f"metadata[{i}]") for i, item in enumerate(raw)]


def _request(raw: Any, where: str) -> MetadataRequest:
    data = _object(raw, where)
    unknown = set(data) - {"cluster", "host", "port", "scheme", "auth"}
    if unknown:
        raise MetadataContractError(f"{where}: unknown field {sorted(unknown)[0][:40]!r}")
    scheme = _text(data.get("scheme"), f"{where}.scheme", 20)
    if scheme not in CREDENTIAL_SCHEMES:
        shown = ", ".join(sorted(CREDENTIAL_SCHEMES))
        raise MetadataContractError(f"{where}.scheme: {scheme!r}, one of {shown}")
    port = _int(data.get("port"), f"{where}.port")
    if not 0 < port < 65536:
        raise MetadataContractError(f"{where}.port: {port} is out of range")
    auth: Scram | OAuthBearer | None = None
    if data.get("auth") is not None:
        auth = _auth(data["auth"], f"{where}.auth")
    return MetadataRequest(
        cluster=_text(data.get("cluster"), f"{where}.cluster", MAX_LABEL),
        host=_text(data.get("host"), f"{where}.host", MAX_HOST),
        port=port,
        scheme=scheme,
        auth=auth,
    )


def _auth(raw: Any, where: str) -> Scram | OAuthBearer:
    data = _object(raw, where)
    mechanism = _text(data.get("mechanism"), f"{where}.mechanism", 40)
    if mechanism not in MECHANISMS:
        shown = ", ".join(sorted(MECHANISMS))
        raise MetadataContractError(f"{where}.mechanism: {mechanism!r}, one of {shown}")
    fields = (
        {"mechanism", "token"}
        if mechanism == OAUTHBEARER
        else {"mechanism", "username", "password"}
    )
    unknown = set(data) - fields
    if unknown:
        raise MetadataContractError(f"{where}: unknown field {sorted(unknown)[0][:40]!r}")
    try:
        if mechanism == OAUTHBEARER:
            return OAuthBearer(_text(data.get("token"), f"{where}.token", MAX_TOKEN_CHARS))
        return Scram(
            username=_text(data.get("username"), f"{where}.username", MAX_SCRAM_FIELD),
            password=_text(data.get("password"), f"{where}.password", MAX_SCRAM_FIELD),
            mechanism=mechanism,
        )
    except ValueError as exc:
        raise MetadataContractError(f"{where}: {exc}") from None


def decode_outcomes(raw: Any, requests: Sequence[MetadataRequest]) -> list[MetadataOutcome]:
    """The prober's metadata answers, one per request, in order."""
    if not requests and raw is None:
        return []
    if not isinstance(raw, list) or len(raw) != len(requests):
        count = len(raw) if isinstance(raw, list) else "no"
        raise MetadataContractError(f"answer: {count} metadata results for {len(requests)}")
    return [
        _outcome(item, request, f"metadata[{i}]")
        for i, (item, request) in enumerate(zip(raw, requests, strict=True))
    ]


def _outcome(raw: Any, request: MetadataRequest, where: str) -> MetadataOutcome:
    data = _object(raw, where)
    if data.get("cluster") != request.cluster:
        raise MetadataContractError(f"{where} answers another cluster")
    step_text = _text(data.get("step"), f"{where}.step", 10)
    try:
        step = Step(step_text)
    except ValueError:
        raise MetadataContractError(f"{where}.step: {step_text!r} is not a step") from None
    if data.get("ok") is not (step is Step.OK):
        raise MetadataContractError(f"{where}.ok does not match step {step.value}")
    raw_brokers = data.get("brokers", [])
    if not isinstance(raw_brokers, list) or len(raw_brokers) > MAX_BROKERS:
        raise MetadataContractError(f"{where}.brokers: a list of at most {MAX_BROKERS}")
    brokers = []
    for i, item in enumerate(raw_brokers):
        if not isinstance(item, list) or len(item) != 3:
            raise MetadataContractError(f"{where}.brokers[{i}]: [node id, host, port]")
        node_id = _int(item[0], f"{where}.brokers[{i}][0]")
        host = _text(item[1], f"{where}.brokers[{i}][1]", MAX_HOST)
        port = _int(item[2], f"{where}.brokers[{i}][2]")
        if not 0 <= node_id < 2**31 or not 0 < port < 65536:
            raise MetadataContractError(f"{where}.brokers[{i}]: node id or port out of range")
        brokers.append((node_id, host, port))
    stage = data.get("stage")
    connected = data.get("connected_to")
    return MetadataOutcome(
        cluster=request.cluster,
        step=step,
        detail=_text(data.get("detail", ""), f"{where}.detail", MAX_DETAIL, empty=True),
        stage=None if stage is None else _text(stage, f"{where}.stage", 40),
        authentication=data.get("authentication") is True,
        brokers=tuple(brokers),
        connected_to=None if connected is None else _text(connected, f"{where}.connected_to", 64),
    )


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise MetadataContractError(f"{where}: a JSON object is required")
    return value


def _text(value: Any, where: str, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty) or len(value) > limit:
        raise MetadataContractError(f"{where}: a string of 1 to {limit} characters is required")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MetadataContractError(f"{where}: an integer is required")
    return value
