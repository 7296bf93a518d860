"""What the connectivity canary probes, and from where. Pure.

From each cluster's applied view (consumer/aws/views.py) and the state of
the interface endpoints serving it:

- the **network** a prober function runs in: the VPC, subnets and security
  groups onboarding named, cut to what Lambda accepts in a function's
  ``VpcConfig`` (at most 16 subnets and 5 security groups: Lambda API
  reference, ``VpcConfig``), with what did not fit reported, never dropped
  silently. Clusters onboarded into the same network share one prober:
  Lambda shares a Hyperplane ENI per subnet and security-group combination,
  so one function per network costs no more ENIs than the network already
  has;
- the **targets**: every broker name on every port of every scheme the view
  holds (shared-nlb: plus the bootstrap name), each expected to resolve to
  exactly the private addresses of *this account's* endpoint for that broker;
- the **metadata check** (where the operator gave credentials): one
  fetch through the bootstrap (shared-nlb's bootstrap name, else the lowest
  serving broker's name) on the scheme the credentials are for, and the
  brokers the metadata must then list: every broker of the view, under one
  of its names, on that scheme's port;
- the **pending** brokers: their endpoint is not available yet (pending
  acceptance, pending) or has no address; they are reported as pending, not
  as unreachable, and not probed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from msk_privatelink.connectivity.kafka_metadata import OAuthBearer, Scram
from msk_privatelink.connectivity.metadata_check import Expected, MetadataRequest, request_for_view
from msk_privatelink.connectivity.results import ProbeTarget
from msk_privatelink.connectivity.targets import AddressExpectations, targets_from_view
from msk_privatelink.consumer.aws.views import AppliedView
from msk_privatelink.kernel.dns import cluster_zone_name, normalize_dns
from msk_privatelink.kernel.errors import ConfigError

# Lambda VpcConfig limits (CreateFunction, VpcConfig: SubnetIds "Maximum
# number of 16 items", SecurityGroupIds "Maximum number of 5 items").
MAX_FUNCTION_SUBNETS = 16
MAX_FUNCTION_SECURITY_GROUPS = 5
# Function names hold at most 64 characters: prefix, "-", 16 hex digits.
MAX_PREFIX = 64 - 1 - 16
PREFIX_RE = re.compile(r"[A-Za-z0-9-_]{1,47}", re.ASCII)
AVAILABLE = "available"
# Endpoint states on the way to available: reported as pending. Any other
# (failed, rejected, expired) is a problem the canary names.
WAITING = frozenset({"pendingacceptance", "pending"})
BOOTSTRAP_LABEL = "bootstrap"


@dataclass(frozen=True)
class EndpointAddresses:
    """One interface endpoint as DescribeVpcEndpoints and
    DescribeNetworkInterfaces show it."""

    endpoint_id: str
    state: str
    addresses: frozenset[str] = frozenset()

    @property
    def serving(self) -> bool:
        return self.state.lower() == AVAILABLE and bool(self.addresses)


@dataclass(frozen=True)
class ProberNetwork:
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    # What onboarding named but a function cannot take.
    left_out: tuple[str, ...] = ()

    def function_name(self, prefix: str) -> str:
        """Stable per network: the same VPC, subnets and groups always name
        the same function, whatever cluster brought them."""
        if not PREFIX_RE.fullmatch(prefix):
            raise ConfigError(
                f"prober name prefix {prefix[:60]!r}: 1 to {MAX_PREFIX} letters, digits, - or _"
            )
        key = "|".join((self.vpc_id, *self.subnet_ids, "#", *self.security_group_ids))
        return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class ClusterCheck:
    """One cluster's probes from one network."""

    cluster_arn: str
    generation: int
    network: ProberNetwork
    targets: tuple[ProbeTarget, ...]
    # Broker labels ("1", "bootstrap") whose endpoint does not serve yet.
    pending: tuple[str, ...] = ()
    # Why a broker could not be planned at all (its endpoint is unknown here).
    problems: tuple[str, ...] = field(default_factory=tuple)


