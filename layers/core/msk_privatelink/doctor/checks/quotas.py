"""Check 5: the plan against the account's Elastic Load Balancing quotas,
counted as reconcile/account_quotas.py counts them (the same limits, read
with DescribeAccountLimits), but as headroom rather than a refusal.

Severity per quota: fail when the converged state needs more than the
quota (the reconciler would refuse the plan), warn above 80 % of it, else
pass. Listeners per Network Load Balancer is the exception: shared-nlb fills
every shard to that limit on purpose (a new broker opens the next load
balancer) and AWS does not raise it, so it only fails when passed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from msk_privatelink.doctor.facts import ClusterFacts, Unread
from msk_privatelink.doctor.result import CheckResult, failed, not_checked, passed, warned
from msk_privatelink.doctor.sources import QUOTAS_PAGE
from msk_privatelink.kernel.errors import MskPrivateLinkError
from msk_privatelink.reconcile.account_quotas import (
    LISTENERS_PER_NLB,
    NETWORK_LOAD_BALANCERS,
    TARGET_GROUPS,
    TARGETS_PER_AZ_PER_NLB,
    TARGETS_PER_NLB,
    ElbLimit,
)
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.desired import build_desired
from msk_privatelink.reconcile.resources import ActualState, DesiredState

WARN_RATIO = 0.8
CHECKS: dict[str, ElbLimit] = {
    "quota-nlbs": NETWORK_LOAD_BALANCERS,
    "quota-target-groups": TARGET_GROUPS,
    "quota-listeners": LISTENERS_PER_NLB,
    "quota-targets": TARGETS_PER_NLB,
}


@dataclass(frozen=True)
class Usage:
    check: str
    limit: ElbLimit
    value: int  # the quota in this account and Region
    needed: int
    detail: str  # what the need is made of


def quota_usage(
    desired: DesiredState, actual: ActualState, limits: Mapping[str, int]
) -> list[Usage]:
    """What the converged state needs of each quota."""

    def value(limit: ElbLimit) -> int:
        return limits.get(limit.name, limit.default)

    usages = []
    for check, limit, present, wanted, existing in (
        (
            "quota-nlbs",
            NETWORK_LOAD_BALANCERS,
            actual.region_network_load_balancers,
            desired.load_balancers,
            actual.load_balancers,
        ),
        (
            "quota-target-groups",
            TARGET_GROUPS,
            actual.region_target_groups,
            desired.target_groups,
            actual.target_groups,
        ),
    ):
        new = sum(1 for name in wanted if name not in existing)
        usages.append(
            Usage(check, limit, value(limit), present + new, f"{present} in the Region + {new} new")
        )
    listeners = Counter(spec.load_balancer for spec in desired.listeners.values())
    busiest = max(listeners.items(), key=lambda kv: (kv[1], kv[0]), default=("-", 0))
    usages.append(
        Usage(
            "quota-listeners",
            LISTENERS_PER_NLB,
            value(LISTENERS_PER_NLB),
            busiest[1],
            f"most on one load balancer ({busiest[0]})",
        )
    )
    targets: Counter[str] = Counter()
    for spec in desired.listeners.values():
        group = desired.target_groups.get(spec.target_group)
        if group is not None:
            targets[spec.load_balancer] += len(group.targets)
    # With cross-zone load balancing on, the per-zone quota bounds every
    # load balancer whatever its zones (account_quotas.py).
    per_az = value(TARGETS_PER_AZ_PER_NLB)
    limit = TARGETS_PER_AZ_PER_NLB if per_az <= value(TARGETS_PER_NLB) else TARGETS_PER_NLB
    most = max(targets.items(), key=lambda kv: (kv[1], kv[0]), default=("-", 0))
    usages.append(
        Usage(
            "quota-targets",
            limit,
            value(limit),
            most[1],
            f"most behind one load balancer ({most[0]}, cross-zone load balancing on)",
        )
    )
    return usages


def _result(usage: Usage) -> CheckResult:
    limit = usage.limit
    detail = (
        f"'{limit.title}': needs {usage.needed} of {usage.value} ({usage.detail})"
        if usage.value
        else f"'{limit.title}' is 0 in this account"
    )
    raise_it = (
        f"request an increase in Service Quotas (Elastic Load Balancing, '{limit.title}')"
        if limit.adjustable
        else "AWS does not raise it: for shared-nlb lower shared_nlb.brokers_per_load_balancer"
    )
    if usage.needed > usage.value:
        return failed(
            usage.check, detail + ": the reconciler would refuse the plan", raise_it, QUOTAS_PAGE
        )
    if limit is not LISTENERS_PER_NLB and usage.needed > WARN_RATIO * usage.value:
        return warned(
            usage.check, detail + ": over 80 %", raise_it + " before growing", QUOTAS_PAGE
        )
    return passed(usage.check, detail, QUOTAS_PAGE)


def check_quotas(
    config: ClusterConfig | None,
    cluster: ClusterFacts | Unread | None,
    actual: ActualState | Unread | None,
    limits: Mapping[str, int] | Unread | None,
) -> list[CheckResult]:
    def everyone(because: str) -> list[CheckResult]:
        return [not_checked(check, because, QUOTAS_PAGE) for check in CHECKS]

    if config is None:
        return everyone("no configuration")
    if not isinstance(cluster, ClusterFacts):
        return everyone("the cluster could not be read")
    for fact in (actual, limits):
        if isinstance(fact, Unread):
            return [
                failed(check, f"cannot read: {fact}", f"allow {fact.action}", QUOTAS_PAGE)
                for check in CHECKS
            ]
    if not isinstance(actual, ActualState) or limits is None or isinstance(limits, Unread):
        return everyone("the load balancers were not read")
    try:
        desired = build_desired(config, cluster.inventory)
    except MskPrivateLinkError as exc:
        return everyone(f"no plan can be made: {exc}")
    return [_result(u) for u in quota_usage(desired, actual, limits)]
