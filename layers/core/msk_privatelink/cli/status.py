"""What `status` shows: per broker its address, subnet, load balancer, the
listeners (scheme and port) serving it, its targets and whether it is in
sync; for shared-nlb the bootstrap listeners; the load balancers and endpoint
services as read. One document (``--output json``) and the table drawn from
it, so both always say the same."""

from __future__ import annotations

from typing import Any

from msk_privatelink.cli.render import table
from msk_privatelink.reconcile.reconciler import Assessment


def status_document(a: Assessment) -> dict[str, Any]:
    inv, desired, actual = a.inventory, a.desired, a.actual
    pending = {c.broker_id for c in a.plan.changes}
    scheme_of = {name: tg.scheme.value for name, tg in desired.target_groups.items()}

    def listeners(broker_id: int | None, role: str) -> list[dict[str, Any]]:
        out = []
        for spec in sorted(desired.listeners.values(), key=lambda s: (s.load_balancer, s.port)):
            group = desired.target_groups.get(spec.target_group)
            if group is None or group.broker_id != broker_id or group.role != role:
                continue
            out.append(
                {
                    "scheme": scheme_of[spec.target_group],
                    "load_balancer": spec.load_balancer,
                    "port": spec.port,
                    "present": spec.key in actual.listeners,
                }
            )
        return out

    brokers = []
    for b in inv.brokers:
        served = listeners(b.broker_id, "broker")
        balancers = sorted(
            {e["load_balancer"] for e in served if e["load_balancer"] in actual.load_balancers}
        )
        brokers.append(
            {
                "broker_id": b.broker_id,
                "ip": b.ip,
                "subnet_id": b.subnet_id,
                "load_balancers": balancers,
                "endpoint_services": sorted(
                    actual.endpoint_services[lb].service_name
                    for lb in balancers
                    if lb in actual.endpoint_services
                ),
                "listeners": served,
                "targets": sorted(
                    str(t)
                    for tg in actual.target_groups.values()
                    if tg.broker_id == b.broker_id
                    for t in tg.targets
                ),
                "sync": "pending" if b.broker_id in pending else "in sync",
            }
        )
    return {
        "cluster_arn": inv.cluster_arn,
        "cluster_state": inv.state,
        "pattern": a.config.pattern,
        "kafka_version": inv.kafka_version,
        "schemes": sorted(s.value for s in inv.enabled_schemes),
        "brokers": brokers,
        "bootstrap": listeners(None, "bootstrap"),
        "load_balancers": [
            {"name": lb.name, "dns_name": lb.dns_name, "state": lb.state}
            for lb in sorted(actual.load_balancers.values(), key=lambda x: x.name)
        ],
        "endpoint_services": [
            {
                "service_name": svc.service_name,
                "state": svc.state,
                "acceptance_required": svc.acceptance_required,
                "allowed_principals": sorted(svc.allowed_principals),
                "supported_regions": sorted(svc.supported_regions),
            }
            for svc in sorted(actual.endpoint_services.values(), key=lambda x: x.service_name)
        ],
        "pending_changes": len(a.plan),
        "withheld": [c.to_dict() for c in a.decision.withheld],
        "guard_reasons": list(a.decision.reasons),
        "conflicts": list(a.actual.conflicts),
    }


def render_status_document(doc: dict[str, Any]) -> str:
    head = (
        f"Cluster {doc['cluster_arn']} ({doc['pattern']})\n"
        f"State {doc['cluster_state']}, {len(doc['brokers'])} brokers, "
        f"Kafka {doc['kafka_version']}, schemes {', '.join(doc['schemes'])}"
    )
    shared = doc["pattern"] == "shared-nlb"
    rows = []
    for b in doc["brokers"]:
        ports = ",".join(f"{entry['scheme']}:{entry['port']}" for entry in b["listeners"])
        rows.append(
            (
                b["broker_id"],
                b["ip"] or "(none yet)",
                ",".join(b["load_balancers"]) or "-",
                ",".join(b["endpoint_services"]) or "-",
                *((ports or "-",) if shared else ()),
                ",".join(b["targets"]) or "-",
                b["sync"],
            )
        )
    headers = (
        "BROKER",
        "IP",
        "LOAD BALANCER",
        "ENDPOINT SERVICE",
        *(("PORTS",) if shared else ()),
        "TARGETS",
        "SYNC",
    )
    lines = [head, table(headers, rows)]
    if doc["bootstrap"]:
        entries = ", ".join(f"{e['scheme']} {e['port']}" for e in doc["bootstrap"])
        lines.append(f"Bootstrap listeners: {entries}")
    pending = doc["pending_changes"]
    tail = f"{pending} pending change(s)" if pending else "Everything in sync."
    if doc["conflicts"]:
        tail += f"\nNot ours, left alone: {', '.join(doc['conflicts'])}"
    lines.append(tail)
    return "\n".join(lines)
