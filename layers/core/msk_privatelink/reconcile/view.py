"""The consumer-visible view of a cluster, built from inventory and actual state."""

from __future__ import annotations

from typing import Literal

from msk_privatelink.kernel.events import BootstrapEndpoint, BrokerEndpoint, BrokerEndpointsChanged
from msk_privatelink.kernel.models import BROKER_PORTS, Broker, ClusterInventory
from msk_privatelink.kernel.naming import load_balancer_name, shared_load_balancer_name
from msk_privatelink.reconcile.resources import ActualState, EndpointServiceState

SCHEME_BY_PORT = {port: scheme for scheme, port in BROKER_PORTS.items()}


def endpoints_view(inventory: ClusterInventory, actual: ActualState) -> BrokerEndpointsChanged:
    if shared_load_balancer_name(inventory.cluster_arn) in actual.load_balancers:
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
    """shared-nlb: one service; per broker the ports of the listeners whose
    target group is that broker's, and the bootstrap listeners."""
    lb_name = shared_load_balancer_name(inventory.cluster_arn)
    service = actual.endpoint_services.get(lb_name)
    by_broker: dict[int, dict[str, int]] = {}
    bootstrap: dict[str, int] = {}
    for listener in actual.listeners.values():
        if listener.load_balancer != lb_name or listener.target_group is None:
            continue
        tg = actual.target_groups.get(listener.target_group)
        scheme = SCHEME_BY_PORT.get(tg.port) if tg is not None else None
        if tg is None or scheme is None:
            continue
        if tg.broker_id is None:
            bootstrap[scheme.value] = listener.port
        else:
            by_broker.setdefault(tg.broker_id, {})[scheme.value] = listener.port
    brokers: list[BrokerEndpoint] = []
    if service is not None:
        for broker in inventory.brokers:
            ports = by_broker.get(broker.broker_id)
            if not ports:
                continue
            brokers.append(_endpoint(broker, service, ports))
    shared = (
        BootstrapEndpoint(
            endpoint_service_name=service.service_name,
            endpoint_service_id=service.service_id,
            ports=dict(sorted(bootstrap.items())),
        )
        if service is not None and bootstrap
        else None
    )
    return _view(inventory, "shared-nlb", brokers, shared)
