"""Builders for domain values used across unit tests."""

from __future__ import annotations

from msgspec.structs import replace

from msk_privatelink.kernel.models import AuthScheme, Broker, ClusterInventory
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.plan import Plan, Step
from msk_privatelink.reconcile.resources import (
    ActualState,
    DesiredState,
    EndpointServiceState,
    ListenerState,
    LoadBalancerState,
    TargetGroupState,
)

CLUSTER_ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
SUBNETS = ("subnet-0a000000000000001", "subnet-0a000000000000002", "subnet-0a000000000000003")


def config(**overrides: object) -> ClusterConfig:
    base: dict[str, object] = {"cluster_arn": CLUSTER_ARN}
    base.update(overrides)
    return parse(ClusterConfig, base)


def broker(broker_id: int, ip: str | None = "auto") -> Broker:
    address = f"10.0.{broker_id % 3}.{10 + broker_id}" if ip == "auto" else ip
    return Broker(
        broker_id=broker_id,
        ip=address,
        eni_id=f"eni-{broker_id:017x}" if address else None,
        subnet_id=SUBNETS[(broker_id - 1) % 3],
        endpoints=(f"b-{broker_id}.demo-cluster.abc123.c2.kafka.us-east-1.amazonaws.com",),
    )


def inventory(
    brokers: tuple[Broker, ...] | None = None,
    *,
    state: str = "ACTIVE",
    schemes: frozenset[AuthScheme] = frozenset({AuthScheme.SASL_IAM}),
    expected: int | None = None,
) -> ClusterInventory:
    listed = brokers if brokers is not None else tuple(broker(i) for i in (1, 2, 3))
    return ClusterInventory(
        cluster_arn=CLUSTER_ARN,
        cluster_name="demo-cluster",
        state=state,
        vpc_id="vpc-0123456789abcdef0",
        client_subnet_ids=SUBNETS,
        enabled_schemes=schemes,
        kafka_version="3.9.x",
        expected_broker_count=len(listed) if expected is None else expected,
        brokers=listed,
    )


def actual_from(desired: DesiredState) -> ActualState:
    """The actual state that exactly matches ``desired`` (as if applied)."""
    return apply_in_memory(
        Plan.of([]), desired, ActualState(cluster_arn=desired.cluster_arn), full=True
    )


def apply_in_memory(
    plan: Plan, desired: DesiredState, actual: ActualState, *, full: bool = False
) -> ActualState:
    """Apply a plan to an in-memory actual state, the way AWS would."""
    lbs = dict(actual.load_balancers)
    tgs = dict(actual.target_groups)
    listeners = dict(actual.listeners)
    services = dict(actual.endpoint_services)

    def make_tg(name: str) -> TargetGroupState:
        spec = desired.target_groups[name]
        return TargetGroupState(
            name, f"arn:tg/{name}", spec.broker_id, spec.port, spec.vpc_id, frozenset()
        )

    def make_lb(name: str, token: str | None) -> LoadBalancerState:
        spec = desired.load_balancers[name]
        return LoadBalancerState(
            name, f"arn:lb/{name}", spec.broker_id, spec.subnet_ids, token, f"{name}.elb", "active"
        )

    def make_svc(key: str) -> EndpointServiceState:
        spec = desired.endpoint_services[key]
        return EndpointServiceState(
            key,
            f"vpce-svc-{key}",
            f"com.amazonaws.vpce.us-east-1.vpce-svc-{key}",
            spec.broker_id,
            spec.acceptance_required,
            frozenset(),
            spec.supported_regions,
            "Available",
        )

    if full:
        for name, spec in desired.target_groups.items():
            tgs[name] = replace(make_tg(name), targets=spec.targets)
        for name, lb in desired.load_balancers.items():
            lbs[name] = make_lb(name, lb.attributes_token)
        for key, spec in desired.listeners.items():
            listeners[key] = ListenerState(
                spec.load_balancer, spec.port, f"arn:l/{key}", spec.target_group
            )
        for key, svc in desired.endpoint_services.items():
            services[key] = replace(make_svc(key), allowed_principals=svc.allowed_principals)

    for c in plan.changes:
        if c.step is Step.CREATE_TARGET_GROUP:
            tgs[c.key] = make_tg(c.key)
        elif c.step is Step.REGISTER_TARGETS:
            tgs[c.key] = replace(tgs[c.key], targets=tgs[c.key].targets | c.targets)
        elif c.step is Step.DEREGISTER_TARGETS:
            tgs[c.key] = replace(tgs[c.key], targets=tgs[c.key].targets - c.targets)
        elif c.step is Step.CREATE_LOAD_BALANCER:
            lbs[c.key] = make_lb(c.key, None)
        elif c.step is Step.CONFIGURE_LOAD_BALANCER:
            lbs[c.key] = replace(
                lbs[c.key], attributes_token=desired.load_balancers[c.key].attributes_token
            )
        elif c.step is Step.SET_LOAD_BALANCER_SUBNETS:
            lbs[c.key] = replace(lbs[c.key], subnet_ids=c.subnet_ids)
        elif c.step is Step.CREATE_LISTENER:
            spec = desired.listeners[c.key]
            listeners[c.key] = ListenerState(
                spec.load_balancer, spec.port, f"arn:l/{c.key}", spec.target_group
            )
        elif c.step is Step.MODIFY_LISTENER:
            listeners[c.key] = replace(listeners[c.key], target_group=c.target_group)
        elif c.step is Step.CREATE_ENDPOINT_SERVICE:
            services[c.key] = make_svc(c.key)
        elif c.step is Step.UPDATE_ENDPOINT_SERVICE:
            svc = services[c.key]
            services[c.key] = replace(
                svc,
                acceptance_required=svc.acceptance_required
                if c.acceptance_required is None
                else c.acceptance_required,
                supported_regions=(svc.supported_regions | c.add) - c.remove,
            )
        elif c.step is Step.UPDATE_ENDPOINT_PERMISSIONS:
            svc = services[c.key]
            services[c.key] = replace(
                svc, allowed_principals=(svc.allowed_principals | c.add) - c.remove
            )
        elif c.step is Step.DELETE_ENDPOINT_SERVICE:
            services.pop(c.key, None)
        elif c.step is Step.DELETE_LISTENER:
            listeners.pop(c.key, None)
        elif c.step is Step.DELETE_LOAD_BALANCER:
            lbs.pop(c.key, None)
            for key in [k for k, v in listeners.items() if v.load_balancer == c.key]:
                del listeners[key]
        elif c.step is Step.DELETE_TARGET_GROUP:
            tgs.pop(c.key, None)
    return ActualState(
        cluster_arn=actual.cluster_arn,
        load_balancers=lbs,
        target_groups=tgs,
        listeners=listeners,
        endpoint_services=services,
    )
