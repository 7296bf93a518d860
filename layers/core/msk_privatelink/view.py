"""The consumer-visible view of a cluster, built from inventory and actual state."""

from __future__ import annotations

from .events import BrokerEndpoint, BrokerEndpointsChanged
from .models import BROKER_PORTS, ClusterInventory
from .naming import load_balancer_name
from .resources import ActualState

SCHEME_BY_PORT = {port: scheme for scheme, port in BROKER_PORTS.items()}


def endpoints_view(inventory: ClusterInventory, actual: ActualState) -> BrokerEndpointsChanged:
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
        brokers.append(
            BrokerEndpoint(
                broker_id=broker.broker_id,
                host_names=broker.endpoints,
                endpoint_service_name=service.service_name,
                endpoint_service_id=service.service_id,
                ports=dict(sorted(ports.items())),
            )
        )
    return BrokerEndpointsChanged(
        cluster_arn=inventory.cluster_arn,
        cluster_name=inventory.cluster_name,
        region=inventory.region,
        pattern="nlb-per-broker",
        # Placeholder: the publisher assigns the real generation.
        generation=1,
        brokers=tuple(brokers),
    )
