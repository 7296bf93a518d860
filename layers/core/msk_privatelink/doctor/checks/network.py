"""Checks 2 and 4: the NLB subnets and the cluster's security groups.

The NLB subnets are the configuration's ``subnet_ids`` or else the cluster's
client subnets (reconcile/desired_common.py ``resolve_subnets``).

Subnets (fail): every NLB subnet must exist in the cluster's VPC (the target
groups are created there), at most one per Availability Zone
(CreateLoadBalancer takes one subnet per zone), and the zones must cover every
zone with a broker: targets in a zone the load balancer does not enable
receive no traffic.

Security groups (fail): the targets are the brokers' IP addresses over TCP,
where client IP preservation is off by default, so connections (and health
checks) come from the load balancer's private addresses in its subnets. The
cluster's groups must admit every NLB subnet's CIDR (a rule for the VPC's
CIDR covers them) on the broker port of every exposed scheme. A rule naming
a security group never admits them (the load balancers have none); a gap
that a prefix list on a matching rule might cover (doctor does not resolve
prefix lists) warns instead.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from msk_privatelink.doctor.facts import ClusterFacts, IngressRule, Subnet, Unread
from msk_privatelink.doctor.result import CheckResult, failed, not_checked, passed, warned
from msk_privatelink.doctor.sources import AZ_PAGE, CLIENT_IP_PAGE, MSK_PORTS_PAGE
from msk_privatelink.kernel.errors import MskPrivateLinkError
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.desired_common import resolve_schemes, resolve_subnets

SUBNETS_CHECK = "subnets"
SECURITY_GROUPS_CHECK = "security-groups"


def check_subnets(
    config: ClusterConfig | None,
    cluster: ClusterFacts | Unread | None,
    subnets: Mapping[str, Subnet] | Unread,
) -> CheckResult:
    if config is None:
        return not_checked(SUBNETS_CHECK, "no configuration")
    if not isinstance(cluster, ClusterFacts):
        return not_checked(SUBNETS_CHECK, "the cluster could not be read")
    if isinstance(subnets, Unread):
        return failed(
            SUBNETS_CHECK,
            f"cannot read the subnets: {subnets}",
            "allow ec2:DescribeSubnets",
            AZ_PAGE,
        )
    inventory = cluster.inventory
    wanted = sorted(resolve_subnets(config, inventory))
    origin = "subnet_ids" if config.subnet_ids else "the cluster's client subnets"
    problems: list[str] = []
    fixes: list[str] = []
    missing = [s for s in wanted if s not in subnets]
    if missing:
        problems.append(f"{', '.join(missing)} ({origin}) do not exist")
    foreign = [s for s in wanted if s in subnets and subnets[s].vpc_id != inventory.vpc_id]
    if foreign:
        problems.append(f"{', '.join(foreign)} are not in the cluster's VPC {inventory.vpc_id}")
    if missing or foreign:
        fixes.append(f"set subnet_ids to subnets of {inventory.vpc_id}, or omit it")
    zones: dict[str, list[str]] = {}
    for s in wanted:
        if s in subnets and s not in foreign:
            zones.setdefault(subnets[s].availability_zone, []).append(s)
    crowded = {zone: ids for zone, ids in zones.items() if len(ids) > 1}
    for zone, ids in sorted(crowded.items()):
        problems.append(f"{', '.join(ids)} share {zone} (a load balancer takes one per zone)")
    if crowded:
        fixes.append("keep one subnet per Availability Zone in subnet_ids")
    uncovered: dict[str, list[int]] = {}
    unknown: list[int] = []
    for broker in inventory.brokers:
        subnet = subnets.get(broker.subnet_id or "")
        if subnet is None:
            if broker.subnet_id:
                unknown.append(broker.broker_id)
            continue
        if subnet.availability_zone not in zones:
            uncovered.setdefault(subnet.availability_zone, []).append(broker.broker_id)
    for zone, broker_ids in sorted(uncovered.items()):
        problems.append(
            f"broker(s) {', '.join(map(str, broker_ids))} in {zone}, a zone no NLB subnet is in: "
            "their targets would receive no traffic"
        )
    if uncovered:
        fixes.append(
            f"add a subnet of {', '.join(sorted(uncovered))} to subnet_ids (or omit subnet_ids "
            "to use the cluster's client subnets)"
        )
    if unknown:
        problems.append(f"the subnets of broker(s) {', '.join(map(str, unknown))} were not found")
    if problems:
        return failed(SUBNETS_CHECK, "; ".join(problems), "; ".join(fixes), AZ_PAGE)
    return passed(
        SUBNETS_CHECK,
        f"{len(wanted)} NLB subnet(s) ({origin}) in {', '.join(sorted(zones))} cover every "
        "broker's zone",
        AZ_PAGE,
    )


def _admitting(rules: tuple[IngressRule, ...], port: int) -> list[IngressRule]:
    return [r for r in rules if r.admits_tcp(port)]


def _covers(rules: list[IngressRule], cidr: str) -> bool:
    """Whether the rules' CIDRs together contain the whole subnet."""
    subnet = ipaddress.ip_network(cidr, strict=False)
    networks = []
    for rule in rules:
        for source in rule.cidrs:
            network = ipaddress.ip_network(source, strict=False)
            if network.version == subnet.version:
                networks.append(network)
    collapsed = ipaddress.collapse_addresses(networks)  # type: ignore[type-var]
    return any(subnet.subnet_of(n) for n in collapsed)  # type: ignore[arg-type]


