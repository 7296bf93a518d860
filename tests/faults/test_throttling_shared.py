"""shared-nlb under throttling: 30% of AWS calls (Route 53 included) answer
with the service's throttling error, and every scenario still converges to
exactly the desired resources, provider zone and published view."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from msk_privatelink.aws.clients import AwsClients
from tests.faults.support import record_calls
from tests.faults.test_throttling import Throttler, converge, no_backoff
from tests.integration.harness import world
from tests.integration.test_crash_consistency import (
    SHARED,
    SHARED_SCENARIOS,
    expected_shared_state,
    expected_zones,
    shared_zones,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

__all__ = ["no_backoff"]  # retries without sleeps


@pytest.mark.parametrize("scenario", sorted(SHARED_SCENARIOS))
def test_shared_nlb_scenario_converges_under_throttling(
    scenario: str, record_property: Callable[[str, object], None]
) -> None:
    seed = 500 + sorted(SHARED_SCENARIOS).index(scenario)
    with world(config_overrides=SHARED) as w:
        SHARED_SCENARIOS[scenario](w)
        throttler = Throttler(seed)
        session = w.session()
        throttler.install(session)

        result = converge(w, AwsClients(session, region=w.aws.region))

        answered = sum(throttler.answered.values())
        where = f"{scenario} (seed {seed}): {dict(sorted(throttler.answered.items()))}"
        record_property("throttled_answers", answered)
        record_property("runs_to_converge", result.runs)
        assert answered > 0, where
        assert throttler.answered["route-53"] > 0, where
        state = w.inventory_of_everything()
        expected = expected_shared_state(w)
        assert {k: state[k] for k in expected} == expected, where
        assert shared_zones(w) == expected_zones(w), where
        assert w.residual_plan_size() == 0, where
        assert w.published_fingerprint() == w.current_view().fingerprint(), where
        with record_calls() as log:
            clean = w.reconciler(w.clients()).reconcile(w.config)
        assert clean.status == "unchanged", where
        assert log.resource_writes(log.calls) == Counter(), where
