"""`python -m bench [--quick] [--repeat N] [--check]`."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bench import broker_scale, detection, sweep, tenants
from bench.imports import HANDLER_FILES, HandlerImport, measure_imports
from bench.report import render_markdown, results_document
from bench.scenarios import (
    ALLOWED_PRINCIPALS,
    AUTH,
    BROKER_COUNTS,
    QUICK_BROKER_COUNTS,
    SCALE_STEP,
    SCENARIOS,
    VARIANT_NAMES,
    Scenario,
    ScenarioResult,
    run_all,
    variant,
)
from bench.targets import TargetResult, import_targets, reconcile_targets
from tests.integration.harness import READ_PREFIXES

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "bench" / "results.json"
DEFAULT_REPEAT = 3
DEFAULT_IMPORT_REPEAT = 5


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Reconcile scenarios on the embedded AWS (AWS calls by operation, wall time, "
            "peak memory) and the Lambda handlers' cold import time."
        ),
    )
    parser.add_argument(
        "--repeat",
        type=_positive,
        default=None,
        help=f"timed runs per scenario, median reported (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--import-repeat",
        type=_positive,
        default=None,
        help=f"fresh interpreters per import measurement (default {DEFAULT_IMPORT_REPEAT})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"brokers {' and '.join(map(str, QUICK_BROKER_COUNTS))} only, one run of each",
    )
    parser.add_argument(
        "--brokers",
        type=_positive,
        nargs="+",
        default=None,
        help=f"broker counts, multiples of 3 (default {' '.join(map(str, BROKER_COUNTS))})",
    )
    parser.add_argument("--scenarios", choices=SCENARIOS, nargs="+", default=list(SCENARIOS))
    parser.add_argument(
        "--variants",
        choices=VARIANT_NAMES,
        nargs="+",
        default=list(VARIANT_NAMES),
        help="patterns and their configurations (default: all)",
    )
    parser.add_argument("--skip-imports", action="store_true", help="no cold-import timing")
    parser.add_argument(
        "--skip-detection",
        action="store_true",
        help="no change-detector against full-reconcile comparison",
    )
    parser.add_argument(
        "--skip-tenants",
        action="store_true",
        help="no tenants-at-scale rows (the longest part: 100 onboardings through the workflow)",
    )
    parser.add_argument(
        "--skip-sweep", action="store_true", help="no sweep-against-Describe-budget rows"
    )
    parser.add_argument(
        "--skip-broker-scale",
        action="store_true",
        help="no 60/120/180-broker rows at AWS's default quotas",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a target fails or cannot be measured"
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON (default %(default)s)"
    )
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="also write this Markdown page: bench/performance_notes.md + the tables of this run",
    )
    args = parser.parse_args(argv)
    if args.brokers is None:
        args.brokers = list(QUICK_BROKER_COUNTS if args.quick else BROKER_COUNTS)
    if args.repeat is None:
        args.repeat = 1 if args.quick else DEFAULT_REPEAT
    if args.import_repeat is None:
        args.import_repeat = 1 if args.quick else DEFAULT_IMPORT_REPEAT
    return args


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "repeat": args.repeat,
        "import_repeat": args.import_repeat,
        "variants": {
            name: {
                "pattern": variant(name).pattern,
                "config_overrides": variant(name).config_overrides(),
                "description": variant(name).description,
            }
            for name in args.variants
        },
        "brokers": list(args.brokers),
        "scenarios": list(args.scenarios),
        "scale_step": SCALE_STEP,
        "auth_schemes": list(AUTH),
        "allowed_principals": len(ALLOWED_PRINCIPALS),
        "reads_are": f"operations named {', '.join(READ_PREFIXES)}...; every other is a write",
        "seconds": (
            "median wall time (time.perf_counter) of the reconcile call only; the embedded "
            "AWS answers in this process, so its time is included"
        ),
        "peak_mb": (
            "tracemalloc peak of the reconcile call, MiB, from one extra traced run; "
            "includes the embedded AWS's own allocations"
        ),
        "import_seconds": (
            "median perf_counter time of loading the handler file in a fresh interpreter, "
            "interpreter start-up excluded; boto3_import_seconds likewise for `import boto3`"
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Calls must reach the embedded AWS, never an endpoint from the caller's shell.
    os.environ.pop("AWS_ENDPOINT_URL", None)
    meta = _meta(args)

    results: list[ScenarioResult] = run_all(
        variants=[variant(name) for name in args.variants],
        brokers=args.brokers,
        scenarios=cast("list[Scenario]", args.scenarios),
        repeat=args.repeat,
        memory=True,
        progress=_progress,
    )
    handlers: list[HandlerImport] = []
    if not args.skip_imports:
        handlers = measure_imports(
            REPO, repeat=args.import_repeat, handlers=HANDLER_FILES, progress=_progress
        )
    approaches: list[detection.Approach] = []
    if not args.skip_detection:
        counts = detection.QUICK_CLUSTER_COUNTS if args.quick else detection.CLUSTER_COUNTS
        approaches = detection.measure_all(counts, _progress)
    tenant_rows: list[tenants.TenantRow] = []
    if not args.skip_tenants:
        if args.quick:
            tenant_rows = tenants.measure(
                tenants.QUICK_TENANT_COUNTS, _progress, workflow_tenants=10
            )
        else:
            tenant_rows = tenants.measure(tenants.TENANT_COUNTS, _progress)
    sweep_rows: list[sweep.SweepRow] = []
    if not args.skip_sweep:
        sweep_rows = sweep.measure(sweep.CLUSTER_COUNTS, _progress)
    scale_rows: list[broker_scale.ScaleRow] = []
    if not args.skip_broker_scale:
        counts = broker_scale.QUICK_BROKER_COUNTS if args.quick else broker_scale.BROKER_COUNTS
        scale_rows = broker_scale.measure(counts, _progress)
    targets: list[TargetResult] = [*reconcile_targets(results), *import_targets(handlers)]

    document = results_document(results, handlers, targets, meta)
    document["detection"] = [a.to_dict() for a in approaches]
    document["tenants"] = [r.to_dict() for r in tenant_rows]
    document["broker_scale"] = [r.to_dict() for r in scale_rows]
    document["sweep"] = [r.to_dict() for r in sweep_rows]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    markdown = render_markdown(results, handlers, targets, meta)
    if approaches:
        markdown = "\n".join([markdown.rstrip(), "", *detection.render(approaches)])
    if sweep_rows:
        markdown = "\n".join([markdown.rstrip(), "", *sweep.render(sweep_rows)])
    if scale_rows:
        markdown = "\n".join([markdown.rstrip(), "", *broker_scale.render(scale_rows)])
    if tenant_rows:
        markdown = "\n".join([markdown.rstrip(), "", *tenants.render(tenant_rows)])
    print(markdown)
    print(f"\nResults: {args.output}")
    if args.docs is not None:
        notes = (REPO / "bench" / "performance_notes.md").read_text(encoding="utf-8")
        args.docs.write_text(
            f"{notes.rstrip()}\n\n## Last run\n\nGenerated by `make bench` "
            f"({meta['generated_at']}, Python {meta['python']}, {meta['cpus']} CPUs).\n\n"
            f"{markdown}\n",
            encoding="utf-8",
        )
        print(f"Docs: {args.docs}")
    if args.check and any(t.failed for t in targets):
        return 1
    return 0
