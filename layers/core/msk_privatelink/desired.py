"""Desired resources for a cluster: a pure function of config and inventory."""

from __future__ import annotations

from .config import ClusterConfig
from .errors import ConfigError, UnsupportedClusterError
from .models import AuthScheme, ClusterInventory
from .naming import (
    broker_tags,
    load_balancer_name,
    target_group_name,
    target_group_tags,
)
from .resources import (
    DesiredState,
    EndpointServiceSpec,
    ListenerSpec,
    LoadBalancerSpec,
    Target,
    TargetGroupSpec,
)


def resolve_schemes(config: ClusterConfig, inventory: ClusterInventory) -> tuple[AuthScheme, ...]:
    """The schemes to expose: configured ones, which the cluster must have enabled."""
    if config.auth_schemes is None:
        if not inventory.enabled_schemes:
            raise UnsupportedClusterError(
                f"cluster {inventory.cluster_arn} has no client authentication scheme enabled"
            )
        return tuple(sorted(inventory.enabled_schemes))
    missing = [s.value for s in config.auth_schemes if s not in inventory.enabled_schemes]
    if missing:
        enabled = ", ".join(sorted(s.value for s in inventory.enabled_schemes)) or "none"
        raise ConfigError(
            f"auth_schemes {missing} are not enabled on cluster {inventory.cluster_arn} "
            f"(enabled: {enabled})"
        )
    return config.auth_schemes


def tag_tuple(tags: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(tags.items()))


_tags = tag_tuple


def resolve_subnets(config: ClusterConfig, inventory: ClusterInventory) -> frozenset[str]:
    subnets = frozenset(config.subnet_ids or inventory.client_subnet_ids)
    if not subnets:
        raise UnsupportedClusterError(f"cluster {inventory.cluster_arn} reports no client subnets")
    return subnets


def build_desired(config: ClusterConfig, inventory: ClusterInventory) -> DesiredState:
    """The desired resources of the configured pattern."""
    if config.pattern == "shared-nlb":
        from .desired_shared import build_shared_desired

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
