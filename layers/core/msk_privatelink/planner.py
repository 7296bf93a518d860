"""compute_plan: desired vs actual by natural keys. Pure: no I/O, no clock.

For every kind: desired only -> create, both -> maybe update, actual only ->
delete. Resources of held brokers (listed by MSK without an address yet) are
never updated or deleted.
"""

from __future__ import annotations

from collections.abc import Iterable

from .plan import Change, Plan, Step
from .resources import ActualState, DesiredState, Target


def _fmt(items: Iterable[object]) -> str:
    return ", ".join(sorted(str(i) for i in items))


def compute_plan(desired: DesiredState, actual: ActualState) -> Plan:
    changes: list[Change] = []
    changes += _target_groups(desired, actual)
    lb_changes = _load_balancers(desired, actual)
    changes += lb_changes
    deleted_lbs = {c.key for c in lb_changes if c.step is Step.DELETE_LOAD_BALANCER}
    changes += _listeners(desired, actual, deleted_lbs)
    changes += _endpoint_services(desired, actual)
    return Plan.of(changes)


def _target_groups(desired: DesiredState, actual: ActualState) -> list[Change]:
    changes: list[Change] = []
    for name, tg in desired.target_groups.items():
        current = actual.target_groups.get(name)
        to_remove: frozenset[Target] = frozenset()
        if current is None:
            changes.append(
                Change(Step.CREATE_TARGET_GROUP, name, tg.broker_id, f"TCP:{tg.port} ip", spec=tg)
            )
            to_add = tg.targets
        else:
            to_add, to_remove = tg.targets - current.targets, current.targets - tg.targets
        if to_add:
            changes.append(
                Change(Step.REGISTER_TARGETS, name, tg.broker_id, _fmt(to_add), targets=to_add)
            )
        if to_remove:
            changes.append(
                Change(
                    Step.DEREGISTER_TARGETS,
                    name,
                    tg.broker_id,
                    _fmt(to_remove),
                    targets=to_remove,
                    resource_id=current.arn if current else None,
                )
            )
    for name, existing in actual.target_groups.items():
        if name not in desired.target_groups and existing.broker_id not in desired.held_broker_ids:
            changes.append(
                Change(
                    Step.DELETE_TARGET_GROUP, name, existing.broker_id, "", resource_id=existing.arn
                )
            )
    return changes


def _load_balancers(desired: DesiredState, actual: ActualState) -> list[Change]:
    changes: list[Change] = []
    for name, lb in desired.load_balancers.items():
        current = actual.load_balancers.get(name)
        if current is None:
            changes.append(
                Change(Step.CREATE_LOAD_BALANCER, name, lb.broker_id, "internal NLB", spec=lb)
            )
            changes.append(
                Change(
                    Step.CONFIGURE_LOAD_BALANCER, name, lb.broker_id, lb.attributes_token, spec=lb
                )
            )
            continue
        if current.attributes_token != lb.attributes_token:
            changes.append(
                Change(
                    Step.CONFIGURE_LOAD_BALANCER,
                    name,
                    lb.broker_id,
                    lb.attributes_token,
                    spec=lb,
                    resource_id=current.arn,
                )
            )
        if current.subnet_ids != lb.subnet_ids:
            # Removing a subnet (an Availability Zone) cuts that zone's
            # connections: it counts as destructive for the guard.
            changes.append(
                Change(
                    Step.SET_LOAD_BALANCER_SUBNETS,
                    name,
                    lb.broker_id,
                    _fmt(lb.subnet_ids),
                    subnet_ids=lb.subnet_ids,
                    resource_id=current.arn,
                    remove=current.subnet_ids - lb.subnet_ids,
                )
            )
    for name, existing in actual.load_balancers.items():
        if name not in desired.load_balancers and existing.broker_id not in desired.held_broker_ids:
            changes.append(
                Change(
                    Step.DELETE_LOAD_BALANCER,
                    name,
                    existing.broker_id,
                    "",
                    resource_id=existing.arn,
                )
            )
    return changes


