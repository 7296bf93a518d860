"""Human-readable tables for the CLI and the demo (plain text, no colours)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from msk_privatelink.reconcile.guard import GuardDecision
from msk_privatelink.reconcile.impacts import ROUTINE, change_impact
from msk_privatelink.reconcile.plan import Plan

if TYPE_CHECKING:
    from msk_privatelink.advertised.outcome import AdvertisedPreview


# The last column never shrinks below this when a table is fitted to a width.
MIN_LAST_COLUMN = 20


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: int | None = None
) -> str:
    """Columns padded to their widest cell. With ``max_width`` the last column
    is cut (ending in "...") so each line fits, as far as MIN_LAST_COLUMN allows."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if max_width is not None:
        room = max(max_width - sum(widths[:-1]) - 2 * (len(widths) - 1), MIN_LAST_COLUMN)
        if widths[-1] > room:
            for row in cells:
                if len(row[-1]) > room:
                    row[-1] = row[-1][: room - 3] + "..."
            widths[-1] = room
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_plan(
    plan: Plan,
    decision: GuardDecision | None = None,
    advertised: AdvertisedPreview | None = None,
    width: int | None = None,
) -> str:
    """The plan's changes, then who notices them (impacts), then what the
    advertised-listeners step would write, then a one-line summary.
    ``width``: fit the table to it by cutting the DETAIL column (the JSON
    document always has it whole)."""
    writes = advertised.writes if advertised else ()
    if plan.is_empty and not writes:
        lines = ["No changes: the NLB layer matches the brokers."]
        if advertised and advertised.note:
            lines.append(f"Advertised listeners ({advertised.mode}): {advertised.note}")
        return "\n".join(lines)
    withheld = set(decision.withheld) if decision else set()
    out: list[str] = []
    impacts: list[str] = []
    if not plan.is_empty:
        rows = []
        for i, c in enumerate(plan.changes, 1):
            rows.append(
                (
                    i,
                    c.step.action + (" (withheld)" if c in withheld else ""),
                    c.step.kind,
                    "-" if c.broker_id is None else c.broker_id,
                    c.key,
                    c.detail,
                )
            )
            impact = change_impact(c, plan)
            if impact and c not in withheld:
                impacts.append(f"  #{i}: {impact}")
        out.append(table(("#", "ACTION", "KIND", "BROKER", "KEY", "DETAIL"), rows, width))
    if advertised is not None and (writes or advertised.note):
        out.append(f"Advertised listeners ({advertised.mode}):")
        out += [f"  {w.action} {w.kind} {w.key}: {w.detail}" for w in writes]
        if advertised.note:
            out.append(f"  {advertised.note}")
        impacts += [f"  {w.kind}: {w.impact}" for w in writes if w.impact]
    if impacts:
        out.append("Impact:")
        out += impacts
    counts: dict[str, int] = {}
    held: dict[str, int] = {}
    for c in plan.changes:
        tally = held if c in withheld else counts
        tally[c.step.action] = tally.get(c.step.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing to apply"
    if writes:
        summary += f"; {len(writes)} MSK write(s) (a rolling restart)"
    if held:
        summary += "; withheld by the guard: " + ", ".join(
            f"{n} {a}" for a, n in sorted(held.items())
        )
    out.append("Plan: " + summary)
    if decision and decision.reasons:
        out.append("Guard: " + "; ".join(decision.reasons))
    return "\n".join(out)


def disruptions(plan: Plan, advertised: AdvertisedPreview | None) -> list[str]:
    """What in this plan someone would notice: deletes, revocations, restarts
    (a replaced broker's old address leaving is routine)."""
    found = []
    for c in plan.changes:
        impact = change_impact(c, plan)
        if impact and c.step not in ROUTINE:
            found.append(f"{c.step.action} {c.step.kind} {c.key}: {impact}")
    if advertised is not None:
        found += [f"{w.kind}: {w.impact}" for w in advertised.writes if w.impact]
    return found
