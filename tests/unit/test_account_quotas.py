"""A plan checked against the account's load balancer quotas (pure)."""

from __future__ import annotations

import dataclasses

import pytest
from msgspec.structs import replace

from msk_privatelink.kernel.errors import QuotaExceededError
from msk_privatelink.reconcile.account_quotas import check_elb_quotas, grows_elb_resources
from msk_privatelink.reconcile.desired import build_desired
from msk_privatelink.reconcile.resources import ActualState
from tests.factories import CLUSTER_ARN, actual_from, broker, config, inventory

SIX = inventory(tuple(broker(i) for i in range(1, 7)))


def test_new_load_balancers_count_with_every_nlb_already_in_the_region() -> None:
    desired = build_desired(config(), SIX)
    empty = ActualState(cluster_arn=CLUSTER_ARN, region_network_load_balancers=45)
    check_elb_quotas(desired, empty, {"network-load-balancers": 51})

    with pytest.raises(QuotaExceededError) as refused:
        check_elb_quotas(desired, empty, {"network-load-balancers": 50})

    text = str(refused.value)
    assert "'Network Load Balancers per Region' is 50" in text
    assert "needs 51 (45 in the Region now + 6 this plan creates" in text
    assert "raise it in Service Quotas" in text
    assert "nothing was changed" in text


def test_the_documented_default_applies_when_the_account_lists_no_value() -> None:
    desired = build_desired(config(), SIX)
    actual = ActualState(cluster_arn=CLUSTER_ARN, region_network_load_balancers=47)
    with pytest.raises(QuotaExceededError, match="is 50 in this account"):
        check_elb_quotas(desired, actual, {})


def test_existing_load_balancers_of_the_cluster_are_not_counted_again() -> None:
    desired = build_desired(config(), SIX)
    actual = replace(actual_from(desired), region_network_load_balancers=50)
    check_elb_quotas(desired, actual, {})


def test_listeners_over_the_limit_are_refused_as_a_limit_aws_does_not_raise() -> None:
    desired = build_desired(config(pattern="shared-nlb"), SIX)
    with pytest.raises(
        QuotaExceededError,
        match=r"'Listeners per Network Load Balancer' is 5 .*AWS does not raise it",
    ):
        check_elb_quotas(
            desired,
            ActualState(cluster_arn=CLUSTER_ARN),
            {"listeners-per-network-load-balancer": 5},
        )


def test_targets_behind_a_cross_zone_load_balancer_are_held_to_the_per_zone_quota() -> None:
    desired = build_desired(config(pattern="shared-nlb"), SIX)
    # 6 brokers: 6 in their own groups and 6 in the bootstrap group.
    actual = ActualState(cluster_arn=CLUSTER_ARN)
    check_elb_quotas(
        desired, actual, {"targets-per-availability-zone-per-network-load-balancer": 12}
    )
    with pytest.raises(
        QuotaExceededError,
        match=r"'Targets per Availability Zone per Network Load Balancer' is 11 .* needs 12",
    ):
        check_elb_quotas(
            desired, actual, {"targets-per-availability-zone-per-network-load-balancer": 11}
        )


def test_only_a_plan_that_adds_load_balancers_listeners_or_targets_is_checked() -> None:
    desired = build_desired(config(), SIX)
    converged = actual_from(desired)
    assert not grows_elb_resources(desired, converged)
    # A broker's address moving: as many targets as before.
    moved = inventory((dataclasses.replace(SIX.brokers[0], ip="10.0.9.9"), *SIX.brokers[1:]))
    assert not grows_elb_resources(build_desired(config(), moved), converged)
    # A scale-in: fewer of everything.
    assert not grows_elb_resources(build_desired(config(), inventory()), converged)
    grown = inventory(tuple(broker(i) for i in range(1, 10)))
    assert grows_elb_resources(build_desired(config(), grown), converged)
    # shared-nlb: a scale-out adds targets to the bootstrap group and listeners.
    shared = build_desired(config(pattern="shared-nlb"), SIX)
    more = build_desired(config(pattern="shared-nlb"), grown)
    assert grows_elb_resources(more, actual_from(shared))


def test_new_target_groups_count_with_every_target_group_in_the_region() -> None:
    desired = build_desired(config(), SIX)  # six target groups, one per broker
    actual = ActualState(cluster_arn=CLUSTER_ARN, region_target_groups=2995)
    check_elb_quotas(desired, actual, {"target-groups": 3001})
    with pytest.raises(
        QuotaExceededError, match=r"'Target groups per Region' is 3000 .* needs 3001"
    ):
        check_elb_quotas(desired, actual, {})