def _listeners(desired: DesiredState, actual: ActualState, deleted_lbs: set[str]) -> list[Change]:
    changes: list[Change] = []
    for key, listener in desired.listeners.items():
        current = actual.listeners.get(key)
        broker_id = desired.load_balancers[listener.load_balancer].broker_id
        if current is None:
            changes.append(
                Change(
                    Step.CREATE_LISTENER,
                    key,
                    broker_id,
                    f"TCP:{listener.port} -> {listener.target_group}",
                    spec=listener,
                )
            )
        elif current.target_group != listener.target_group:
            changes.append(
                Change(
                    Step.MODIFY_LISTENER,
                    key,
                    broker_id,
                    f"forward -> {listener.target_group}",
                    spec=listener,
                    resource_id=current.arn,
                    target_group=listener.target_group,
                )
            )
    for key, existing in actual.listeners.items():
        if key in desired.listeners or existing.load_balancer in deleted_lbs:
            # Deleting a load balancer deletes its listeners with it.
            continue
        owner = actual.load_balancers.get(existing.load_balancer)
        owner_id = owner.broker_id if owner else None
        if owner_id in desired.held_broker_ids:
            continue
        changes.append(Change(Step.DELETE_LISTENER, key, owner_id, "", resource_id=existing.arn))
    return changes


def _acceptance(required: bool) -> str:
    return f"acceptance={'required' if required else 'auto'}"


def _endpoint_services(desired: DesiredState, actual: ActualState) -> list[Change]:
    changes: list[Change] = []
    for key, svc in desired.endpoint_services.items():
        current = actual.endpoint_services.get(key)
        if current is not None and current.state == "Failed":
            # A failed service is removed first; the next run creates it anew
            # (a load balancer serves one endpoint service at a time).
            changes.append(
                Change(
                    Step.DELETE_ENDPOINT_SERVICE,
                    key,
                    current.broker_id,
                    f"{current.service_name} (failed)",
                    resource_id=current.service_id,
                )
            )
            continue
        if current is None:
            changes.append(
                Change(
                    Step.CREATE_ENDPOINT_SERVICE,
                    key,
                    svc.broker_id,
                    _acceptance(svc.acceptance_required),
                    spec=svc,
                )
            )
            if svc.allowed_principals:
                changes.append(
                    Change(
                        Step.UPDATE_ENDPOINT_PERMISSIONS,
                        key,
                        svc.broker_id,
                        f"allow {_fmt(svc.allowed_principals)}",
                        spec=svc,
                        add=svc.allowed_principals,
                    )
                )
            continue
        add_regions = svc.supported_regions - current.supported_regions
        remove_regions = current.supported_regions - svc.supported_regions
        acceptance_changed = current.acceptance_required != svc.acceptance_required
        if acceptance_changed or add_regions or remove_regions:
            parts = [_acceptance(svc.acceptance_required)] if acceptance_changed else []
            if add_regions:
                parts.append(f"+regions {_fmt(add_regions)}")
            if remove_regions:
                parts.append(f"-regions {_fmt(remove_regions)}")
            changes.append(
                Change(
                    Step.UPDATE_ENDPOINT_SERVICE,
                    key,
                    svc.broker_id,
                    "; ".join(parts),
                    resource_id=current.service_id,
                    acceptance_required=svc.acceptance_required if acceptance_changed else None,
                    add=add_regions,
                    remove=remove_regions,
                )
            )
        add_principals = svc.allowed_principals - current.allowed_principals
        remove_principals = current.allowed_principals - svc.allowed_principals
        if add_principals or remove_principals or not current.principals_recorded:
            parts = [f"allow {_fmt(add_principals)}"] if add_principals else []
            if remove_principals:
                parts.append(f"revoke {_fmt(remove_principals)}")
            if not parts:
                parts.append("record the granted principals")
            changes.append(
                Change(
                    Step.UPDATE_ENDPOINT_PERMISSIONS,
                    key,
                    svc.broker_id,
                    "; ".join(parts),
                    spec=svc,
                    resource_id=current.service_id,
                    add=add_principals,
                    remove=remove_principals,
                )
            )
    for key, existing in actual.endpoint_services.items():
        if (
            key not in desired.endpoint_services
            and existing.broker_id not in desired.held_broker_ids
        ):
            changes.append(
                Change(
                    Step.DELETE_ENDPOINT_SERVICE,
                    key,
                    existing.broker_id,
                    existing.service_name,
                    resource_id=existing.service_id,
                )
            )
    return changes