def check_security_groups(
    config: ClusterConfig | None,
    cluster: ClusterFacts | Unread | None,
    subnets: Mapping[str, Subnet] | Unread,
    ingress: tuple[IngressRule, ...] | Unread,
) -> CheckResult:
    check = SECURITY_GROUPS_CHECK
    if config is None:
        return not_checked(check, "no configuration")
    if not isinstance(cluster, ClusterFacts):
        return not_checked(check, "the cluster could not be read")
    if isinstance(ingress, Unread):
        return failed(
            check, f"cannot read the security groups: {ingress}", "allow ec2:DescribeSecurityGroups"
        )
    if isinstance(subnets, Unread):
        return not_checked(check, "the subnets could not be read (see subnets)")
    inventory = cluster.inventory
    try:
        schemes = resolve_schemes(config, inventory)
    except MskPrivateLinkError:
        return not_checked(check, "no scheme can be exposed (see auth-schemes)")
    nlb_subnets = [subnets[s] for s in sorted(resolve_subnets(config, inventory)) if s in subnets]
    if not nlb_subnets:
        return not_checked(check, "no NLB subnet exists (see subnets)")
    groups = ", ".join(cluster.security_group_ids) or "(none)"
    gaps: list[tuple[int, Subnet]] = []
    unresolved: set[str] = set()
    for scheme in schemes:
        port = scheme.broker_port
        rules = _admitting(ingress, port)
        for subnet in nlb_subnets:
            if not _covers(rules, subnet.cidr):
                gaps.append((port, subnet))
                unresolved.update(src for r in rules for src in r.prefix_lists)
    ports = ", ".join(str(s.broker_port) for s in schemes)
    if not gaps:
        cidrs = ", ".join(s.cidr for s in nlb_subnets)
        return passed(
            check, f"{groups} admit {cidrs} on TCP {ports}", f"{CLIENT_IP_PAGE}; {MSK_PORTS_PAGE}"
        )
    missing = "; ".join(f"TCP {port} from {s.cidr} ({s.subnet_id})" for port, s in gaps)
    first = cluster.security_group_ids[0] if cluster.security_group_ids else "SG"
    by_port: dict[int, list[str]] = {}
    for port, subnet in gaps:
        by_port.setdefault(port, []).append(subnet.cidr)
    fix = (
        "; ".join(
            f"aws ec2 authorize-security-group-ingress --group-id {first} --ip-permissions "
            f"'IpProtocol=tcp,FromPort={port},ToPort={port},IpRanges=["
            + ",".join(f"{{CidrIp={cidr}}}" for cidr in cidrs)
            + "]'"
            for port, cidrs in sorted(by_port.items())
        )
        + " (or one rule for the VPC's CIDR)"
    )
    detail = (
        f"{groups} do not admit {missing}: the NLB's connections come from its private "
        "addresses in these subnets"
    )
    if unresolved:
        return warned(
            check,
            f"{detail}, unless {', '.join(sorted(unresolved))} (not resolved here) admit them",
            fix,
            f"{CLIENT_IP_PAGE}; {MSK_PORTS_PAGE}",
        )
    return failed(check, detail, fix, f"{CLIENT_IP_PAGE}; {MSK_PORTS_PAGE}")
