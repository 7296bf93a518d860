"""The account's load balancer quotas, read before any write, on the embedded
AWS (which answers AWS's documented defaults and enforces the NLB count)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from msk_privatelink.kernel.errors import QuotaExceededError
from tests.integration.harness import World, world

pytestmark = pytest.mark.integration


@pytest.fixture
def w() -> Iterator[World]:
    with world(brokers=6) as created:
        yield created


def foreign_load_balancers(w: World, count: int) -> None:
    elbv2 = w.aws.client("elbv2")
    for i in range(count):
        elbv2.create_load_balancer(
            Name=f"someone-else-{i}", Subnets=list(w.subnet_ids), Type="network", Scheme="internal"
        )


def test_a_plan_over_the_nlb_quota_is_refused_before_any_write(w: World) -> None:
    # Two load balancers of someone else's and a quota of 7: six more do not fit.
    w.aws.set_elb_limit("network-load-balancers", 7)
    foreign_load_balancers(w, 2)
    w.counter.reset()

    with pytest.raises(QuotaExceededError) as refused:
        w.reconcile()

    text = str(refused.value)
    assert "'Network Load Balancers per Region' is 7" in text
    assert "needs 8 (2 in the Region now + 6 this plan creates" in text
    assert w.counter.writes == Counter()
    assert w.counter.reads["DescribeAccountLimits"] == 1


def test_with_the_quota_raised_the_same_cluster_converges(w: World) -> None:
    w.aws.set_elb_limit("network-load-balancers", 7)
    foreign_load_balancers(w, 2)
    with pytest.raises(QuotaExceededError):
        w.reconcile()

    w.aws.set_elb_limit("network-load-balancers", 8)
    reconciler = w.reconciler()  # a fresh process: the quota is read again

    assert reconciler.reconcile(w.config).status == "converged"


def test_quotas_are_read_only_by_plans_that_grow_and_then_kept(w: World) -> None:
    reconciler = w.reconciler()
    reconciler.reconcile(w.config)
    w.aws.msk.scale(w.cluster_arn, 9)
    reconciler.reconcile(w.config)
    w.counter.reset()

    assert reconciler.reconcile(w.config).status == "unchanged"
    w.aws.msk.scale(w.cluster_arn, 12)
    assert reconciler.reconcile(w.config).status == "converged"

    # The no-op read nothing; the scale-out used the quotas read earlier.
    assert w.counter.reads["DescribeAccountLimits"] == 0
