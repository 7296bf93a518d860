"""Desired resources of the shared-nlb pattern (pure).

Internal NLBs across the client subnets, as many as the 50-listener limit
requires (shards, reconcile/shards.py), each with its endpoint service; per
exposed scheme a listener on ``port_bases[scheme] + broker_id`` for every
broker on its shard's NLB, forwarding to a target group holding exactly that
broker, and on shard 0 a bootstrap listener whose target group holds every
broker. Optionally a private hosted zone for the cluster's domain in the
cluster VPC, with an alias per broker name to its shard's NLB.
"""

from __future__ import annotations

from msk_privatelink.kernel.dns import cluster_zone_name, normalize_dns
from msk_privatelink.kernel.errors import InvalidEventError, UnsupportedClusterError
from msk_privatelink.kernel.models import ClusterInventory
from msk_privatelink.kernel.naming import (
    bootstrap_target_group_name,
    bootstrap_target_group_tags,
    broker_tags,
    ownership_tags,
    provider_zone_tags,
    shared_load_balancer_name,
    shared_target_group_name,
    target_group_tags,
)
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.desired_common import resolve_schemes, resolve_subnets, tag_tuple
from msk_privatelink.reconcile.ports import check_ports
from msk_privatelink.reconcile.resources import (
    AliasRecordSpec,
    DesiredState,
    EndpointServiceSpec,
    HostedZoneSpec,
    ListenerSpec,
    LoadBalancerSpec,
    Target,
    TargetGroupSpec,
)
from msk_privatelink.reconcile.shards import check_capacity, shard_capacity, shard_of

# Brokers behind each bootstrap listener: the lowest ids with an address. A
# client needs one answering broker to bootstrap, and with cross-zone load
# balancing an NLB takes at most 500 targets, each target group's members
# counted once per group ("Quotas for your Network Load Balancers", notes 2
# and 3): four schemes x (11 brokers of the shard + 50 bootstrap) stays far
# below it at any broker count.
MAX_BOOTSTRAP_TARGETS = 50


def prepared_broker_ids(inventory: ClusterInventory) -> frozenset[int]:
    """Ids of brokers an UpdateBrokerCount in progress is adding but ListNodes
    does not list yet: their listeners are made ready before their IPs exist."""
    target = inventory.target_broker_count
    if target is None:
        return frozenset()
    highest = max((b.broker_id for b in inventory.brokers), default=0)
    return frozenset(range(highest + 1, target + 1))


def provider_zone_name(inventory: ClusterInventory) -> str | None:
    """The cluster's own domain (``b-N.`` stripped from the broker names)."""
    hosts = [h for b in inventory.brokers for h in b.endpoints[:1]]
    if not hosts:
        return None
    try:
        return cluster_zone_name(hosts)
    except InvalidEventError as exc:
        raise UnsupportedClusterError(
            f"cluster {inventory.cluster_arn}: no provider hosted zone: {exc}"
        ) from exc


def build_shared_desired(config: ClusterConfig, inventory: ClusterInventory) -> DesiredState:
    arn = inventory.cluster_arn
    shared = config.shared_nlb
    schemes = resolve_schemes(config, inventory)
    subnets = resolve_subnets(config, inventory)
    listed = {b.broker_id: b for b in inventory.brokers}
    broker_ids = sorted(set(listed) | prepared_broker_ids(inventory))
    # Refused here, before any plan exists: nothing can be half-applied.
    check_ports(shared, schemes, broker_ids)
    check_capacity(shared, config.auth_schemes)
    capacity = shard_capacity(shared, config.auth_schemes)
    shards = 1 + max((shard_of(b, capacity) for b in broker_ids), default=0)
    lb_names = [shared_load_balancer_name(arn, shard) for shard in range(shards)]
    lb_name = lb_names[0]
    owned = tag_tuple(ownership_tags(arn))
    target_groups: dict[str, TargetGroupSpec] = {}
    listeners: dict[str, ListenerSpec] = {}
    held = frozenset(b.broker_id for b in inventory.brokers if b.ip is None)

    for scheme in schemes:
        port = scheme.broker_port
        everyone: set[Target] = set()
        for broker_id in broker_ids:
            broker = listed.get(broker_id)
            # Brokers being created (listed without an IP, or only announced
            # by the operation) get an empty target group and their listener
            # now, so their advertised port routes as soon as the IP appears.
            targets = (
                frozenset({Target(broker.ip, port)})
                if broker is not None and broker.ip is not None
                else frozenset()
            )
            if len(everyone) < MAX_BOOTSTRAP_TARGETS:
                everyone |= targets
            listener_port = shared.broker_port(scheme, broker_id)
            tg_name = shared_target_group_name(arn, broker_id, listener_port)
            target_groups[tg_name] = TargetGroupSpec(
                name=tg_name,
                broker_id=broker_id,
                scheme=scheme,
                port=port,
                vpc_id=inventory.vpc_id,
                targets=targets,
                tags=tag_tuple(target_group_tags(arn, broker_id, scheme)),
            )
            listener = ListenerSpec(
                load_balancer=lb_names[shard_of(broker_id, capacity)],
                port=listener_port,
                target_group=tg_name,
                tags=tag_tuple(broker_tags(arn, broker_id)),
                broker_id=broker_id,
            )
            listeners[listener.key] = listener
        boot_port = shared.bootstrap_port(scheme)
        boot_name = bootstrap_target_group_name(arn, boot_port)
        target_groups[boot_name] = TargetGroupSpec(
            name=boot_name,
            broker_id=None,
            scheme=scheme,
            port=port,
            vpc_id=inventory.vpc_id,
            targets=frozenset(everyone),
            tags=tag_tuple(bootstrap_target_group_tags(arn, scheme)),
            role="bootstrap",
        )
        boot = ListenerSpec(
            load_balancer=lb_name, port=boot_port, target_group=boot_name, tags=owned
        )
        listeners[boot.key] = boot

    zone: HostedZoneSpec | None = None
    records: dict[str, AliasRecordSpec] = {}
    zone_name = provider_zone_name(inventory) if shared.provider_zone else None
    if zone_name is not None:
        zone = HostedZoneSpec(
            name=zone_name,
            vpc_id=inventory.vpc_id,
            vpc_region=inventory.region,
            tags=tag_tuple(provider_zone_tags(arn, inventory.vpc_id)),
            load_balancer=lb_name,
        )
        for broker in inventory.brokers:
            for host in {normalize_dns(h) for h in broker.endpoints}:
                if not host.endswith(f".{zone_name}"):
                    continue  # a name outside the cluster's domain is not ours to answer
                records[host] = AliasRecordSpec(
                    name=host,
                    zone=zone_name,
                    broker_id=broker.broker_id,
                    load_balancer=lb_names[shard_of(broker.broker_id, capacity)],
                )

    return DesiredState(
        cluster_arn=arn,
        load_balancers={
            name: LoadBalancerSpec(name=name, broker_id=None, subnet_ids=subnets, tags=owned)
            for name in lb_names
        },
        target_groups=target_groups,
        listeners=listeners,
        endpoint_services={
            name: EndpointServiceSpec(
                load_balancer=name,
                broker_id=None,
                acceptance_required=config.acceptance_required,
                allowed_principals=frozenset(config.allowed_principals),
                supported_regions=config.remote_regions,
                tags=owned,
            )
            for name in lb_names
        },
        held_broker_ids=held,
        hosted_zone=zone,
        records=records,
        manages_zone=True,
    )
