"""`make bench`'s brokers-at-scale rows as a regression guard, at 60 brokers
(the bench runs 60, 120 and 180): nlb-per-broker is refused before any write
with the quota named, shared-nlb converges over shards within every quota."""

from __future__ import annotations

import math

import pytest

from bench import broker_scale

pytestmark = pytest.mark.integration


def test_nlb_per_broker_over_the_nlb_quota_is_refused_before_any_write() -> None:
    row = broker_scale.measure_one("nlb-per-broker", 1, 60)

    assert row.status == "refused", row.detail
    assert row.writes == 0
    assert "'Network Load Balancers per Region' is 50" in row.detail
    assert "needs 60" in row.detail
    assert row.calls["DescribeAccountLimits"] == 1


def test_shared_nlb_with_four_schemes_converges_over_shards_within_the_quotas() -> None:
    row = broker_scale.measure_one("shared-nlb", 4, 60)

    assert row.status == "converged", row.detail
    assert row.load_balancers == row.endpoint_services == math.ceil(60 / 11)
    assert row.most_listeners <= 50
    assert row.most_targets <= 500
