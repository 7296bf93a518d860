"""Human-readable tables for the CLI and the demo (plain text, no colours)."""

from __future__ import annotations

from collections.abc import Sequence

from msk_privatelink.reconcile.guard import GuardDecision
from msk_privatelink.reconcile.plan import Plan


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
    held: dict[str, int] = {}
    for c in plan.changes:
        tally = held if c in withheld else counts
        tally[c.step.action] = tally.get(c.step.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing to apply"
    if held:
        summary += "; withheld by the guard: " + ", ".join(
            f"{n} {a}" for a, n in sorted(held.items())
        )
    out.append("Plan: " + summary)
    if decision and decision.reasons:
        out.append("Guard: " + "; ".join(decision.reasons))
    return "\n".join(out)
