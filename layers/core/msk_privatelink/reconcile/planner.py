"""compute_plan: desired vs actual by natural keys. Pure: no I/O, no clock.

For every kind: desired only -> create, both -> maybe update, actual only ->
delete. Resources of held brokers (listed by MSK without an address yet) are
never updated or deleted; their address stays in a bootstrap target group.
"""

from __future__ import annotations

from collections.abc import Iterable

from msk_privatelink.kernel.dns import normalize_dns
from msk_privatelink.reconcile.plan import Change, Plan, Step
from msk_privatelink.reconcile.resources import ActualState, DesiredState, HostedZoneState, Target


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
    changes += _dns(desired, actual)
    return Plan.of(changes)


def _held_ips(desired: DesiredState, actual: ActualState) -> frozenset[str]:
    """Addresses of held brokers, as their own target groups hold them."""
    return frozenset(
        t.ip
        for tg in actual.target_groups.values()
        if tg.broker_id is not None and tg.broker_id in desired.held_broker_ids
        for t in tg.targets
    )


def _target_groups(desired: DesiredState, actual: ActualState) -> list[Change]:
    changes: list[Change] = []
    held_ips = _held_ips(desired, actual) if desired.held_broker_ids else frozenset()
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
            if tg.broker_id is not None and tg.broker_id in desired.held_broker_ids:
                to_remove = frozenset()
            elif tg.role == "bootstrap":
                to_remove = frozenset(t for t in to_remove if t.ip not in held_ips)
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
        broker_id = (
            listener.broker_id
            if listener.broker_id is not None
            else desired.load_balancers[listener.load_balancer].broker_id
        )
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
        if owner_id is None and existing.target_group is not None:
            # A shared load balancer's listener belongs to the broker of its target group.
            target = actual.target_groups.get(existing.target_group)
            owner_id = target.broker_id if target else None
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


def _primary_zone(desired: DesiredState, actual: ActualState) -> HostedZoneState | None:
    spec = desired.hosted_zone
    if spec is None:
        return None
    same_name = [z for z in actual.hosted_zones if z.name == spec.name]
    return min(same_name, key=lambda z: (not z.tagged, z.zone_id)) if same_name else None


def _dns(desired: DesiredState, actual: ActualState) -> list[Change]:
    """shared-nlb's provider zone: one per cluster, an alias per broker name."""
    if not desired.manages_zone:
        return []
    spec = desired.hosted_zone
    if spec is not None and spec.name in actual.foreign_zone_names:
        # Someone else's zone holds the cluster's domain in this VPC: leave DNS alone.
        return []
    changes: list[Change] = []
    primary = _primary_zone(desired, actual)
    for zone in actual.hosted_zones:
        if zone is primary:
            continue
        # A leftover (zone switched off, or a duplicate): records first, then the zone.
        for leftover in zone.records.values():
            changes.append(
                Change(
                    Step.DELETE_RECORD,
                    leftover.name,
                    leftover.broker_id,
                    f"{leftover.type} in {zone.zone_id}",
                    resource_id=zone.zone_id,
                    record=leftover.raw,
                )
            )
        changes.append(
            Change(Step.DELETE_HOSTED_ZONE, zone.name, None, zone.zone_id, resource_id=zone.zone_id)
        )
    if spec is None:
        return changes
    zone_id = primary.zone_id if primary else None
    owner = actual.load_balancers.get(spec.load_balancer)
    unmarked = owner is not None and owner.zone_marker != zone_id
    if primary is None or not primary.tagged or unmarked:
        if primary is None:
            detail = "private, cluster VPC"
        elif not primary.tagged:
            detail = f"tag {primary.zone_id}"
        else:
            detail = f"record {primary.zone_id} on {spec.load_balancer}"
        changes.append(
            Change(Step.CREATE_HOSTED_ZONE, spec.name, None, detail, spec=spec, resource_id=zone_id)
        )
    current_records = primary.records if primary else {}
    for name, record in desired.records.items():
        lb = actual.load_balancers.get(record.load_balancer)
        want = normalize_dns(lb.dns_name) if lb is not None and lb.dns_name else None
        current = current_records.get(name)
        if current is None or current.type != "A" or want is None or current.alias_dns_name != want:
            changes.append(
                Change(
                    Step.UPSERT_RECORD,
                    name,
                    record.broker_id,
                    f"A alias -> {record.load_balancer}",
                    spec=record,
                    resource_id=zone_id,
                )
            )
    for name, current in current_records.items():
        if name in desired.records or current.type != "A":
            continue
        if current.broker_id is not None and current.broker_id in desired.held_broker_ids:
            continue
        changes.append(
            Change(
                Step.DELETE_RECORD,
                name,
                current.broker_id,
                "A alias",
                resource_id=zone_id,
                record=current.raw,
            )
        )
    return changes
