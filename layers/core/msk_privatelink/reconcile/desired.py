"""Desired resources for a cluster: a pure function of config and inventory."""

from __future__ import annotations

from msk_privatelink.kernel.models import ClusterInventory
from msk_privatelink.kernel.naming import (
    broker_tags,
    load_balancer_name,
    target_group_name,
    target_group_tags,
)
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.desired_common import resolve_schemes, resolve_subnets
from msk_privatelink.reconcile.desired_common import tag_tuple as _tags
from msk_privatelink.reconcile.resources import (
    DesiredState,
    EndpointServiceSpec,
    ListenerSpec,
    LoadBalancerSpec,
    Target,
    TargetGroupSpec,
)


def build_desired(config: ClusterConfig, inventory: ClusterInventory) -> DesiredState:
    """The desired resources of the configured pattern."""
    if config.pattern == "shared-nlb":
        from msk_privatelink.reconcile.desired_shared_nlb import build_shared_desired

        return build_shared_desired(config, inventory)
    return build_per_broker_desired(config, inventory)


def build_per_broker_desired(config: ClusterConfig, inventory: ClusterInventory) -> DesiredState:
    """nlb-per-broker: per broker one NLB, one target group + listener per scheme,
    one endpoint service."""
    arn = inventory.cluster_arn
    schemes = resolve_schemes(config, inventory)
    subnets = resolve_subnets(config, inventory)

    load_balancers: dict[str, LoadBalancerSpec] = {}
    target_groups: dict[str, TargetGroupSpec] = {}
    listeners: dict[str, ListenerSpec] = {}
    services: dict[str, EndpointServiceSpec] = {}
    held: set[int] = set()

    for broker in sorted(inventory.brokers, key=lambda b: b.broker_id):
        if broker.ip is None:
            held.add(broker.broker_id)
            continue
        bid = broker.broker_id
        lb_name = load_balancer_name(arn, bid)
        load_balancers[lb_name] = LoadBalancerSpec(
            name=lb_name, broker_id=bid, subnet_ids=subnets, tags=_tags(broker_tags(arn, bid))
        )
        for scheme in schemes:
            port = scheme.broker_port
            tg_name = target_group_name(arn, bid, port)
            target_groups[tg_name] = TargetGroupSpec(
                name=tg_name,
                broker_id=bid,
                scheme=scheme,
                port=port,
                vpc_id=inventory.vpc_id,
                targets=frozenset({Target(broker.ip, port)}),
                tags=_tags(target_group_tags(arn, bid, scheme)),
            )
            listener = ListenerSpec(
                load_balancer=lb_name,
                port=port,
                target_group=tg_name,
                tags=_tags(broker_tags(arn, bid)),
                broker_id=bid,
            )
            listeners[listener.key] = listener
        services[lb_name] = EndpointServiceSpec(
            load_balancer=lb_name,
            broker_id=bid,
            acceptance_required=config.acceptance_required,
            allowed_principals=frozenset(config.allowed_principals),
            supported_regions=config.remote_regions,
            tags=_tags(broker_tags(arn, bid)),
        )

    return DesiredState(
        cluster_arn=arn,
        load_balancers=load_balancers,
        target_groups=target_groups,
        listeners=listeners,
        endpoint_services=services,
        held_broker_ids=frozenset(held),
    )
