"""Cold import time of each Lambda handler module, next to `import boto3`.

Every measurement is a fresh interpreter (`python -c`) that times only the
import with `time.perf_counter`, so interpreter start-up is left out of both
sides of the comparison. The handler file is loaded by path, as the Lambda
runtime does, with `layers/core` on `sys.path` (where the layer puts the core
package) and the environment the handlers read at import time.

The runs are interleaved (boto3, each handler, each handler with tracing
disabled, then again) so a slow moment of the machine hits every kind alike.
One discarded round first writes the bytecode caches.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HANDLER_FILES: tuple[str, ...] = ("functions/event_router/app.py", "functions/reconciler/app.py")
LAYER_PATH = "layers/core"
HANDLER_ENVIRONMENT: Mapping[str, str] = {
    "POWERTOOLS_SERVICE_NAME": "msk-privatelink",
    "POWERTOOLS_METRICS_NAMESPACE": "MskPrivateLink",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Removed from the child's environment: they would change what is imported or
# send boto3 elsewhere. POWERTOOLS_TRACE_DISABLED is set per variant.
_CLEARED_ENVIRONMENT = (
    "POWERTOOLS_TRACE_DISABLED",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONPROFILEIMPORTTIME",
    "AWS_ENDPOINT_URL",
)
LARGEST_IMPORTS = 8
_TIMEOUT_SECONDS = 120

_IMPORT_HANDLER = """
import importlib.util, sys, time
handler, layer = sys.argv[1], sys.argv[2]
sys.path.insert(0, layer)
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("lambda_handler_module", handler)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
print(time.perf_counter() - started)
"""

_IMPORT_BOTO3 = """
import time
started = time.perf_counter()
import boto3
print(time.perf_counter() - started)
"""


class ImportFailedError(Exception):
    pass


@dataclass
class HandlerImport:
    handler: str
    samples: list[float] = field(default_factory=list)
    samples_trace_disabled: list[float] = field(default_factory=list)
    boto3_samples: list[float] = field(default_factory=list)
    largest_imports: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def import_seconds(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def import_seconds_trace_disabled(self) -> float | None:
        return (
            statistics.median(self.samples_trace_disabled) if self.samples_trace_disabled else None
        )

    @property
    def boto3_import_seconds(self) -> float | None:
        return statistics.median(self.boto3_samples) if self.boto3_samples else None

    @property
    def ratio(self) -> float | None:
        handler, boto3 = self.import_seconds, self.boto3_import_seconds
        if handler is None or not boto3:
            return None
        return handler / boto3

    def to_json(self) -> dict[str, Any]:
        return {
            "import_seconds": self.import_seconds,
            "boto3_import_seconds": self.boto3_import_seconds,
            "ratio_to_boto3": self.ratio,
            "import_seconds_trace_disabled": self.import_seconds_trace_disabled,
            "import_samples": self.samples,
            "import_samples_trace_disabled": self.samples_trace_disabled,
            "boto3_import_samples": self.boto3_samples,
            "largest_imports_seconds": dict(self.largest_imports),
            "error": self.error,
        }


def _environment(*, trace_disabled: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENVIRONMENT}
    env.update(HANDLER_ENVIRONMENT)
    if trace_disabled:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def _run(repo: Path, args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, *args],
        cwd=repo,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-3:]
        raise ImportFailedError(f"exit {completed.returncode}: {' | '.join(tail)}")
    return completed


def _timed(repo: Path, code: str, args: list[str], env: Mapping[str, str]) -> float:
    completed = _run(repo, ["-c", code, *args], env)
    return float(completed.stdout.strip().splitlines()[-1])


def time_boto3_import(repo: Path) -> float:
    return _timed(repo, _IMPORT_BOTO3, [], _environment(trace_disabled=False))


def time_handler_import(repo: Path, handler: str, *, trace_disabled: bool = False) -> float:
    return _timed(
        repo,
        _IMPORT_HANDLER,
        [str(repo / handler), str(repo / LAYER_PATH)],
        _environment(trace_disabled=trace_disabled),
    )


def largest_imports(repo: Path, handler: str) -> list[tuple[str, float]]:
    """Top-level imports by cumulative seconds (`python -X importtime`), largest first."""
    completed = _run(
        repo,
        ["-X", "importtime", "-c", _IMPORT_HANDLER, str(repo / handler), str(repo / LAYER_PATH)],
        _environment(trace_disabled=False),
    )
    top: list[tuple[str, float]] = []
    for line in completed.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not line.startswith("import time:"):
            continue
        name = parts[2]
        # One space before a top-level name; nested imports are indented further.
        if not name.startswith(" ") or name.startswith("  "):
            continue
        cumulative = parts[1].strip()
        if cumulative.isdigit():
            top.append((name.strip(), int(cumulative) / 1_000_000))
    top.sort(key=lambda item: item[1], reverse=True)
    return top[:LARGEST_IMPORTS]


def measure_imports(
    repo: Path,
    *,
    repeat: int,
    handlers: tuple[str, ...] = HANDLER_FILES,
    progress: Callable[[str], None] | None = None,
) -> list[HandlerImport]:
    results = [HandlerImport(handler) for handler in handlers]
    boto3_samples: list[float] = []
    try:
        for round_number in range(repeat + 1):
            warm_up = round_number == 0
            boto3_seconds = time_boto3_import(repo)
            if not warm_up:
                boto3_samples.append(boto3_seconds)
            for result in results:
                if result.error is not None:
                    continue
                try:
                    seconds = time_handler_import(repo, result.handler)
                    disabled = time_handler_import(repo, result.handler, trace_disabled=True)
                except (ImportFailedError, subprocess.TimeoutExpired, ValueError) as exc:
                    result.error = f"{type(exc).__name__}: {exc}"
                    continue
                if not warm_up:
                    result.samples.append(seconds)
                    result.samples_trace_disabled.append(disabled)
            if progress is not None and not warm_up:
                progress(f"cold imports: round {round_number}/{repeat}")
    except (ImportFailedError, subprocess.TimeoutExpired, ValueError) as exc:
        for result in results:
            result.error = result.error or f"import boto3 failed: {type(exc).__name__}: {exc}"
    for result in results:
        result.boto3_samples = list(boto3_samples)
        if result.error is None:
            # For information only: a failure here leaves the list empty.
            with contextlib.suppress(ImportFailedError, subprocess.TimeoutExpired):
                result.largest_imports = largest_imports(repo, result.handler)
        else:
            result.samples.clear()
            result.samples_trace_disabled.clear()
    return results
