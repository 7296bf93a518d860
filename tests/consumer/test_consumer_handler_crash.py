"""The consumer-sync handler's path, crashed at every mutating call: the
tenancy parameter, the endpoints, the zone and its tags, the records, the
answer. Lambda then invokes again with the same event (asynchronous retry);
the end state must be exactly what an uninterrupted run makes, and the
answer must go out (a repeated answer is the same answer).

Each cut point gets a fresh consumer account in the same embedded AWS,
brought to the scenario's starting point by the real handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from msk_privatelink.consumer.aws.registry import parameter_name
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import to_json
from msk_privatelink_dev.local.workflows import keep_sender
from tests.consumer.support import assert_follows, events_of
from tests.consumer.wiring import TOKEN, ConsumerStack, add_consumer_stack, delivered
from tests.integration.harness import CrashInjector, InjectedCrash, World, world

pytestmark = [
    pytest.mark.integration,
    pytest.mark.crash,
    # A crashed invocation records no metric before it dies.
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]


@dataclass(frozen=True)
class Scenario:
    # What the handler is given first (in order), then the event under test,
    # all built from the provider's views.
    before: Callable[[ConsumerStack, list[BrokerEndpointsChanged]], list[Any]]
    under_test: Callable[[ConsumerStack, list[BrokerEndpointsChanged]], Any]
    # The view the consumer must follow afterwards (None: offboarded).
    follows: int | None
    status: str


Views = list[BrokerEndpointsChanged]


def nothing(_stack: ConsumerStack, _views: Views) -> list[Any]:
    return []


def onboarded(stack: ConsumerStack, views: Views) -> list[Any]:
    return [stack.onboarding(views[0])]


def scaled_out(stack: ConsumerStack, views: Views) -> list[Any]:
    return [stack.onboarding(views[0]), views[1]]


def onboarding(stack: ConsumerStack, views: Views) -> Any:
    return stack.onboarding(views[0])


def view(index: int) -> Callable[[ConsumerStack, Views], Any]:
    return lambda _stack, views: views[index]


def offboarding(stack: ConsumerStack, views: Views) -> Any:
    return stack.offboarding(views[1].generation)


SCENARIOS: dict[str, Scenario] = {
    "onboarding": Scenario(nothing, onboarding, 0, "ready"),
    "scale-out": Scenario(onboarded, view(1), 1, "synced"),
    "scale-in": Scenario(scaled_out, view(2), 2, "synced"),
    "offboarding": Scenario(scaled_out, offboarding, None, "removed"),
}


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[World, list[BrokerEndpointsChanged]]]:
    with keep_sender(), world() as w:
        w.reconcile()
        w.aws.msk.scale(w.cluster_arn, 6)
        w.reconcile()
        w.aws.msk.scale(w.cluster_arn, 3)
        w.reconcile()
        views = events_of(w)
        assert [len(v.brokers) for v in views] == [3, 6, 3]
        yield w, views


def prepared(
    w: World, index: int, views: list[BrokerEndpointsChanged], scenario: Scenario
) -> ConsumerStack:
    stack = add_consumer_stack(w, f"{555566660000 + index}", subscribed=False)
    invoke = stack.handler()
    for detail in scenario.before(stack, views):
        assert invoke(delivered(detail))["status"] in ("ready", "synced")
    stack.replies()
    return stack


def crash(stack: ConsumerStack, event: dict[str, Any], injector: CrashInjector) -> None:
    invoke = stack.handler(
        ("before-call.*.*", injector.before), ("after-call.*.*", injector.after_call)
    )
    invoke(event)


def assert_end_state(
    stack: ConsumerStack, views: list[BrokerEndpointsChanged], scenario: Scenario, where: str
) -> None:
    state = stack.consumer.state()
    ssm = stack.consumer.client("ssm")
    remembered = ssm.get_parameters(
        Names=[parameter_name(stack.env["REGISTRY_PARAMETER_PREFIX"], views[0].cluster_arn)]
    )
    replies = stack.replies()
    assert replies, where
    if scenario.follows is None:
        assert state["endpoints"] == [], where
        assert state["zones"] == {}, where
        assert remembered["Parameters"] == [], where
        assert {(r.state, r.task_token) for r in replies} == {("removed", TOKEN)}, where
        return
    view = views[scenario.follows]
    assert_follows(stack.consumer, view)
    assert len(state["zones"]) == 1, where
    assert len(remembered["Parameters"]) == 1, where
    assert {(r.state, r.generation) for r in replies} == {("ready", view.generation)}, where
    # The same answer every time it was sent, endpoints included.
    assert len({to_json(r) for r in replies}) == 1, where


@pytest.mark.parametrize("after", [False, True], ids=["fail-before", "die-after"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_cut_point_converges_when_lambda_retries(
    provider: tuple[World, list[BrokerEndpointsChanged]],
    name: str,
    after: bool,
    record_property: Callable[[str, object], None],
) -> None:
    w, views = provider
    scenario = SCENARIOS[name]
    base = sorted(SCENARIOS).index(name) * 1000 + (500 if after else 0)

    counting = CrashInjector(at=0)
    stack = prepared(w, base, views, scenario)
    event = delivered(scenario.under_test(stack, views))
    crash(stack, event, counting)
    cut_points = counting.seen
    assert cut_points >= 2, name
    record_property("cut_points", cut_points)

    for at in range(1, cut_points + 1):
        stack = prepared(w, base + at, views, scenario)
        event = delivered(scenario.under_test(stack, views))
        injector = CrashInjector(at=at, after=after)
        with pytest.raises(InjectedCrash):
            crash(stack, event, injector)

        result = stack.handler()(event)

        where = f"{name}: crash at call #{at} ({injector.operation}), after={after}"
        assert result["status"] == scenario.status, where
        assert_end_state(stack, views, scenario, where)
