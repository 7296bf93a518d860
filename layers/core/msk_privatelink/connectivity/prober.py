"""The prober's contract: what the canary sends to the small function it runs
inside a consumer network, and what comes back. Both are plain JSON (one
Lambda Invoke each way).

The prober needs no AWS access at all (no NAT, no VPC endpoint for AWS
APIs): it resolves, connects and asks each broker for its API versions, then
returns the results. Everything that calls AWS (reading views, metrics,
reports) stays outside the VPC in the canary controller.

Request (version 1)::

    {"version": 1,
     "settings": {"timeout": 3, "deadline": 60, "workers": 8},
     "targets": [{"broker": "1", "host": "b-1.example...", "port": 9094,
                  "scheme": "tls", "expected": ["10.0.1.5"] | null,
                  "forbidden": []}, ...]}

Optionally ``"metadata": [{"cluster": ARN, "host", "port", "scheme",
"auth": {"mechanism": "SCRAM-SHA-512", "username", "password"} |
{"mechanism": "OAUTHBEARER", "token"} | null}, ...]``: fetch each cluster's
metadata through that bootstrap after the probes, within the same deadline
(connectivity/metadata_check.py).

Response: ``{"version": 1, "summary": {...}, "results": [...]}`` as
:meth:`CheckReport.to_dict` writes it; :func:`decode_report` reads it back;
with ``"metadata": [...]``, one outcome per metadata request, in order
(:func:`msk_privatelink.connectivity.metadata_check.decode_outcomes`).
Every field is checked on both sides: the request reaches the function
through Lambda's API, the answer comes from code in someone's VPC.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from msk_privatelink.connectivity.metadata_check import (
    MetadataOutcome,
    MetadataRequest,
    decode_requests,
    run_request,
)
from msk_privatelink.connectivity.probe import MAX_DEADLINE, ProbeSettings, check
from msk_privatelink.connectivity.results import CheckReport, ProbeResult, ProbeTarget, Step
from msk_privatelink.kernel.errors import ConfigError

VERSION = 1
# An answer carries one result per target: bounded so an invocation's
# 6 MB response limit (Lambda quotas, synchronous invocation payload) is
# never approached: 180 brokers x 4 schemes + bootstraps is under 800.
MAX_TARGETS = 2000
MAX_HOST = 253
MAX_ADDRESSES = 64
SCHEMES = frozenset({"plaintext", "tls", "sasl_scram", "sasl_iam"})
# Seconds the function keeps for itself after the probes: the answer must
# leave before Lambda's timeout cuts it off.
RESERVE_SECONDS = 2.0


class ProberError(ConfigError):
    """A request or an answer that is not what the contract says."""


# (request, settings, deadline on time.monotonic) -> the outcome.
MetadataRun = Callable[[MetadataRequest, ProbeSettings, float], MetadataOutcome]


def encode_request(
    targets: Sequence[ProbeTarget],
    settings: ProbeSettings,
    metadata: Sequence[MetadataRequest] = (),
) -> dict[str, Any]:
    if not targets:
        raise ProberError("nothing to probe")
    if len(targets) > MAX_TARGETS:
        raise ProberError(f"{len(targets)} targets: at most {MAX_TARGETS} per invocation")
    extra = {"metadata": [m.to_dict() for m in metadata]} if metadata else {}
    return {
        "version": VERSION,
        "settings": {
            "timeout": settings.timeout,
            "deadline": settings.deadline,
            "workers": settings.workers,
        },
        "targets": [_target_dict(t) for t in targets],
        **extra,
    }


def _target_dict(target: ProbeTarget) -> dict[str, Any]:
    return {
        "broker": target.broker,
        "host": target.host,
        "port": target.port,
        "scheme": target.scheme,
        "expected": None if target.expected is None else sorted(target.expected),
        "forbidden": sorted(target.forbidden),
    }


def decode_request(event: Any) -> tuple[list[ProbeTarget], ProbeSettings]:
    targets, settings, _ = decode_full_request(event)
    return targets, settings


def decode_full_request(
    event: Any,
) -> tuple[list[ProbeTarget], ProbeSettings, list[MetadataRequest]]:
    data = _object(event, "request")
    _version(data, "request")
    raw_settings = _object(data.get("settings", {}), "settings")
    settings = ProbeSettings(
        timeout=_number(raw_settings.get("timeout", 3), "settings.timeout"),
        deadline=_number(raw_settings.get("deadline", 60), "settings.deadline"),
        workers=_int(raw_settings.get("workers", 8), "settings.workers"),
    )
    raw_targets = data.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise ProberError("targets: a non-empty list is required")
    if len(raw_targets) > MAX_TARGETS:
        raise ProberError(f"targets: {len(raw_targets)}, at most {MAX_TARGETS}")
    targets = [_target(t, f"targets[{i}]") for i, t in enumerate(raw_targets)]
    return targets, settings, decode_requests(data.get("metadata"))


def _target(raw: Any, where: str) -> ProbeTarget:
    data = _object(raw, where)
    unknown = set(data) - {"broker", "host", "port", "scheme", "expected", "forbidden"}
    if unknown:
        raise ProberError(f"{where}: unknown field {sorted(unknown)[0][:40]!r}")
    broker = _text(data.get("broker"), f"{where}.broker", 300)
    host = _text(data.get("host"), f"{where}.host", MAX_HOST)
    port = _int(data.get("port"), f"{where}.port")
    if not 0 < port < 65536:
        raise ProberError(f"{where}.port: {port} is out of range")
    scheme = _text(data.get("scheme"), f"{where}.scheme", 20)
    if scheme not in SCHEMES:
        raise ProberError(f"{where}.scheme: {scheme!r}, one of {', '.join(sorted(SCHEMES))}")
    expected = data.get("expected")
    return ProbeTarget(
        broker=broker,
        host=host,
        port=port,
        scheme=scheme,
        expected=None if expected is None else _addresses(expected, f"{where}.expected"),
        forbidden=_addresses(data.get("forbidden", []), f"{where}.forbidden"),
    )


def handle(
    event: Any,
    remaining_seconds: float | None = None,
    *,
    run: Callable[[Sequence[ProbeTarget], ProbeSettings], CheckReport] = check,
    fetch: MetadataRun = run_request,
) -> dict[str, Any]:
    """The prober function's whole work: probe what the request lists.

    ``remaining_seconds``: what the invocation has left; the deadline is cut
    so the answer always leaves in time. A malformed request raises (the
    invocation fails and the controller reports it), never probes.
    """
    targets, settings, metadata = decode_full_request(event)
    deadline_at = time.monotonic() + settings.deadline
    if remaining_seconds is not None:
        budget = min(settings.deadline, remaining_seconds - RESERVE_SECONDS, MAX_DEADLINE)
        if budget <= 0:
            raise ProberError(f"{remaining_seconds:.1f}s left: no time to probe")
        if budget < settings.deadline:
            settings = ProbeSettings(
                timeout=min(settings.timeout, budget), deadline=budget, workers=settings.workers
            )
            deadline_at = time.monotonic() + budget
    report = run(targets, settings)
    answer = {"version": VERSION, **report.to_dict()}
    if metadata:
        # After the probes, in what is left of the same deadline, side by
        # side (one slow bootstrap must not eat the others' time); each
        # fetch bounds its own steps, and one that finds no time left says
        # so at its first step.
        with ThreadPoolExecutor(
            max_workers=min(settings.workers, len(metadata)), thread_name_prefix="metadata"
        ) as pool:
            outcomes = list(pool.map(lambda m: fetch(m, settings, deadline_at), metadata))
        answer["metadata"] = [o.to_dict() for o in outcomes]
    return answer


def decode_report(payload: Any, targets: Sequence[ProbeTarget]) -> CheckReport:
    """The prober's answer, checked against what was asked: one result per
    target, in order, each naming its target's host, port and scheme."""
    data = _object(payload, "answer")
    _version(data, "answer")
    raw_results = data.get("results")
    if not isinstance(raw_results, list) or len(raw_results) != len(targets):
        count = len(raw_results) if isinstance(raw_results, list) else "no"
        raise ProberError(f"answer: {count} results for {len(targets)} targets")
    results = tuple(
        _result(raw, target, f"results[{i}]")
        for i, (raw, target) in enumerate(zip(raw_results, targets, strict=True))
    )
    summary = _object(data.get("summary"), "answer.summary")
    return CheckReport(
        results=results,
        elapsed_ms=_int(summary.get("elapsed_ms", 0), "summary.elapsed_ms"),
        deadline_reached=bool(summary.get("deadline_reached", False)),
    )


