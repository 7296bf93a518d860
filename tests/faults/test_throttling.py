"""Throttling: 30% of AWS calls answered with the service's throttling error.

The answer is what AWS sends: an HTTP error response in the service's own
protocol, handed to botocore in place of the request (the request never
reaches the embedded AWS, as a throttled request never reaches the service).
botocore's standard retry mode then retries it, with the backoff patched to
zero for the test. Each *attempt* is throttled with probability 0.3 from a
seeded generator, so the run is the same every time.

MSK is the exception: the in-process MSK simulator answers ``kafka`` calls in
``before-call``, before botocore's retry loop, so a throttled ``kafka`` call
(``TooManyRequestsException``, HTTP 429, as MSK answers) is never retried by
botocore here. It reaches the reconciler as ``ThrottledError`` and is covered
by the run-level retry only (the queue's redelivery; here, the loop below),
a harsher case than AWS, where botocore would have retried it first.

Every scenario must converge within ``MAX_RUNS`` runs, catching nothing but
the project's retryable errors, to exactly the desired state.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.endpoint import convert_to_response_dict
from botocore.model import OperationModel
from botocore.parsers import create_parser
from botocore.retries import standard

import msk_privatelink.aws.clients as clients_module
from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.errors import MskPrivateLinkError
from msk_privatelink.reconcile.reconciler import ReconcileOutcome
from tests.faults.support import actual_state, expected_state, record_calls
from tests.integration.harness import (
    World,
    prepare_initial,
    prepare_ip_change,
    prepare_scale_out,
    world,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

THROTTLE_RATE = 0.3
MAX_RUNS = 60


class _Body:
    """The one method AWSResponse needs from urllib3's raw response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        yield self._body


@dataclass(frozen=True)
class ThrottlingAnswer:
    """A service's throttling error, as its protocol puts it on the wire."""

    status: int
    content_type: str
    body: str

    def response(self, url: str) -> AWSResponse:
        headers = {"Content-Type": self.content_type, "x-amzn-RequestId": "throttled"}
        return AWSResponse(url, self.status, headers, _Body(self.body.encode()))


def _json(content_type: str) -> ThrottlingAnswer:
    body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
    return ThrottlingAnswer(400, content_type, body)


# Keyed by the hyphenized service id of botocore's `before-send.<id>.<op>`.
ANSWERS: dict[str, ThrottlingAnswer] = {
    # EC2 answers RequestLimitExceeded with HTTP 503, in its own XML dialect.
    "ec2": ThrottlingAnswer(
        503,
        "text/xml",
        "<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
        "<Message>Request limit exceeded.</Message></Error></Errors>"
        "<RequestID>throttled</RequestID></Response>",
    ),
    "elastic-load-balancing-v2": ThrottlingAnswer(
        400,
        "text/xml",
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        "<Message>Rate exceeded</Message></Error>"
        "<RequestId>throttled</RequestId></ErrorResponse>",
    ),
    # Route 53 (REST-XML) answers throttling with HTTP 400 and code Throttling.
    "route-53": ThrottlingAnswer(
        400,
        "text/xml",
        '<?xml version="1.0"?>\n'
        '<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
        "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
        "</Error><RequestId>throttled</RequestId></ErrorResponse>",
    ),
    "dynamodb": _json("application/x-amz-json-1.0"),
    "eventbridge": _json("application/x-amz-json-1.1"),
    "ssm": _json("application/x-amz-json-1.1"),
}


