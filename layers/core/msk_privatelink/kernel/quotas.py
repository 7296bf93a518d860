"""The AWS quotas the design touches, as AWS documents them, and what each
grows with. docs/scale.md shows this table (a test keeps the two equal), so
numbers live in one place: the walls the code enforces
(``reconcile/ports.py``, ``consumer/sync.py``) are checked against it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    key: str
    name: str  # as the source page names it
    default: int
    adjustable: bool
    source: str  # the AWS documentation page
    grows_with: str  # what this project adds to it


NLB_PAGE = 'Elastic Load Balancing, "Quotas for your Network Load Balancers"'
PRIVATELINK_PAGE = 'AWS PrivateLink, "AWS PrivateLink quotas"'
ROUTE53_PAGE = 'Amazon Route 53 Developer Guide, "Quotas"'
EVENTBRIDGE_PAGE = 'Amazon EventBridge User Guide, "Amazon EventBridge quotas"'

QUOTAS: tuple[Quota, ...] = (
    Quota(
        "listeners_per_nlb",
        "Listeners per Network Load Balancer",
        50,
        False,
        NLB_PAGE,
        "nlb-per-broker: schemes per broker's NLB (at most 4); "
        "shared-nlb: schemes x (brokers of the shard + 1) per NLB, never above the limit "
        "(brokers spread over as many NLBs as it requires)",
    ),
    Quota(
        "nlbs_per_region",
        "Network Load Balancers per Region",
        50,
        True,
        NLB_PAGE,
        "nlb-per-broker: one per broker of every cluster in the Region; "
        "shared-nlb: one per shard of every cluster (brokers / shard capacity, rounded up)",
    ),
    Quota(
        "target_groups_per_region",
        "Target groups per Region",
        3000,
        True,
        NLB_PAGE,
        "both patterns: schemes per broker, shared-nlb also one per scheme for the bootstrap; "
        "every cluster in the Region together",
    ),
    Quota(
        "targets_per_nlb",
        "Targets per Network Load Balancer",
        3000,
        True,
        NLB_PAGE,
        "shared-nlb: per NLB schemes x brokers of the shard, plus on the first NLB "
        "schemes x the bootstrap groups' brokers (at most 50)",
    ),
    Quota(
        "targets_per_az_per_nlb",
        "Targets per Availability Zone per Network Load Balancer",
        500,
        True,
        NLB_PAGE,
        "shared-nlb: with cross-zone load balancing on (as here) it bounds each NLB's targets "
        "whatever its zones: at most 4 x (11 + 50) = 244",
    ),
    Quota(
        "interface_endpoints_per_vpc",
        "Interface and Gateway Load Balancer endpoints per VPC",
        50,
        True,
        PRIVATELINK_PAGE,
        "consumer VPC: nlb-per-broker one per broker of every consumed cluster; "
        "shared-nlb one per shard of every consumed cluster",
    ),
    Quota(
        "weighted_records_per_name",
        "Records with the same name and type in a weighted routing policy",
        100,
        False,
        ROUTE53_PAGE,
        "consumer bootstrap name (nlb-per-broker): one per broker, capped at 100",
    ),
    Quota(
        "rules_per_bus",
        "Rules per event bus",
        300,
        True,
        EVENTBRIDGE_PAGE,
        "provider bus: the stack's own rules only, whatever the clusters and tenants "
        "(one rule and a delivery function carry every tenant's events)",
    ),
    Quota(
        "bus_policy_size",
        "Event bus policy size (characters)",
        10240,
        True,
        EVENTBRIDGE_PAGE,
        "provider bus policy: one statement per consumer account (about 237 characters), "
        "or one for the consumers' organization (ConsumerOrganizationId)",
    ),
)

BY_KEY = {q.key: q for q in QUOTAS}


def markdown_table() -> str:
    """The quota table of docs/scale.md."""
    lines = [
        "| quota | default | adjustable | grows with | source |",
        "|---|---:|---|---|---|",
    ]
    for q in QUOTAS:
        adjustable = "yes" if q.adjustable else "**no**"
        lines.append(f"| {q.name} | {q.default:,} | {adjustable} | {q.grows_with} | {q.source} |")
    return "\n".join(lines)
