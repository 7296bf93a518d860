"""`make bench --quick`'s call counts as regression guards (times are not asserted).

A change that makes the reconciler call AWS more often than the targets allow
fails here, in `make test`, instead of waiting for someone to read a
benchmark table.
"""

from __future__ import annotations

import pytest

from bench.scenarios import PATTERNS, QUICK_BROKER_COUNTS, Scenario, run_all
from bench.targets import TargetResult, reconcile_targets, target_key

pytestmark = pytest.mark.integration

PATTERN = PATTERNS[0]
# The scale-out target compares against the initial create's per-broker writes.
SCENARIOS: tuple[Scenario, ...] = ("create", "noop", "ip_change", "scale_out")


@pytest.fixture(scope="module")
def targets() -> dict[str, TargetResult]:
    results = run_all(
        patterns=(PATTERN,),
        brokers=QUICK_BROKER_COUNTS,
        scenarios=SCENARIOS,
        repeat=1,
        memory=False,
    )
    return {t.key: t for t in reconcile_targets(results)}


def check(targets: dict[str, TargetResult], kind: str, brokers: int) -> None:
    target = targets[target_key(kind, PATTERN, brokers)]
    assert target.status == "pass", (
        f"{target.name} ({target.subject}): measured {target.measured}; "
        f"limit {target.limit}; other writes {target.other_writes or 'none'}"
    )


@pytest.mark.parametrize("brokers", QUICK_BROKER_COUNTS)
def test_noop_reconcile_makes_no_writes(targets: dict[str, TargetResult], brokers: int) -> None:
    check(targets, "noop-writes", brokers)


@pytest.mark.parametrize("brokers", QUICK_BROKER_COUNTS)
def test_noop_reconcile_reads_stay_within_budget(
    targets: dict[str, TargetResult], brokers: int
) -> None:
    check(targets, "noop-reads", brokers)


@pytest.mark.parametrize("brokers", QUICK_BROKER_COUNTS)
def test_ip_change_moves_the_target_with_two_writes(
    targets: dict[str, TargetResult], brokers: int
) -> None:
    check(targets, "ip-change-writes", brokers)


@pytest.mark.parametrize(
    "brokers",
    QUICK_BROKER_COUNTS,
)
def test_scale_out_writes_only_for_the_new_brokers(
    targets: dict[str, TargetResult], brokers: int
) -> None:
    check(targets, "scale-out-writes", brokers)
