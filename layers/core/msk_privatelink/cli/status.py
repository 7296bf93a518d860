"""What `status` shows: per broker its address, subnet, load balancer, the
listeners (scheme and port) serving it, its targets and whether it is in
sync; for shared-nlb the bootstrap listeners; the load balancers and endpoint
services as read. One document (``--output json``) and the table drawn from
it, so both always say the same."""

from __future__ import annotations

from typing import Any

from msk_privatelink.cli.render import table
from msk_privatelink.kernel.errors import ConfigError, QuotaExceededError
from msk_privatelink.kernel.models import BROKER_PORTS, ClusterInventory
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.reconciler import Assessment, Reconciler
from msk_privatelink.reconcile.resources import ActualState


def status_document(
    config: ClusterConfig,
    inventory: ClusterInventory,
    actual: ActualState,
    assessment: Assessment | None = None,
    plan_error: str | None = None,
) -> dict[str, Any]:
    """What exists, per broker; the plan's verdict when a plan could be made
    (``assessment``), else why not (``plan_error``): status never depends on
    the plan succeeding."""
    pending = {c.broker_id for c in assessment.plan.changes} if assessment else set()
    scheme_of_port = {port: scheme.value for scheme, port in BROKER_PORTS.items()}

    def listeners(broker_id: int | None) -> list[dict[str, Any]]:
        """A broker's listeners; ``None``: the bootstrap ones (groups of no broker)."""
        groups = {
            name: tg for name, tg in actual.target_groups.items() if tg.broker_id == broker_id
        }
        return [
            {
                "scheme": scheme_of_port.get(groups[lst.target_group].port, "?"),
                "load_balancer": lst.load_balancer,
                "port": lst.port,
            }
            for lst in sorted(actual.listeners.values(), key=lambda x: (x.load_balancer, x.port))
            if lst.target_group in groups
        ]

    def sync(broker_id: int) -> str:
        if assessment is None:
            return "unknown"
        return "pending" if broker_id in pending else "in sync"

    brokers = []
    for b in inventory.brokers:
        served = listeners(b.broker_id)
        balancers = sorted({e["load_balancer"] for e in served})
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
                "sync": sync(b.broker_id),
            }
        )
    return {
        "cluster_arn": inventory.cluster_arn,
        "cluster_state": inventory.state,
        "pattern": config.pattern,
        "kafka_version": inventory.kafka_version,
        "schemes": sorted(s.value for s in inventory.enabled_schemes),
        "brokers": brokers,
        "bootstrap": listeners(None),
        "load_balancers": [
            {"name": lb.name, "dns_name": lb.dns_name, "state": lb.state}
            for lb in sorted(actual.load_balancers.values(), key=lambda x: x.name)
        ],
        "endpoint_services": [
            {
                "service_name": svc.service_name,
                "load_balancer": lb,
                "state": svc.state,
                "acceptance_required": svc.acceptance_required,
                "allowed_principals": sorted(svc.allowed_principals),
                "supported_regions": sorted(svc.supported_regions),
            }
            for lb, svc in sorted(
                actual.endpoint_services.items(), key=lambda item: item[1].service_name
            )
        ],
        "pending_changes": len(assessment.plan) if assessment else None,
        "plan_error": plan_error,
        "withheld": [c.to_dict() for c in assessment.decision.withheld] if assessment else [],
        "guard_reasons": list(assessment.decision.reasons) if assessment else [],
        "conflicts": list(actual.conflicts),
    }


def status_of(reconciler: Reconciler, config: ClusterConfig) -> dict[str, Any]:
    """Read, then plan if a plan can be made: a configuration the brokers have
    outgrown still shows what exists."""
    inventory, actual = reconciler.observe(config, deep=True)
    try:
        assessment = reconciler.assess_observed(config, inventory, actual, deep=True)
    except (ConfigError, QuotaExceededError) as exc:
        return status_document(config, inventory, actual, plan_error=str(exc))
    return status_document(config, assessment.inventory, assessment.actual, assessment=assessment)


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
    if doc["plan_error"]:
        tail = f"No plan can be made: {doc['plan_error']}"
    else:
        tail = f"{pending} pending change(s)" if pending else "Everything in sync."
    if doc["conflicts"]:
        tail += f"\nNot ours, left alone: {', '.join(doc['conflicts'])}"
    lines.append(tail)
    return "\n".join(lines)
