"""Throttling on the consumer side: 30% of the consumer-sync handler's AWS
calls (EC2, Route 53, SSM, EventBridge) answered with the service's own
throttling error, on the wire, through the throttle of the provider suite
(tests/faults/test_throttling.py) with Route 53's answer added.

botocore's standard retry mode retries each throttled attempt (backoff
patched to zero); what still fails after botocore gives up fails the
invocation, and Lambda invokes again with the same event (here: the loop).
Every step of a tenant's life (onboarding, scale-out, scale-in, a duplicate,
offboarding) must converge within ``MAX_RUNS`` invocations, catching nothing
but the project's retryable errors, to exactly the state a clean run makes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config

import msk_privatelink.aws.clients as clients_module
from msk_privatelink.kernel.errors import MskPrivateLinkError
from msk_privatelink_dev.local.workflows import keep_sender
from tests.consumer.support import assert_follows, events_of
from tests.consumer.wiring import add_consumer_stack, put_on_provider_bus
from tests.faults.test_throttling import Throttler, no_backoff
from tests.integration.harness import world

pytestmark = [pytest.mark.integration, pytest.mark.faults]

__all__ = ["no_backoff"]  # the provider suite's fixture: retries without sleeps

MAX_RUNS = 40
ATTEMPTS: dict[str, int | None] = {"shipped-retries": None, "short-retries": 3}


def until_handled(
    invoke: Callable[[dict[str, Any]], dict[str, Any]], event: dict[str, Any], errors: Counter[str]
) -> dict[str, Any]:
    """Lambda's asynchronous retries: the same event until an invocation succeeds."""
    for _ in range(MAX_RUNS):
        try:
            return invoke(event)
        except MskPrivateLinkError as exc:
            if not exc.retryable:
                raise
            errors[type(exc).__name__] += 1
    pytest.fail(f"no invocation succeeded in {MAX_RUNS}: {dict(errors)}")


@pytest.mark.parametrize("attempts", sorted(ATTEMPTS))
def test_a_tenants_whole_life_converges_under_throttling(
    attempts: str,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
) -> None:
    if ATTEMPTS[attempts] is not None:
        retries = Config(retries={"mode": "standard", "max_attempts": ATTEMPTS[attempts]})
        monkeypatch.setattr(
            clients_module, "BOTO_CONFIG", clients_module.BOTO_CONFIG.merge(retries)
        )
    throttler = Throttler(seed=sorted(ATTEMPTS).index(attempts) + 7)
    errors: Counter[str] = Counter()
    statuses: list[str] = []

    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, "111122223333", "eu-west-1")
        invoke = stack.handler(setup=throttler.install)

        def step(put: Any) -> None:
            put_on_provider_bus(w, put)
            for event in stack.queued():
                statuses.append(until_handled(invoke, event, errors)["status"])

        w.reconcile()
        stack.queued()
        view = events_of(w)[-1]
        step(stack.onboarding(view))
        assert_follows(stack.consumer, view)
        for brokers in (6, 3):
            w.aws.msk.scale(w.cluster_arn, brokers)
            w.reconcile()
            view = events_of(w)[-1]
            stack.queued()
            step(view)
            assert_follows(stack.consumer, view)
        step(view)  # a duplicate
        assert_follows(stack.consumer, view)
        replies = stack.replies()
        step(stack.offboarding(view.generation))
        removed = stack.replies()
        state = stack.consumer.state()

    answered = sum(throttler.answered.values())
    summary = (
        f"{attempts}: {answered} throttled answers of {sum(throttler.attempts.values())} "
        f"attempts {dict(sorted(throttler.answered.items()))}; failed invocations "
        f"{dict(errors)}; statuses {statuses}"
    )
    record_property("throttled_answers", answered)
    record_property("failed_invocations", sum(errors.values()))
    record_property("summary", summary)

    assert answered > 0, summary
    # Every service the handler calls went through the throttle.
    assert {"ec2", "route-53", "ssm", "eventbridge"} <= set(throttler.attempts), summary
    assert {"ec2", "route-53"} <= set(throttler.answered), summary
    if ATTEMPTS[attempts] == 3:
        assert errors["ThrottledError"] > 0, summary  # some invocations did fail
    assert statuses == ["ready", "synced", "synced", "synced", "removed"], summary
    # Every answer went out; a repeated invocation may repeat an answer, never change it.
    assert {(r.state, r.generation) for r in replies} == {
        ("ready", 1),
        ("ready", 2),
        ("ready", 3),
    }, summary
    assert {r.state for r in removed} == {"removed"}, summary
    assert state["endpoints"] == [], summary
    assert state["zones"] == {}, summary
