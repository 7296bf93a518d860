"""What `status` shows: per broker its address, subnet, load balancer, the
listeners (scheme and port) serving it, its targets and whether it is in
sync; for shared-nlb the bootstrap listeners; the load balancers and endpoint
services as read; with the tenant table, each consumer account and the
connectivity its canary last reported. One document (``--output json``) and
the table drawn from it, so both always say the same."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from msk_privatelink.cli.render import table
from msk_privatelink.kernel.errors import ConfigError, QuotaExceededError
from msk_privatelink.kernel.models import BROKER_PORTS, ClusterInventory
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.reconciler import Assessment, Reconciler
from msk_privatelink.reconcile.resources import ActualState

if TYPE_CHECKING:
    from msk_privatelink.onboarding.aws.tenants import Tenant

# The consumers table's last column: one line per consumer at a terminal.
MAX_DETAIL = 80


def status_document(
    config: ClusterConfig,
    inventory: ClusterInventory,
    actual: ActualState,
    *,
    assessment: Assessment | None = None,
    plan_error: str | None = None,
    tenants: Sequence[Tenant] | None = None,
) -> dict[str, Any]:
    """What exists, per broker; the plan's verdict when a plan could be made
    (``assessment``), else why not (``plan_error``): status never depends on
    the plan succeeding. ``tenants``: the cluster's, from the tenant table
    (``None``: no table was read)."""
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
        "consumers": None if tenants is None else consumers_document(tenants),
    }


def consumers_document(tenants: Sequence[Tenant]) -> list[dict[str, Any]]:
    """Per consumer account: where it connects from, its tenant state, and the
    ``connectivity`` attribute as stored (null: no report stored yet)."""
    return [
        {
            "account_id": t.account_id,
            "region": t.region,
            "vpc_id": t.vpc_id,
            "state": t.state,
            "connectivity": t.connectivity.to_document() if t.connectivity else None,
        }
        for t in sorted(tenants, key=lambda t: t.account_id)
    ]


def status_of(
    reconciler: Reconciler, config: ClusterConfig, tenants: Sequence[Tenant] | None = None
) -> dict[str, Any]:
    """Read, then plan if a plan can be made: a configuration the brokers have
    outgrown still shows what exists."""
    inventory, actual = reconciler.observe(config, deep=True)
    try:
        assessment = reconciler.assess_observed(config, inventory, actual, deep=True)
    except (ConfigError, QuotaExceededError) as exc:
        return status_document(config, inventory, actual, plan_error=str(exc), tenants=tenants)
    return status_document(
        config, assessment.inventory, assessment.actual, assessment=assessment, tenants=tenants
    )


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
    consumers = doc.get("consumers")
    if consumers is not None:
        lines.append(render_consumers(consumers))
    return "\n".join(lines)


def render_consumers(consumers: list[dict[str, Any]]) -> str:
    """The consumers table: per account its tenant state and last report."""
    if not consumers:
        return "Consumers: none in the tenant table."
    rows = []
    for c in consumers:
        report = c["connectivity"]
        if report is None:
            rows.append(
                (c["account_id"], c["region"], c["vpc_id"], c["state"], "no report", "-", "-", "-")
            )
            continue
        rows.append(
            (
                c["account_id"],
                c["region"],
                c["vpc_id"],
                c["state"],
                report["state"],
                _when(report["checkedAt"]),
                f"{report['failed']}/{report['probes']}",
                _first_problem(report),
            )
        )
    headers = (
        "CONSUMER",
        "REGION",
        "VPC",
        "TENANT",
        "CONNECTIVITY",
        "CHECKED",
        "FAILED",
        "FIRST FAILURE",
    )
    return "Consumers:\n" + table(headers, rows)


def _when(checked_at: str) -> str:
    """The stored UTC time (``2026-12-05T18:10:00.000+00:00``) to the second."""
    return f"{checked_at[:19].replace('T', ' ')} UTC"


def _first_problem(report: dict[str, Any]) -> str:
    """What to look at first: the first failing broker and step, else the
    pending endpoints, else why the canary could not probe."""
    if report["failures"]:
        f = report["failures"][0]
        text = f"broker {f['broker']} {f['scheme']}:{f['port']} at {f['step']}"
        if f["detail"]:
            text += f": {f['detail']}"
    elif report["pending"]:
        text = f"pending: broker {', '.join(report['pending'])}"
    elif report["problems"]:
        text = report["problems"][0]
    else:
        return "-"
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."
