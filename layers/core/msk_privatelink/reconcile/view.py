"""The consumer-visible view of a cluster, built from inventory and actual state."""

from __future__ import annotations

from typing import Literal

from msk_privatelink.kernel.events import BootstrapEndpoint, BrokerEndpoint, BrokerEndpointsChanged
from msk_privatelink.kernel.models import BROKER_PORTS, Broker, ClusterInventory
from msk_privatelink.kernel.naming import (
    is_shared_load_balancer_name,
    load_balancer_name,
    shared_load_balancer_name,
)
from msk_privatelink.reconcile.resources import ActualState, EndpointServiceState

SCHEME_BY_PORT = {port: scheme for scheme, port in BROKER_PORTS.items()}


def endpoints_view(inventory: ClusterInventory, actual: ActualState) -> BrokerEndpointsChanged:
    if any(is_shared_load_balancer_name(inventory.cluster_arn, n) for n in actual.load_balancers):
        return _shared_view(inventory, actual)
    brokers: list[BrokerEndpoint] = []
    for broker in inventory.brokers:
        lb_name = load_balancer_name(inventory.cluster_arn, broker.broker_id)
        service = actual.endpoint_services.get(lb_name)
        if service is None:
            continue
        ports = {
            SCHEME_BY_PORT[listener.port].value: listener.port
            for listener in actual.listeners.values()
            if listener.load_balancer == lb_name and listener.port in SCHEME_BY_PORT
        }
        brokers.append(_endpoint(broker, service, ports))
    return _view(inventory, "nlb-per-broker", brokers)


def _endpoint(
    broker: Broker, service: EndpointServiceState, ports: dict[str, int]
) -> BrokerEndpoint:
    return BrokerEndpoint(
        broker_id=broker.broker_id,
        host_names=broker.endpoints,
        endpoint_service_name=service.service_name,
        endpoint_service_id=service.service_id,
        ports=dict(sorted(ports.items())),
    )


def _view(
    inventory: ClusterInventory,
    pattern: Literal["nlb-per-broker", "shared-nlb"],
    brokers: list[BrokerEndpoint],
    bootstrap: BootstrapEndpoint | None = None,
) -> BrokerEndpointsChanged:
    return BrokerEndpointsChanged(
        cluster_arn=inventory.cluster_arn,
        cluster_name=inventory.cluster_name,
        region=inventory.region,
        pattern=pattern,
        # Placeholder: the publisher assigns the real generation.
        generation=1,
        brokers=tuple(brokers),
        bootstrap=bootstrap,
    )


def _shared_view(inventory: ClusterInventory, actual: ActualState) -> BrokerEndpointsChanged:
    """shared-nlb: per broker the service of the load balancer (shard) its
    listeners are on and their ports; the bootstrap listeners of shard 0."""
    arn = inventory.cluster_arn
    by_broker: dict[int, dict[str, int]] = {}
    service_of: dict[int, EndpointServiceState] = {}
    bootstrap: dict[str, int] = {}
    for listener in actual.listeners.values():
        lb = listener.load_balancer
        if not is_shared_load_balancer_name(arn, lb) or listener.target_group is None:
            continue
        tg = actual.target_groups.get(listener.target_group)
        scheme = SCHEME_BY_PORT.get(tg.port) if tg is not None else None
        service = actual.endpoint_services.get(lb)
        if tg is None or scheme is None or service is None:
            continue
        if tg.broker_id is None:
            if lb == shared_load_balancer_name(arn):
                bootstrap[scheme.value] = listener.port
        else:
            by_broker.setdefault(tg.broker_id, {})[scheme.value] = listener.port
            service_of[tg.broker_id] = service
    brokers = [
        _endpoint(broker, service_of[broker.broker_id], by_broker[broker.broker_id])
        for broker in inventory.brokers
        if broker.broker_id in service_of
    ]
    head = actual.endpoint_services.get(shared_load_balancer_name(arn))
    shared = (
        BootstrapEndpoint(
            endpoint_service_name=head.service_name,
            endpoint_service_id=head.service_id,
            ports=dict(sorted(bootstrap.items())),
        )
        if head is not None and bootstrap
        else None
    )
    return _view(inventory, "shared-nlb", brokers, shared)
