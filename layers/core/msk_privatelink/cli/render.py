"""Human-readable tables for the CLI and the demo (plain text, no colours)."""

from __future__ import annotations

from collections.abc import Sequence

from msk_privatelink.kernel.naming import shared_load_balancer_name
from msk_privatelink.reconcile.guard import GuardDecision
from msk_privatelink.reconcile.plan import Plan
from msk_privatelink.reconcile.reconciler import Assessment


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_plan(plan: Plan, decision: GuardDecision | None = None) -> str:
    if plan.is_empty:
        return "No changes: the NLB layer matches the brokers."
    withheld = set(decision.withheld) if decision else set()
    rows = [
        (
            i,
            c.step.action + (" (withheld)" if c in withheld else ""),
            c.step.kind,
            "-" if c.broker_id is None else c.broker_id,
            c.key,
            c.detail,
        )
        for i, c in enumerate(plan.changes, 1)
    ]
    out = [table(("#", "ACTION", "KIND", "BROKER", "KEY", "DETAIL"), rows)]
    counts: dict[str, int] = {}
    for c in plan.changes:
        counts[c.step.action] = counts.get(c.step.action, 0) + 1
    out.append("Plan: " + ", ".join(f"{n} {a}" for a, n in sorted(counts.items())))
    if decision and decision.reasons:
        out.append("Guard: " + "; ".join(decision.reasons))
    return "\n".join(out)


def render_status(a: Assessment) -> str:
    inv = a.inventory
    pending = {c.broker_id for c in a.plan.changes}
    rows = []
    # shared-nlb: every broker is behind the one shared load balancer.
    shared = a.actual.load_balancers.get(shared_load_balancer_name(inv.cluster_arn))
    for b in inv.brokers:
        lb = next(
            (x for x in a.actual.load_balancers.values() if x.broker_id == b.broker_id), shared
        )
        svc = a.actual.endpoint_services.get(lb.name) if lb else None
        targets = sorted(
            str(t)
            for tg in a.actual.target_groups.values()
            if tg.broker_id == b.broker_id
            for t in tg.targets
        )
        rows.append(
            (
                b.broker_id,
                b.ip or "(none yet)",
                lb.name if lb else "-",
                svc.service_name if svc else "-",
                ",".join(targets) or "-",
                "pending" if b.broker_id in pending else "in sync",
            )
        )
    head = (
        f"Cluster {inv.cluster_arn}\n"
        f"State {inv.state}, {len(inv.brokers)} brokers, Kafka {inv.kafka_version}, "
        f"schemes {', '.join(sorted(s.value for s in inv.enabled_schemes))}"
    )
    body = table(("BROKER", "IP", "LOAD BALANCER", "ENDPOINT SERVICE", "TARGETS", "SYNC"), rows)
    tail = f"{len(a.plan)} pending change(s)" if not a.plan.is_empty else "Everything in sync."
    if a.actual.conflicts:
        tail += f"\nNot ours, left alone: {', '.join(a.actual.conflicts)}"
    return f"{head}\n{body}\n{tail}"