@dataclass
class Throttler:
    seed: int
    rate: float = THROTTLE_RATE
    answered: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _throttle(self, service: str) -> bool:
        self.attempts[service] += 1
        if self._rng.random() < self.rate:
            self.answered[service] += 1
            return True
        return False

    def install(self, session: Any) -> None:
        """Put the throttle in front of moto and the MSK simulator of one session."""
        from moto.core.models import botocore_stubber

        # botocore calls every before-send handler and takes the first answer:
        # moto must not even see a throttled request, so it is called from here.
        session.events.unregister("before-send", botocore_stubber)

        def before_send(event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
            service = event_name.split(".")[1]
            answer = ANSWERS.get(service)
            if answer is not None and self._throttle(service):
                return answer.response(request.url)
            response: AWSResponse | None = botocore_stubber(
                event_name=event_name, request=request, **kwargs
            )
            return response

        session.events.register("before-send", before_send)
        session.events.register_first("before-call.kafka", self.kafka_before_call)

    def kafka_before_call(
        self, model: OperationModel, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not self._throttle("kafka"):
            return None  # the simulator answers
        body = json.dumps({"message": "Too Many Requests"}).encode()
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": "TooManyRequestsException",
        }
        http = AWSResponse(str(params.get("url", "")), 429, headers, _Body(body))
        parser = create_parser(model.service_model.protocol)
        parsed: dict[str, Any] = parser.parse(
            convert_to_response_dict(http, model),
            model.output_shape,  # type: ignore[arg-type]
        )
        return http, parsed


def prepare_scale_in(w: World) -> None:
    w.reconcile()
    w.published()
    w.aws.msk.scale(w.cluster_arn, 3)


@dataclass(frozen=True)
class Scenario:
    brokers: int
    prepare: Callable[[World], None]


SCENARIOS: dict[str, Scenario] = {
    "initial-create": Scenario(3, prepare_initial),
    "ip-change": Scenario(3, prepare_ip_change),
    "scale-out-3-to-6": Scenario(3, prepare_scale_out),
    "scale-in-6-to-3": Scenario(6, prepare_scale_in),
}
# botocore's attempts per call: as shipped (clients.BOTO_CONFIG), and 3, under
# which ~2.7% of calls still fail after botocore gave up, so failures also land
# in the middle of an apply.
ATTEMPTS: dict[str, int | None] = {"shipped-retries": None, "short-retries": 3}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries happen, their sleeps do not (only for the test using this fixture)."""
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", _no_delay)


def _no_delay(_self: standard.ExponentialBackoff, _context: object) -> float:
    return 0.0


@dataclass
class Convergence:
    runs: int = 0
    run_errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    outcome: ReconcileOutcome | None = None


def converge(w: World, clients: AwsClients) -> Convergence:
    """Reconcile until a run ends converged or unchanged; only retryable errors are caught."""
    reconciler = w.reconciler(clients)
    result = Convergence()
    for _ in range(MAX_RUNS):
        result.runs += 1
        try:
            outcome = reconciler.reconcile(w.config)
        except MskPrivateLinkError as exc:
            if not exc.retryable:
                raise
            result.run_errors[type(exc).__name__] += 1
            continue
        result.statuses[outcome.status] += 1
        if outcome.status in ("converged", "unchanged"):
            result.outcome = outcome
            return result
    pytest.fail(f"no convergence in {MAX_RUNS} runs: {dict(result.run_errors)}")


@pytest.mark.parametrize("attempts", sorted(ATTEMPTS), ids=sorted(ATTEMPTS))
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_converges_under_throttling(
    scenario: str,
    attempts: str,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
) -> None:
    spec = SCENARIOS[scenario]
    max_attempts = ATTEMPTS[attempts]
    if max_attempts is not None:
        retries = Config(retries={"mode": "standard", "max_attempts": max_attempts})
        merged = clients_module.BOTO_CONFIG.merge(retries)
        monkeypatch.setattr(clients_module, "BOTO_CONFIG", merged)
    seed = sorted(SCENARIOS).index(scenario) * 100 + sorted(ATTEMPTS).index(attempts)

    with world(brokers=spec.brokers) as w:
        spec.prepare(w)
        throttler = Throttler(seed)
        session = w.session()
        throttler.install(session)

        result = converge(w, AwsClients(session, region=w.aws.region))

        where = f"{scenario}/{attempts} (seed {seed})"
        answered = sum(throttler.answered.values())
        summary = (
            f"{where}: {answered} throttled answers of {sum(throttler.attempts.values())} "
            f"attempts {dict(sorted(throttler.answered.items()))} (attempts by service "
            f"{dict(sorted(throttler.attempts.items()))}); converged in run "
            f"{result.runs}; run-level errors {dict(result.run_errors)}; "
            f"statuses {dict(result.statuses)}"
        )
        record_property("throttled_answers", answered)
        record_property("throttled_by_service", dict(sorted(throttler.answered.items())))
        record_property("runs_to_converge", result.runs)
        record_property("summary", summary)

        # Throttling really happened; each throttled MSK read ended its run
        # (botocore does not retry the simulator's answers, the loop did).
        assert answered > 0, summary
        assert result.run_errors["ThrottledError"] >= throttler.answered["kafka"], summary
        # The end state is exactly the desired one: nothing orphaned or duplicated.
        assert actual_state(w) == expected_state(w), summary
        assert w.residual_plan_size() == 0, summary
        # Consumers heard about the final view.
        assert w.published_fingerprint() == w.current_view().fingerprint(), summary
        # A clean run afterwards has nothing left to do.
        with record_calls() as log:
            clean = w.reconciler(w.clients()).reconcile(w.config)
        assert clean.status == "unchanged", summary
        assert log.resource_writes(log.calls) == Counter(), summary
