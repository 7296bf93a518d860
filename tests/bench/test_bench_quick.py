"""`make bench --quick`'s call counts as regression guards (times are not asserted).

A change that makes the reconciler call AWS more often than the targets allow
fails here, in `make test`, instead of waiting for someone to read a
benchmark table.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bench.scenarios import (
    QUICK_BROKER_COUNTS,
    Sample,
    Scenario,
    ScenarioResult,
    Variant,
    run_all,
    variant,
)
from bench.targets import TargetResult, reconcile_targets, target_key

pytestmark = pytest.mark.integration

PER_BROKER = variant("nlb-per-broker")
SHARED = variant("shared-nlb")
# With the advertised listeners in a cluster configuration: on an IP change or
# a scale-out the template it advertises stays the same, so no MSK write.
SHARED_VARIANTS = (SHARED, variant("shared-nlb, msk-configuration"))
SHARED_BROKERS = 3
# The nlb-per-broker scale-out target compares against the initial create's
# per-broker writes; shared-nlb's is stated by the design and needs no create.
PER_BROKER_SCENARIOS: tuple[Scenario, ...] = ("create", "noop", "ip_change", "scale_out")
SHARED_SCENARIOS: tuple[Scenario, ...] = ("noop", "ip_change", "scale_out")
# nlb-per-broker in an account whose NLB quota three brokers exceed.
TIGHT_QUOTA = Variant(
    "nlb-per-broker, NLB quota 2",
    "nlb-per-broker",
    "a quota below what 3 brokers need",
    nlb_quota=2,
)


def _targets(
    variants: tuple[Variant, ...], brokers: tuple[int, ...], scenarios: tuple[Scenario, ...]
) -> dict[str, TargetResult]:
    results = run_all(
        variants=variants, brokers=brokers, scenarios=scenarios, repeat=1, memory=False
    )
    return {t.key: t for t in reconcile_targets(results)}


@pytest.fixture(scope="module")
def per_broker_targets() -> dict[str, TargetResult]:
    return _targets((PER_BROKER,), QUICK_BROKER_COUNTS, PER_BROKER_SCENARIOS)


@pytest.fixture(scope="module")
def shared_targets() -> dict[str, TargetResult]:
    return _targets(SHARED_VARIANTS, (SHARED_BROKERS,), SHARED_SCENARIOS)


def check(targets: dict[str, TargetResult], kind: str, name: str, brokers: int) -> None:
    target = targets[target_key(kind, name, brokers)]
    assert target.status == "pass", (
        f"{target.name} ({target.subject}): measured {target.measured}; "
        f"limit {target.limit}; other writes {target.other_writes or 'none'}"
    )


@pytest.mark.parametrize("brokers", QUICK_BROKER_COUNTS)
def test_noop_reconcile_makes_no_writes(
    per_broker_targets: dict[str, TargetResult], brokers: int
) -> None:
    check(per_broker_targets, "noop-writes", PER_BROKER.name, brokers)


@pytest.mark.parametrize("brokers", QUICK_BROKER_COUNTS)
def test_noop_reconcile_reads_stay_within_budget(
    per_broker_targets: dict[str, TargetResult], brokers: int
) -> None:
    check(per_broker_targets, "noop-reads", PER_BROKER.name, brokers)


@pytest.mark.parametrize("brokers", QUICK_BROKER_COUNTS)
def test_ip_change_moves_the_target_with_two_writes(
    per_broker_targets: dict[str, TargetResult], brokers: int
) -> None:
    check(per_broker_targets, "ip-change-writes", PER_BROKER.name, brokers)


@pytest.mark.parametrize("brokers", QUICK_BROKER_COUNTS)
def test_scale_out_writes_only_for_the_new_brokers(
    per_broker_targets: dict[str, TargetResult], brokers: int
) -> None:
    check(per_broker_targets, "scale-out-writes", PER_BROKER.name, brokers)


SHARED_NAMES = [v.name for v in SHARED_VARIANTS]


@pytest.mark.parametrize("name", SHARED_NAMES)
@pytest.mark.parametrize("kind", ["noop-writes", "noop-reads"])
def test_shared_nlb_noop_reconcile_writes_nothing_and_reads_within_budget(
    shared_targets: dict[str, TargetResult], kind: str, name: str
) -> None:
    check(shared_targets, kind, name, SHARED_BROKERS)


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_shared_nlb_ip_change_moves_the_broker_in_its_group_and_the_bootstrap_group(
    shared_targets: dict[str, TargetResult], name: str
) -> None:
    check(shared_targets, "ip-change-writes", name, SHARED_BROKERS)


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_shared_nlb_scale_out_writes_only_the_new_brokers_listeners_and_groups(
    shared_targets: dict[str, TargetResult], name: str
) -> None:
    check(shared_targets, "scale-out-writes", name, SHARED_BROKERS)


def test_over_the_nlb_quota_the_reconciler_refuses_before_any_write() -> None:
    results = run_all(
        variants=(TIGHT_QUOTA,), brokers=(3,), scenarios=("noop",), repeat=1, memory=False
    )

    (result,) = results
    assert result.error is not None
    assert result.error.stage == "refused", result.error
    assert "'Network Load Balancers per Region' is 2" in result.error.detail
    assert "needs 3" in result.error.detail
    targets = {t.key: t for t in reconcile_targets(results)}
    check(targets, "quota-refusal", TIGHT_QUOTA.name, 3)
    assert targets[target_key("noop-writes", TIGHT_QUOTA.name, 3)].status == "skipped"


def _measured(current: Variant, scenario: Scenario, writes: Counter[str]) -> ScenarioResult:
    """A shared-nlb result at 3 brokers (one scheme) with the given writes."""
    brokers = SHARED_BROKERS + (3 if scenario == "scale_out" else 0)
    result = ScenarioResult(current, SHARED_BROKERS, scenario)
    result.samples.append(
        Sample(
            calls=writes,
            seconds=0.1,
            peak_bytes=None,
            status="converged",
            load_balancers=1,
            target_groups=brokers + 1,
            endpoint_services=1,
        )
    )
    return result


@pytest.mark.parametrize(
    ("scenario", "writes", "status"),
    [
        ("ip_change", {"RegisterTargets": 2, "DeregisterTargets": 2}, "pass"),
        # The bootstrap group left holding the old address.
        ("ip_change", {"RegisterTargets": 2, "DeregisterTargets": 1}, "fail"),
        ("ip_change", {"RegisterTargets": 2, "DeregisterTargets": 2, "PutEvents": 2}, "fail"),
        (
            "scale_out",
            {
                "CreateTargetGroup": 3,
                "CreateListener": 3,
                "RegisterTargets": 4,
                "ChangeResourceRecordSets": 1,
                "PutEvents": 1,
                "UpdateItem": 1,
            },
            "pass",
        ),
        # One record change per new name instead of one batch.
        (
            "scale_out",
            {
                "CreateTargetGroup": 3,
                "CreateListener": 3,
                "RegisterTargets": 4,
                "ChangeResourceRecordSets": 3,
            },
            "fail",
        ),
        # Something shared touched on scale-out.
        (
            "scale_out",
            {
                "CreateTargetGroup": 3,
                "CreateListener": 3,
                "RegisterTargets": 4,
                "ChangeResourceRecordSets": 1,
                "ModifyLoadBalancerAttributes": 1,
            },
            "fail",
        ),
    ],
)
def test_shared_nlb_write_targets_follow_the_design(
    scenario: Scenario, writes: dict[str, int], status: str
) -> None:
    result = _measured(SHARED, scenario, Counter(writes))

    (target,) = reconcile_targets([result])[:1]

    assert target.status == status, target
