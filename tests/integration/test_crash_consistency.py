"""Crash consistency: a failure at every mutating call, then a clean re-run.

For each scenario the clean run's mutating calls are counted first; then, for
every cut point, a fresh world fails that call (or dies right after it
succeeded), the reconciler runs again, and the end state must be exactly the
desired one: nothing orphaned, nothing duplicated, an empty re-plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from msk_privatelink.kernel.naming import (
    bootstrap_target_group_name,
    load_balancer_name,
    shared_load_balancer_name,
    shared_target_group_name,
    target_group_name,
)
from tests.integration.harness import (
    LEASE_SECONDS,
    CrashInjector,
    InjectedCrash,
    World,
    prepare_initial,
    prepare_ip_change,
    prepare_scale_in,
    prepare_scale_out,
    world,
)

pytestmark = [pytest.mark.integration, pytest.mark.crash]


SCENARIOS: dict[str, Callable[[World], None]] = {
    "initial-create": prepare_initial,
    "scale-out": prepare_scale_out,
    "ip-change": prepare_ip_change,
}


def expected_state(w: World) -> dict[str, object]:
    ips = w.broker_ips()
    return {
        "load_balancers": sorted(load_balancer_name(w.cluster_arn, b) for b in ips),
        "target_groups": {
            target_group_name(w.cluster_arn, b, 9098): [(ip, 9098)] for b, ip in ips.items()
        },
        "listeners": {
            load_balancer_name(w.cluster_arn, b): [
                (9098, target_group_name(w.cluster_arn, b, 9098))
            ]
            for b in ips
        },
        "endpoint_service_count": len(ips),
    }


def check_nlb_per_broker(w: World, where: str) -> None:
    state = w.inventory_of_everything()
    expected = expected_state(w)
    assert {k: state[k] for k in expected} == expected, where


# shared-nlb: one NLB, per-broker and bootstrap groups, the provider zone.
SHARED_SCENARIOS: dict[str, Callable[[World], None]] = {
    "shared-initial-create": prepare_initial,
    "shared-replacement": prepare_ip_change,
    "shared-scale-out": prepare_scale_out,
    "shared-scale-in": prepare_scale_in,
}
SHARED = {"pattern": "shared-nlb"}


def expected_shared_state(w: World) -> dict[str, object]:
    ips = w.broker_ips()
    arn = w.cluster_arn
    lb = shared_load_balancer_name(arn)
    boot = bootstrap_target_group_name(arn, 9098)
    own = {b: shared_target_group_name(arn, b, 9000 + b) for b in ips}
    return {
        "load_balancers": [lb],
        "target_groups": {
            **{own[b]: [(ip, 9098)] for b, ip in ips.items()},
            boot: sorted((ip, 9098) for ip in ips.values()),
        },
        "listeners": {lb: sorted([(9000 + b, own[b]) for b in ips] + [(9098, boot)])},
        "endpoint_service_count": 1,
    }


def shared_zones(w: World) -> list[tuple[str, list[str]]]:
    """Every hosted zone with its alias records (duplicates would show twice)."""
    r53 = w.aws.client("route53")
    return sorted(
        (
            zone["Name"].rstrip("."),
            sorted(
                r["Name"].rstrip(".")
                for r in r53.list_resource_record_sets(HostedZoneId=zone["Id"])[
                    "ResourceRecordSets"
                ]
                if r["Type"] == "A"
            ),
        )
        for zone in r53.list_hosted_zones()["HostedZones"]
    )


def expected_zones(w: World) -> list[tuple[str, list[str]]]:
    nodes = w.aws.client("kafka").list_nodes(ClusterArn=w.cluster_arn)["NodeInfoList"]
    hosts = sorted(n["BrokerNodeInfo"]["Endpoints"][0] for n in nodes)
    return [(hosts[0].split(".", 1)[1], hosts)]


def check_shared_nlb(w: World, where: str) -> None:
    state = w.inventory_of_everything()
    expected = expected_shared_state(w)
    assert {k: state[k] for k in expected} == expected, where
    # Exactly one provider zone, one alias per broker: no orphan, no duplicate.
    assert shared_zones(w) == expected_zones(w), where


# -- the sweep -------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """One scenario of one pattern: how to set the world up and what the
    end state must be after any cut."""

    prepare: Callable[[World], None]
    check_state: Callable[[World, str], None]
    config_overrides: dict[str, Any] = field(default_factory=dict)
    # A changed IP alone leaves the published view as it was: the run may
    # have nothing to publish.
    publishes: bool = True


SWEEPS: dict[str, Sweep] = {
    **{
        name: Sweep(prepare, check_nlb_per_broker, publishes=name != "ip-change")
        for name, prepare in SCENARIOS.items()
    },
    **{
        name: Sweep(prepare, check_shared_nlb, SHARED, publishes=name != "shared-replacement")
        for name, prepare in SHARED_SCENARIOS.items()
    },
}


def count_cut_points(sweep: Sweep) -> int:
    with world(config_overrides=sweep.config_overrides) as w:
        sweep.prepare(w)
        injector = CrashInjector(at=0)
        clients = w.clients(("before-call.*.*", injector.before))
        w.reconciler(clients).reconcile(w.config)
        return injector.seen


@pytest.mark.parametrize("after", [False, True], ids=["fail-before", "die-after"])
@pytest.mark.parametrize("scenario", sorted(SWEEPS))
def test_every_cut_point_converges_on_the_next_run(
    scenario: str, after: bool, record_property: Callable[[str, object], None]
) -> None:
    sweep = SWEEPS[scenario]
    cut_points = count_cut_points(sweep)
    assert cut_points > 0
    record_property("cut_points", cut_points)

    for at in range(1, cut_points + 1):
        with world(config_overrides=sweep.config_overrides) as w:
            sweep.prepare(w)
            injector = CrashInjector(at=at, after=after)
            crashing = w.clients(
                ("before-call.*.*", injector.before), ("after-call.*.*", injector.after_call)
            )
            with pytest.raises(InjectedCrash):
                w.reconciler(crashing).reconcile(w.config)

            # The dead run's lease (if it got one) blocks until it expires.
            w.now += LEASE_SECONDS + 1
            outcome = w.reconcile()

            where = f"{scenario}: crash at call #{at} ({injector.operation}), after={after}"
            assert outcome.status in ("converged", "unchanged"), where
            sweep.check_state(w, where)
            assert w.residual_plan_size() == 0, where
            # Consumers hear about the final view at least once, whatever the cut:
            # the recorded view is the current one, and the last event carries it.
            assert w.published_fingerprint() == w.current_view().fingerprint(), where
            events = w.published()
            if sweep.publishes:
                assert events, where
                last = events[-1]["detail"]
                assert [b["brokerId"] for b in last["brokers"]] == sorted(w.broker_ips()), where