def prober_network(view: AppliedView) -> ProberNetwork:
    tenancy = view.tenancy
    subnets = tuple(sorted(tenancy.subnet_ids))
    groups = tuple(sorted(tenancy.security_group_ids))
    left_out = subnets[MAX_FUNCTION_SUBNETS:] + groups[MAX_FUNCTION_SECURITY_GROUPS:]
    return ProberNetwork(
        vpc_id=tenancy.vpc_id,
        subnet_ids=subnets[:MAX_FUNCTION_SUBNETS],
        security_group_ids=groups[:MAX_FUNCTION_SECURITY_GROUPS],
        left_out=left_out,
    )


def plan_cluster(view: AppliedView, endpoints: Mapping[str, EndpointAddresses]) -> ClusterCheck:
    """The probes of one applied view. ``endpoints``: by endpoint id, the
    endpoints the view's services are served by here."""
    applied = view.view
    by_host: dict[str, frozenset[str]] = {}
    pending: list[str] = []
    problems: list[str] = []
    serving_labels: set[str] = set()

    def expect(label: str, service: str, hosts: Iterable[str]) -> None:
        endpoint_id = view.endpoints.get(service)
        found = endpoints.get(endpoint_id) if endpoint_id is not None else None
        if endpoint_id is None or found is None:
            problems.append(f"{label}: no endpoint of {service} in {view.tenancy.vpc_id}")
            return
        if not found.serving:
            if found.state.lower() in WAITING or found.state.lower() == AVAILABLE:
                pending.append(label)  # accepted soon, or addresses not assigned yet
            else:
                problems.append(f"{label}: endpoint {found.endpoint_id} is {found.state}")
            return
        serving_labels.add(label)
        for host in hosts:
            by_host[normalize_dns(host)] = found.addresses

    for broker in sorted(applied.brokers, key=lambda b: b.broker_id):
        expect(str(broker.broker_id), broker.endpoint_service_name, broker.host_names)
    if applied.bootstrap is not None:
        zone = cluster_zone_name(h for b in applied.brokers for h in b.host_names)
        host = f"{BOOTSTRAP_LABEL}.{zone}"
        expect(BOOTSTRAP_LABEL, applied.bootstrap.endpoint_service_name, [host])
    targets: tuple[ProbeTarget, ...] = ()
    if serving_labels:
        every = targets_from_view(applied, AddressExpectations(by_host=by_host))
        targets = tuple(t for t in every if t.broker in serving_labels)
    return ClusterCheck(
        cluster_arn=view.cluster_arn,
        generation=view.generation,
        network=prober_network(view),
        targets=targets,
        pending=tuple(pending),
        problems=tuple(problems),
    )


def group_by_network(checks: Iterable[ClusterCheck]) -> dict[ProberNetwork, list[ClusterCheck]]:
    """One prober per network, its clusters in ARN order."""
    grouped: dict[ProberNetwork, list[ClusterCheck]] = {}
    for item in sorted(checks, key=lambda c: c.cluster_arn):
        grouped.setdefault(item.network, []).append(item)
    return grouped


@dataclass(frozen=True)
class MetadataCheck:
    """One cluster's metadata fetch, and what its answer must list: per
    broker id, the names it may be advertised under and its port."""

    request: MetadataRequest
    expected: Expected


def plan_metadata(
    view: AppliedView, check: ClusterCheck, scheme: str, auth: Scram | OAuthBearer | None
) -> MetadataCheck | None:
    """The metadata check of ``check``'s cluster on ``scheme``, through a
    name it probes (only serving ones); None when there is none."""
    found = request_for_view(view.view, check.targets, scheme, auth)
    if found is None:
        return None
    request, expected = found
    return MetadataCheck(request=request, expected=expected)
