"""The plan against the account's Elastic Load Balancing quotas, before any write.

The values come from ``DescribeAccountLimits`` (the account's applied quotas,
raised ones included; names from the Elastic Load Balancing API Reference,
"Limit"). A plan that would pass one is refused whole, naming the quota, its
value, what the plan needs and how to raise it: AWS would refuse the create
that crosses it, after the ones before it had been made.

Pure: the same answer for the same plan, state and limits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from msk_privatelink.kernel.errors import QuotaExceededError
from msk_privatelink.reconcile.resources import ActualState, DesiredState

NLB_QUOTAS_PAGE = 'Elastic Load Balancing, "Quotas for your Network Load Balancers"'


@dataclass(frozen=True)
class ElbLimit:
    name: str  # DescribeAccountLimits' Name
    title: str  # as the quotas page names it
    default: int
    adjustable: bool


NETWORK_LOAD_BALANCERS = ElbLimit(
    "network-load-balancers", "Network Load Balancers per Region", 50, True
)
LISTENERS_PER_NLB = ElbLimit(
    "listeners-per-network-load-balancer", "Listeners per Network Load Balancer", 50, False
)
TARGETS_PER_NLB = ElbLimit(
    "targets-per-network-load-balancer", "Targets per Network Load Balancer", 3000, True
)
# With cross-zone load balancing on (as every load balancer here), the most
# targets a load balancer takes whatever its zones (note 3 of the page).
TARGETS_PER_AZ_PER_NLB = ElbLimit(
    "targets-per-availability-zone-per-network-load-balancer",
    "Targets per Availability Zone per Network Load Balancer",
    500,
    True,
)
TARGET_GROUPS = ElbLimit("target-groups", "Target groups per Region", 3000, True)
LIMITS: tuple[ElbLimit, ...] = (
    NETWORK_LOAD_BALANCERS,
    TARGET_GROUPS,
    LISTENERS_PER_NLB,
    TARGETS_PER_NLB,
    TARGETS_PER_AZ_PER_NLB,
)


def grows_elb_resources(desired: DesiredState, actual: ActualState) -> bool:
    """Only a converged state with more load balancers, listeners or targets
    than now can cross these quotas: any other plan (a no-op, a broker's
    address moving, a scale-in) is not checked and reads no limits."""
    if any(name not in actual.load_balancers for name in desired.load_balancers):
        return True
    if any(name not in actual.target_groups for name in desired.target_groups):
        return True
    if any(key not in actual.listeners for key in desired.listeners):
        return True
    return any(
        len(spec.targets) > len(actual.target_groups[name].targets)
        if name in actual.target_groups
        else bool(spec.targets)
        for name, spec in desired.target_groups.items()
    )


def check_elb_quotas(desired: DesiredState, actual: ActualState, limits: Mapping[str, int]) -> None:
    """Raise QuotaExceededError for the first quota the converged state would pass."""

    def value(limit: ElbLimit) -> int:
        return limits.get(limit.name, limit.default)

    for limit, present, wanted, existing in (
        (
            NETWORK_LOAD_BALANCERS,
            actual.region_network_load_balancers,
            desired.load_balancers,
            actual.load_balancers,
        ),
        (TARGET_GROUPS, actual.region_target_groups, desired.target_groups, actual.target_groups),
    ):
        new = sum(1 for name in wanted if name not in existing)
        if new and present + new > value(limit):
            _refuse(
                limit,
                value(limit),
                present + new,
                f"{present} in the Region now + {new} this plan creates for {desired.cluster_arn}",
            )
    listeners = Counter(spec.load_balancer for spec in desired.listeners.values())
    for lb, count in sorted(listeners.items()):
        if count > value(LISTENERS_PER_NLB):
            _refuse(LISTENERS_PER_NLB, value(LISTENERS_PER_NLB), count, f"on {lb}")
    targets: Counter[str] = Counter()
    for spec in desired.listeners.values():
        group = desired.target_groups.get(spec.target_group)
        if group is not None:
            targets[spec.load_balancer] += len(group.targets)
    most = min(value(TARGETS_PER_NLB), value(TARGETS_PER_AZ_PER_NLB))
    limit = TARGETS_PER_AZ_PER_NLB if most == value(TARGETS_PER_AZ_PER_NLB) else TARGETS_PER_NLB
    for lb, count in sorted(targets.items()):
        if count > most:
            _refuse(limit, most, count, f"registered behind {lb} (cross-zone load balancing on)")


def _refuse(limit: ElbLimit, value: int, needed: int, detail: str) -> None:
    how = (
        f"raise it in Service Quotas (Elastic Load Balancing, '{limit.title}') and run again"
        if limit.adjustable
        else "AWS does not raise it; the design should never need more (report this)"
    )
    raise QuotaExceededError(
        f"'{limit.title}' is {value} in this account and Region, and the plan needs "
        f"{needed} ({detail}); {how}; nothing was changed ({NLB_QUOTAS_PAGE})"
    )
