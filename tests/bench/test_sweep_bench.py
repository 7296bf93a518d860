"""`make bench`'s sweep rows as a regression guard: with the template's
settings a sweep of 50 clusters of 30 brokers keeps ELB and EC2 Describe
calls within half the documented account rates, and covers every cluster."""

from __future__ import annotations

import pytest

from bench import sweep

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("pattern", sweep.PATTERNS)
def test_a_sweep_of_50_clusters_stays_within_half_the_describe_budget(pattern: str) -> None:
    read = sweep.measure_deep(pattern)
    settings = sweep.stack_settings()

    row = sweep.sweep_row(read, 50, settings)

    assert row.within, row.to_dict()
    assert row.per_tick * row.ticks_per_round >= 50
    # A tick's paced work ends before the next tick.
    assert row.tick_seconds < sweep.TICK_SECONDS
