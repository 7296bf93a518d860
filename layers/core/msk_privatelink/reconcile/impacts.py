"""What each planned change does to the people using the cluster (pure).

A plan line says what changes; its impact says who notices: consumers losing
an endpoint, a port that stops answering, a principal losing access, brokers
restarting. Additions have none: they only add paths. `plan`, `apply` and the
JSON output show the same words.
"""

from __future__ import annotations

from msk_privatelink.reconcile.plan import Change, Plan, Step

NONE = ""
# Their impact is routine: a group never loses its last target, and a group
# goes only after its listener (whose impact is named).
ROUTINE = frozenset({Step.DEREGISTER_TARGETS, Step.DELETE_TARGET_GROUP})


def _who(change: Change) -> str:
    return f"broker {change.broker_id}" if change.broker_id is not None else "the shard's brokers"


def change_impact(change: Change, plan: Plan) -> str:
    step = change.step
    if step is Step.DELETE_ENDPOINT_SERVICE:
        return f"consumers of {_who(change)} lose their endpoint (it is rejected, then deleted)"
    if step is Step.DELETE_LISTENER:
        port = change.key.rsplit(":", 1)[-1]
        if change.broker_id is None:
            return f"port {port} stops answering (bootstrap)"
        return f"broker {change.broker_id}'s port {port} stops answering"
    if step is Step.DELETE_LOAD_BALANCER:
        return f"{_who(change)}'s load balancer goes, with every path through it"
    if step is Step.DELETE_RECORD:
        return f"{change.key} stops resolving in the cluster VPC"
    if step is Step.DELETE_HOSTED_ZONE:
        return "the cluster's names stop resolving to the load balancers in the cluster VPC"
    if step is Step.DEREGISTER_TARGETS:
        registered = any(
            c.step is Step.REGISTER_TARGETS and c.key == change.key for c in plan.changes
        )
        if registered:
            return "the old address leaves after the new one is registered"
        # The guard never empties a group: what leaves is a replaced or
        # departed broker's address.
        return "a replaced or departed broker's address leaves (connections drain)"
    if step is Step.UPDATE_ENDPOINT_PERMISSIONS and change.remove:
        return f"{len(change.remove)} principal(s) lose access: new endpoints are refused"
    if step is Step.UPDATE_ENDPOINT_SERVICE and change.remove:
        return f"consumers in {', '.join(sorted(change.remove))} lose cross-Region access"
    if step is Step.SET_LOAD_BALANCER_SUBNETS and change.remove:
        return "connections through the removed zones' addresses drop"
    return NONE
