"""The prober function's contract: the request the canary sends, the answer
it gets back, both checked; the handler run with nothing but the standard
library and the core's connectivity package on its path."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from msk_privatelink.connectivity.probe import ProbeSettings
from msk_privatelink.connectivity.prober import (
    MAX_TARGETS,
    ProberError,
    decode_report,
    decode_request,
    encode_request,
    handle,
)
from msk_privatelink.connectivity.results import CheckReport, ProbeTarget, Step
from msk_privatelink.kernel.errors import ConfigError
from tests.unit.test_connectivity_probe import HOST, Server, serve, start_kafka

__all__ = ["serve"]  # the loopback server fixture, shared with the probe's tests

LAYER = Path(__file__).resolve().parents[2] / "layers" / "core"


def target(port: int = 9094, **changes: Any) -> ProbeTarget:
    fields: dict[str, Any] = {
        "broker": "1",
        "host": "b-1.demo.abc123.c2.kafka.us-east-1.amazonaws.com",
        "port": port,
        "scheme": "tls",
        "expected": frozenset({"10.0.1.5", "10.0.2.5"}),
    }
    fields.update(changes)
    return ProbeTarget(**fields)


def test_a_request_survives_json_unchanged() -> None:
    targets = [target(), target(9098, scheme="sasl_iam", expected=None, broker="2")]
    settings = ProbeSettings(timeout=2.0, deadline=30.0, workers=4)

    wire = json.loads(json.dumps(encode_request(targets, settings)))
    decoded, decoded_settings = decode_request(wire)

    assert decoded == targets
    assert (decoded_settings.timeout, decoded_settings.deadline, decoded_settings.workers) == (
        2.0,
        30.0,
        4,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(version=2), "request: version 2"),
        (lambda r: r.update(targets=[]), "targets: a non-empty list"),
        (lambda r: r["targets"][0].update(scheme="ssl"), r"targets\[0\].scheme: 'ssl'"),
        (lambda r: r["targets"][0].update(port=70000), "out of range"),
        (lambda r: r["targets"][0].update(port="9094"), "an integer is required"),
        (lambda r: r["targets"][0].update(expected=["b-1"]), "not an IP address"),
        (lambda r: r["targets"][0].update(command="rm"), "unknown field 'command'"),
        (lambda r: r["targets"][0].update(host="x" * 254), "1 to 253 characters"),
        (lambda r: r["settings"].update(timeout=0), "timeout 0.0s"),
        (lambda r: r["settings"].update(workers=True), "an integer is required"),
    ],
)
def test_a_malformed_request_is_refused_before_any_probe(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    request = encode_request([target()], ProbeSettings())
    change(request)
    probed: list[object] = []

    with pytest.raises(ConfigError, match=message):
        handle(request, run=lambda t, _s: probed.append(t) or CheckReport((), 0))
    assert probed == []


def test_too_many_targets_are_refused_on_both_sides() -> None:
    many = [target(port=1 + i % 60000, broker=str(i)) for i in range(MAX_TARGETS + 1)]
    with pytest.raises(ProberError, match="at most 2000"):
        encode_request(many, ProbeSettings())
    request = encode_request(many[:1], ProbeSettings())
    request["targets"] = request["targets"] * (MAX_TARGETS + 1)
    with pytest.raises(ProberError, match="at most 2000"):
        decode_request(request)


def test_the_deadline_is_cut_to_what_the_invocation_has_left() -> None:
    request = encode_request([target()], ProbeSettings(timeout=5.0, deadline=60.0))
    seen: list[ProbeSettings] = []

    def run(targets: Any, settings: ProbeSettings) -> CheckReport:
        seen.append(settings)
        return CheckReport((), 0)

    handle(request, 12.0, run=run)
    handle(request, 300.0, run=run)
    with pytest.raises(ProberError, match="no time to probe"):
        handle(request, 1.5, run=run)

    assert [(s.timeout, s.deadline) for s in seen] == [(5.0, 10.0), (5.0, 60.0)]


def test_a_loopback_broker_is_probed_and_the_answer_read_back(
    serve: Callable[..., Server],
) -> None:
    server = start_kafka(serve)
    asked = [
        ProbeTarget(broker="1", host=HOST, port=server.port, scheme="plaintext"),
        ProbeTarget(
            broker="2",
            host=HOST,
            port=server.port,
            scheme="plaintext",
            expected=frozenset({"10.9.9.9"}),
        ),
    ]

    answer = handle(encode_request(asked, ProbeSettings(timeout=5.0)), 60.0)
    report = decode_report(json.loads(json.dumps(answer)), asked)

    assert [(r.target.broker, r.step, r.ok) for r in report.results] == [
        ("1", Step.OK, True),
        ("2", Step.DNS, False),
    ]
    assert "10.9.9.9" in report.results[1].detail
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a["results"].pop(), "1 results for 2 targets"),
        (lambda a: a["results"][0].update(port=1), "answers"),
        (lambda a: a["results"][0].update(step="maybe"), "is not a step"),
        (lambda a: a["results"][0].update(ok=True, step="tcp"), "does not match step tcp"),
        (lambda a: a["results"][0].update(addresses=["evil"]), "not an IP address"),
        (lambda a: a.update(version=None), "answer: version None"),
    ],
)
def test_an_answer_that_does_not_match_the_request_is_refused(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    asked = [target(), target(broker="2")]
    results = [
        {
            "broker": t.broker,
            "scheme": t.scheme,
            "host": t.host,
            "port": t.port,
            "step": "tcp",
            "ok": False,
            "detail": "refused",
            "elapsed_ms": 3,
            "addresses": ["10.0.1.5"],
            "connected_to": None,
        }
        for t in asked
    ]
    answer = {"version": 1, "summary": {"elapsed_ms": 5}, "results": results}
    assert len(decode_report(json.loads(json.dumps(answer)), asked).results) == 2
    change(answer)

    with pytest.raises(ProberError, match=message):
        decode_report(answer, asked)


def test_the_function_runs_on_the_standard_library_alone(serve: Callable[..., Server]) -> None:
    """What the prober function imports from the layer: nothing but the
    connectivity package and the kernel's errors (no site-packages at all)."""
    server = start_kafka(serve)
    asked = [ProbeTarget(broker="1", host=HOST, port=server.port, scheme="plaintext")]
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(LAYER)!r})\n"
        "from msk_privatelink.connectivity.prober_function import lambda_handler\n"
        "class Context:\n"
        "    def get_remaining_time_in_millis(self): return 30000\n"
        "answer = lambda_handler(json.load(sys.stdin), Context())\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names)\n"
        "print(json.dumps({'answer': answer, 'loaded': loaded}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        input=json.dumps(encode_request(asked, ProbeSettings(timeout=5.0))),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = json.loads(done.stdout.splitlines()[-1])

    assert decode_report(out["answer"], asked).ok
    assert {m.split(".")[1] for m in out["loaded"] if "." in m} <= {"connectivity", "kernel"}
    assert "msk_privatelink.kernel.events" not in out["loaded"]
