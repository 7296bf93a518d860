"""Consumer sync crash consistency: a failure at every mutating call, then a re-run.

The provider publishes its events once; every cut point then gets a fresh
consumer account in the same embedded AWS (moto keeps accounts apart), is
brought to the scenario's starting point, crashes at that call (before it
reaches AWS, or right after it succeeded), and syncs the same event again.
The end state must be exactly the event's: one endpoint per service, one zone,
one record per name, the generation recorded, an empty re-plan.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from msk_privatelink.kernel.events import BrokerEndpointsChanged
from tests.consumer.support import Consumer, add_consumer, assert_follows, events_of
from tests.integration.harness import CrashInjector, InjectedCrash, World, world

pytestmark = [pytest.mark.integration, pytest.mark.crash]

Scenario = tuple[list[int], int]  # events applied first (by index), the event under test

SCENARIOS: dict[str, Scenario] = {
    "initial": ([], 0),
    "scale-out": ([0], 1),
    "scale-in": ([0, 1], 2),
}


def provider_events(w: World) -> list[BrokerEndpointsChanged]:
    w.reconcile()
    w.aws.msk.scale(w.cluster_arn, 6)
    w.reconcile()
    w.aws.msk.scale(w.cluster_arn, 3)
    w.reconcile()
    events = events_of(w)
    assert [len(e.brokers) for e in events] == [3, 6, 3]
    return events


def prepared(
    w: World, account: int, events: list[BrokerEndpointsChanged], first: list[int]
) -> Consumer:
    c = add_consumer(w, f"{444455550000 + account}")
    for index in first:
        c.sync(events[index])
    return c


def crash_run(
    c: Consumer, event: BrokerEndpointsChanged, injector: CrashInjector
) -> Callable[[], None]:
    service = c.service(
        ("before-call.*.*", injector.before), ("after-call.*.*", injector.after_call)
    )
    return lambda: service.sync(event)  # type: ignore[func-returns-value]


@pytest.mark.parametrize("after", [False, True], ids=["fail-before", "die-after"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_cut_point_converges_on_the_next_run(
    scenario: str, after: bool, record_property: Callable[[str, object], None]
) -> None:
    first, under_test = SCENARIOS[scenario]
    with world() as w:
        events = provider_events(w)
        event = events[under_test]

        counting = CrashInjector(at=0)
        c = prepared(w, 0, events, first)
        crash_run(c, event, counting)()
        cut_points = counting.seen
        assert cut_points > 0
        record_property("cut_points", cut_points)

        for at in range(1, cut_points + 1):
            c = prepared(w, at, events, first)
            injector = CrashInjector(at=at, after=after)
            with pytest.raises(InjectedCrash):
                crash_run(c, event, injector)()

            outcome = c.sync(event)

            where = f"{scenario}: crash at call #{at} ({injector.operation}), after={after}"
            assert outcome.status in ("converged", "unchanged"), where
            assert_follows(c, event)
            # Nothing left over from the crashed run: exactly one zone in the account.
            assert len(c.state()["zones"]) == 1, where
