"""The benchmark's Markdown report and its JSON document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.imports import HandlerImport
from bench.scenarios import SCENARIO_TITLES, ScenarioResult
from bench.targets import TargetResult

_DASH = "-"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(
    header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[object]]
) -> list[str]:
    return [_row(header), "|" + "|".join(align) + "|", *(_row(r) for r in rows)]


def _seconds(value: float | None) -> str:
    return _DASH if value is None else f"{value:.3f}"


def _verdict(status: str) -> str:
    return {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skipped": "skipped"}[status]


def scenario_rows(results: Sequence[ScenarioResult]) -> list[list[object]]:
    rows: list[list[object]] = []
    for r in results:
        title = SCENARIO_TITLES[r.scenario]
        if r.ok:
            peak = _DASH if r.peak_mb is None else f"{r.peak_mb:.1f}"
            note = r.status or ""
            if r.calls_varied:
                note += " (calls varied between runs)"
            rows.append(
                [r.name, r.brokers, title, r.reads, r.writes, _seconds(r.seconds), peak, note]
            )
        else:
            error = r.error
            note = f"{error.stage}: {error.message}" if error else "not measured"
            rows.append([r.name, r.brokers, title, _DASH, _DASH, _DASH, _DASH, note])
    return rows


def render_markdown(
    results: Sequence[ScenarioResult],
    handlers: Sequence[HandlerImport],
    targets: Sequence[TargetResult],
    meta: Mapping[str, Any],
) -> str:
    lines: list[str] = []
    if results:
        lines += [
            f"## Reconcile on the embedded AWS (auth {', '.join(meta['auth_schemes'])}; "
            f"median of {meta['repeat']} run(s); peak memory from one traced run)",
            "",
            *_table(
                [
                    "pattern",
                    "brokers",
                    "scenario",
                    "reads",
                    "writes",
                    "seconds",
                    "peak MiB",
                    "status / error",
                ],
                ["---", "---:", "---", "---:", "---:", "---:", "---:", "---"],
                scenario_rows(results),
            ),
            "",
        ]
        described = {r.name: r.variant.description for r in results}
        lines += [f"- `{name}`: {text}" for name, text in described.items()] + [""]
    if handlers:
        verdicts = {t.subject: t.status for t in targets if t.key.startswith("cold-import/")}
        rows: list[list[object]] = []
        for h in handlers:
            ratio = _DASH if h.ratio is None else f"{h.ratio:.2f}"
            cpu_ratio = _DASH if h.cpu_ratio is None else f"{h.cpu_ratio:.2f}"
            uncached = _DASH if h.uncached_ratio is None else f"{h.uncached_ratio:.2f}"
            largest = ", ".join(f"{name} {s:.3f}" for name, s in h.largest_imports[:4])
            packages = ", ".join(f"{name} {s:.3f}" for name, s in h.by_package if round(s, 3) > 0)
            rows.append(
                [
                    h.handler,
                    _seconds(h.import_seconds),
                    _seconds(h.boto3_import_seconds),
                    ratio,
                    cpu_ratio,
                    _seconds(h.compile_seconds),
                    uncached,
                    _seconds(h.import_seconds_trace_disabled),
                    largest or (h.error or _DASH),
                    packages or _DASH,
                    _verdict(verdicts.get(h.handler, "skipped")),
                ]
            )
        lines += [
            f"## Cold import in a fresh interpreter (median of {meta['import_repeat']} run(s))",
            "",
            *_table(
                [
                    "handler",
                    "import s",
                    "import boto3 s",
                    "ratio",
                    "CPU-time ratio",
                    "compile s (no .pyc)",
                    "ratio without .pyc (est.)",
                    "POWERTOOLS_TRACE_DISABLED=true s",
                    "largest top-level imports (s, cumulative)",
                    "own time by package (s, -X importtime)",
                    "result",
                ],
                [
                    "---",
                    "---:",
                    "---:",
                    "---:",
                    "---:",
                    "---:",
                    "---:",
                    "---:",
                    "---",
                    "---",
                    "---",
                ],
                rows,
            ),
            "",
        ]
    if targets:
        failed = [t for t in targets if t.failed]
        lines += [
            "## Targets",
            "",
            *_table(
                ["target", "subject", "measured", "limit", "other writes", "result"],
                ["---", "---", "---", "---", "---", "---"],
                [
                    [
                        t.name,
                        t.subject,
                        t.measured,
                        t.limit,
                        t.other_writes or _DASH,
                        _verdict(t.status),
                    ]
                    for t in targets
                ],
            ),
            "",
            f"Targets: {sum(t.status == 'pass' for t in targets)} met, {len(failed)} failing, "
            f"{sum(t.status == 'skipped' for t in targets)} skipped"
            + (f" (failing: {', '.join(t.key for t in failed)})" if failed else "."),
        ]
    return "\n".join(lines)


def results_document(
    results: Sequence[ScenarioResult],
    handlers: Sequence[HandlerImport],
    targets: Sequence[TargetResult],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    reconcile: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results:
        reconcile.setdefault(r.name, {}).setdefault(str(r.brokers), {})[r.scenario] = r.to_json()
    return {
        "meta": dict(meta),
        "reconcile": reconcile,
        "handlers": {h.handler: h.to_json() for h in handlers},
        "targets": [t.to_json() for t in targets],
        "failed_targets": [t.key for t in targets if t.failed],
    }