def _result(raw: Any, target: ProbeTarget, where: str) -> ProbeResult:
    data = _object(raw, where)
    seen = (data.get("host"), data.get("port"), data.get("scheme"), data.get("broker"))
    if seen != (target.host, target.port, target.scheme, target.broker):
        raise ProberError(f"{where} answers {seen!r}, not {target.endpoint} {target.scheme}")
    step_text = _text(data.get("step"), f"{where}.step", 10)
    try:
        step = Step(step_text)
    except ValueError:
        raise ProberError(f"{where}.step: {step_text!r} is not a step") from None
    ok = data.get("ok")
    if not isinstance(ok, bool) or ok != (step is Step.OK):
        raise ProberError(f"{where}.ok: {ok!r} does not match step {step.value}")
    connected = data.get("connected_to")
    return ProbeResult(
        target=target,
        step=step,
        ok=ok,
        detail=_text(data.get("detail", ""), f"{where}.detail", 2000, empty=True),
        elapsed_ms=_int(data.get("elapsed_ms", 0), f"{where}.elapsed_ms"),
        addresses=tuple(sorted(_addresses(data.get("addresses", []), f"{where}.addresses"))),
        connected_to=None if connected is None else _text(connected, f"{where}.connected_to", 64),
    )


# -- field checks ----------------------------------------------------------------


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ProberError(f"{where}: a JSON object is required, got {type(value).__name__}")
    return value


def _version(data: Mapping[str, Any], where: str) -> None:
    if data.get("version") != VERSION:
        raise ProberError(f"{where}: version {data.get('version')!r}, expected {VERSION}")


def _text(value: Any, where: str, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty) or len(value) > limit:
        raise ProberError(f"{where}: a string of 1 to {limit} characters is required")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProberError(f"{where}: an integer is required")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProberError(f"{where}: a number is required")
    return float(value)


def _addresses(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or len(value) > MAX_ADDRESSES:
        raise ProberError(f"{where}: a list of at most {MAX_ADDRESSES} IP addresses is required")
    out = set()
    for item in value:
        try:
            out.add(str(ipaddress.ip_address(item)))
        except (ValueError, TypeError):
            raise ProberError(f"{where}: {str(item)[:60]!r} is not an IP address") from None
    return frozenset(out)
