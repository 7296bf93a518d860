"""Throttling on the workflows: 30% of the AWS calls of the state machines'
task function and of the callback function answered with the service's own
throttling error, on the wire, by the throttle of the provider suite
(tests/faults/test_throttling.py).

botocore's standard retry mode retries each throttled attempt (backoff
patched to zero); a throttled MSK call (the simulator answers before
botocore's retry loop) fails the task with ThrottledError, which the state
machine's Retry retries. With botocore's attempts as shipped, and with 3
(then ~2.7% of the task function's calls still fail after botocore gave up,
and the state machine's Retry takes over; the callback function keeps the
shipped attempts there, as its failures are Lambda's to retry). An
onboarding and an offboarding must each succeed in one execution, ending
exactly where an unthrottled run ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config

import msk_privatelink.aws.clients as clients_module
from msk_privatelink.kernel.errors import MskPrivateLinkError
from tests.faults.conftest import shared_botocore_loader
from tests.faults.test_throttling import Throttler, no_backoff
from tests.workflow.function_sessions import hook_function_sessions
from tests.workflow.harness import (
    OTHER_REGION,
    OTHER_REGION_ACCOUNT,
    TASKS_FUNCTION_ARN,
    Workflows,
)

pytestmark = [pytest.mark.workflow, pytest.mark.faults]

# The provider suites' fixtures: retries without sleeps; sessions sharing
# parsed service models.
__all__ = ["no_backoff", "shared_botocore_loader"]

ATTEMPTS: dict[str, int | None] = {"shipped-retries": None, "short-retries": 3}


@pytest.mark.parametrize("attempts", sorted(ATTEMPTS))
def test_onboarding_and_offboarding_succeed_under_throttling(
    flows: Workflows,
    attempts: str,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
) -> None:
    throttler = Throttler(seed=11 + sorted(ATTEMPTS).index(attempts))
    functions: tuple[str, ...] = ("tasks", "callback")
    if ATTEMPTS[attempts] is not None:
        retries = Config(retries={"mode": "standard", "max_attempts": ATTEMPTS[attempts]})
        monkeypatch.setattr(
            clients_module, "BOTO_CONFIG", clients_module.BOTO_CONFIG.merge(retries)
        )
        functions = ("tasks",)
    hook_function_sessions(flows, monkeypatch, throttler.install, functions=functions)
    # The task invocations that failed (each one retried by the state machine).
    failed: Counter[str] = Counter()
    function = flows.invoke.functions[TASKS_FUNCTION_ARN]

    def task(event: dict[str, Any]) -> Any:
        try:
            return function(event)
        except MskPrivateLinkError as exc:
            failed[type(exc).__name__] += 1
            raise

    flows.invoke.functions[TASKS_FUNCTION_ARN] = task
    account, region = OTHER_REGION_ACCOUNT, OTHER_REGION
    offboarding = {"clusterArn": flows.w.cluster_arn, "consumerAccountId": account}

    onboarded = flows.run("onboarding", flows.onboarding_input(account))
    side = flows.provider_side(account, region)
    tenant = flows.tenant(account)
    answered_onboarding = sum(throttler.answered.values())
    offboarded = flows.run("offboarding", offboarding)

    answered = sum(throttler.answered.values())
    summary = (
        f"{attempts}: failed task invocations {dict(failed)}; "
        f"{answered} throttled answers ({answered_onboarding} while onboarding) of "
        f"{sum(throttler.attempts.values())} attempts {dict(sorted(throttler.answered.items()))}"
    )
    record_property("throttled_answers", answered)
    record_property("throttled_by_service", dict(sorted(throttler.answered.items())))
    record_property("runs_to_converge", 1)
    record_property("failed_task_invocations", sum(failed.values()))
    record_property("summary", summary)

    assert answered_onboarding > 0, summary
    assert answered > answered_onboarding, summary
    assert {"ec2", "dynamodb", "eventbridge"} <= set(throttler.answered), summary
    # Each throttled MSK call failed its task; the state machine retried it.
    assert failed["ThrottledError"] >= throttler.answered["kafka"], summary
    if ATTEMPTS[attempts] == 3:
        assert sum(failed.values()) > 0, summary
    assert onboarded["status"] == "SUCCEEDED", (onboarded.get("cause"), summary)
    assert len(side["allowed_on"]) == len(side["region_on"]) == side["services"] == 3, side
    assert side["live_connections"] == 3, side
    assert side["subscribed"], side
    assert len(side["statements"]) == 1, side
    assert not side["rules"], side
    assert tenant is not None
    assert tenant.state == "ACTIVE"
    assert offboarded["status"] == "SUCCEEDED", (offboarded.get("cause"), summary)
    assert flows.is_clean(account, region), flows.provider_side(account, region)
    gone = flows.tenant(account)
    assert gone is not None
    assert gone.state == "OFFBOARDED"
    assert flows.stacks[account].consumer.state()["endpoints"] == []
