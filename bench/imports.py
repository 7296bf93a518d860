"""Cold import time of each Lambda handler module, next to `import boto3`.

Every measurement is a fresh interpreter (`python -c`) that times only the
import with `time.perf_counter`, so interpreter start-up is left out of both
sides of the comparison. The import's CPU time (`time.process_time`) is
recorded next to it: on a busy machine wall time also counts waiting for a
core, CPU time does not, so the CPU ratio tells a slow handler from a slow
moment. The handler file is loaded by path, as the Lambda
runtime does, with `layers/core` on `sys.path` (where the layer puts the core
package) and the environment the handlers read at import time.

The runs are interleaved (boto3, each handler, each handler with tracing
disabled, then again) so a slow moment of the machine hits every kind alike.
One discarded round first writes the bytecode caches.

Where the time goes is read from one `python -X importtime` run per handler:
the largest top-level imports (cumulative), and every module's own time
summed by where it comes from (`PACKAGE_GROUPS`, the standard library, the
rest), which names what a handler pays beyond boto3.
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
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
LAYER_PATH = "layers/core"
# Module roots by what pulls them in; everything else is "stdlib" or "other".
PACKAGE_GROUPS: Mapping[str, str] = {
    **dict.fromkeys(
        ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "jmespath", "six"), "boto3"
    ),
    # typing_extensions comes with Powertools (boto3 does not import it).
    **dict.fromkeys(("aws_lambda_powertools", "typing_extensions"), "powertools"),
    "msgspec": "msgspec",
    # Not a dependency of the layer any more; listed so that a module pulling
    # it back in shows up by name.
    **dict.fromkeys(
        ("pydantic", "pydantic_core", "annotated_types", "typing_inspection"), "pydantic"
    ),
    "msk_privatelink": "msk_privatelink",
    "confluent_kafka": "confluent_kafka",
}


def handler_files(repo: Path = REPO) -> tuple[str, ...]:
    """Every Lambda handler module: functions/*/app.py, relative to the repository."""
    return tuple(
        sorted(str(path.relative_to(repo)) for path in (repo / "functions").glob("*/app.py"))
    )


HANDLER_FILES: tuple[str, ...] = handler_files()
HANDLER_ENVIRONMENT: Mapping[str, str] = {
    "POWERTOOLS_SERVICE_NAME": "msk-privatelink",
    "POWERTOOLS_METRICS_NAMESPACE": "MskPrivateLink",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Removed from the child's environment: they would change what is imported,
# send boto3 elsewhere, or (PYTHONDONTWRITEBYTECODE, PYTHONPYCACHEPREFIX) keep
# the warm-up round from writing bytecode caches, so that sources without one
# would be compiled again in every timed run while boto3's installed caches are
# used: the comparison would no longer be like for like.
# POWERTOOLS_TRACE_DISABLED is set per variant.
_CLEARED_ENVIRONMENT = (
    "POWERTOOLS_TRACE_DISABLED",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPYCACHEPREFIX",
    "AWS_ENDPOINT_URL",
)
LARGEST_IMPORTS = 8
_TIMEOUT_SECONDS = 120

_IMPORT_HANDLER = """
import importlib.util, sys, time
handler, layer = sys.argv[1], sys.argv[2]
sys.path.insert(0, layer)
started, cpu = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("lambda_handler_module", handler)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
print(time.perf_counter() - started, time.process_time() - cpu)
"""

_IMPORT_BOTO3 = """
import time
started, cpu = time.perf_counter(), time.process_time()
import boto3
print(time.perf_counter() - started, time.process_time() - cpu)
"""


# After loading the handler (or boto3): compile the source of every module
# loaded from outside the standard library, as an interpreter with no bytecode
# cache for them must. /opt is read-only in Lambda, so a CoreLayer built
# without a CPython 3.13 at hand (layers/core/Makefile compiles with one when
# it finds it) ships sources only, and a cold start pays this on top.
_COMPILE_SOURCES = """
import importlib.util, sys, time
target, layer = sys.argv[1], sys.argv[2]
sys.path.insert(0, layer)
if target == "boto3":
    import boto3
else:
    spec = importlib.util.spec_from_file_location("lambda_handler_module", target)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
total = 0.0
for name, loaded in list(sys.modules.items()):
    path = getattr(loaded, "__file__", None) or ""
    if not path.endswith(".py") or name.split(".")[0] in sys.stdlib_module_names:
        continue
    with open(path, "rb") as handle:
        source = handle.read()
    started = time.process_time()
    compile(source, path, "exec", dont_inherit=True)
    total += time.process_time() - started
print(total)
"""


class ImportFailedError(Exception):
    pass


class Timing(NamedTuple):
    wall: float
    cpu: float


@dataclass
class HandlerImport:
    handler: str
    samples: list[float] = field(default_factory=list)
    samples_trace_disabled: list[float] = field(default_factory=list)
    boto3_samples: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)
    boto3_cpu_samples: list[float] = field(default_factory=list)
    largest_imports: list[tuple[str, float]] = field(default_factory=list)
    by_package: list[tuple[str, float]] = field(default_factory=list)
    # CPU seconds to compile the non-standard-library sources it loads.
    compile_seconds: float | None = None
    boto3_compile_seconds: float | None = None
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

    @property
    def uncached_ratio(self) -> float | None:
        """The ratio if neither side had bytecode caches for non-stdlib sources (estimate)."""
        seconds, boto3 = self.import_seconds, self.boto3_import_seconds
        compiled, boto3_compiled = self.compile_seconds, self.boto3_compile_seconds
        if seconds is None or boto3 is None or compiled is None or boto3_compiled is None:
            return None
        return (seconds + compiled) / (boto3 + boto3_compiled)

    @property
    def cpu_ratio(self) -> float | None:
        """Median CPU seconds of the handler over those of `import boto3`."""
        if not self.cpu_samples or not self.boto3_cpu_samples:
            return None
        boto3 = statistics.median(self.boto3_cpu_samples)
        return statistics.median(self.cpu_samples) / boto3 if boto3 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "import_seconds": self.import_seconds,
            "boto3_import_seconds": self.boto3_import_seconds,
            "ratio_to_boto3": self.ratio,
            "cpu_ratio_to_boto3": self.cpu_ratio,
            "import_cpu_samples": self.cpu_samples,
            "boto3_import_cpu_samples": self.boto3_cpu_samples,
            "import_seconds_trace_disabled": self.import_seconds_trace_disabled,
            "import_samples": self.samples,
            "import_samples_trace_disabled": self.samples_trace_disabled,
            "boto3_import_samples": self.boto3_samples,
            "largest_imports_seconds": dict(self.largest_imports),
            "self_seconds_by_package": dict(self.by_package),
            "source_compile_seconds": self.compile_seconds,
            "boto3_source_compile_seconds": self.boto3_compile_seconds,
            "ratio_to_boto3_without_bytecode_estimate": self.uncached_ratio,
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


def _timed(repo: Path, code: str, args: list[str], env: Mapping[str, str]) -> Timing:
    completed = _run(repo, ["-c", code, *args], env)
    wall, cpu = completed.stdout.strip().splitlines()[-1].split()
    return Timing(float(wall), float(cpu))


def time_boto3_import(repo: Path) -> Timing:
    return _timed(repo, _IMPORT_BOTO3, [], _environment(trace_disabled=False))


def time_handler_import(repo: Path, handler: str, *, trace_disabled: bool = False) -> Timing:
    return _timed(
        repo,
        _IMPORT_HANDLER,
        [str(repo / handler), str(repo / LAYER_PATH)],
        _environment(trace_disabled=trace_disabled),
    )


@dataclass(frozen=True)
class ImportLine:
    """One line of `python -X importtime`: own and cumulative microseconds."""

    module: str
    depth: int
    self_us: int
    cumulative_us: int


def importtime_lines(repo: Path, handler: str) -> list[ImportLine]:
    completed = _run(
        repo,
        ["-X", "importtime", "-c", _IMPORT_HANDLER, str(repo / handler), str(repo / LAYER_PATH)],
        _environment(trace_disabled=False),
    )
    lines: list[ImportLine] = []
    for line in completed.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not line.startswith("import time:"):
            continue
        own = parts[0].removeprefix("import time:").strip()
        cumulative = parts[1].strip()
        name = parts[2]
        if not (own.isdigit() and cumulative.isdigit()):
            continue
        # One space before a top-level name; each nesting level adds two.
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        lines.append(ImportLine(name.strip(), depth, int(own), int(cumulative)))
    return lines


def compile_seconds(repo: Path, target: str) -> float:
    """CPU seconds to compile what `target` (a handler file or "boto3") loads from outside the
    standard library."""
    path = target if target == "boto3" else str(repo / target)
    completed = _run(
        repo,
        ["-c", _COMPILE_SOURCES, path, str(repo / LAYER_PATH)],
        _environment(trace_disabled=False),
    )
    return float(completed.stdout.strip().splitlines()[-1])


def largest_imports(lines: list[ImportLine]) -> list[tuple[str, float]]:
    """Top-level imports by cumulative seconds, largest first."""
    top = [(line.module, line.cumulative_us / 1_000_000) for line in lines if line.depth == 0]
    top.sort(key=lambda item: item[1], reverse=True)
    return top[:LARGEST_IMPORTS]


def package_group(module: str) -> str | None:
    """The named group of a module's root package; None for anything else."""
    return PACKAGE_GROUPS.get(module.split(".", 1)[0])


def self_time_by_package(lines: list[ImportLine]) -> list[tuple[str, float]]:
    """Every module's own seconds summed by what pulled it in, largest first.

    A module of a named group (`PACKAGE_GROUPS`) counts for that group. Any
    other module (the standard library, awscrt, cryptography) counts for the
    nearest importer that belongs to a named group: the `ssl` and `http`
    that botocore imports are boto3's cost. What the handler file imports
    directly stays "stdlib" or "other". Each module counts once, under
    whoever imported it first.
    """
    # -X importtime prints a module after everything it imported, one level deeper.
    parents: list[int | None] = [None] * len(lines)
    open_children: list[int] = []
    for index, line in enumerate(lines):
        while open_children and lines[open_children[-1]].depth == line.depth + 1:
            parents[open_children.pop()] = index
        open_children.append(index)
    totals: dict[str, int] = {}
    for index, line in enumerate(lines):
        group = package_group(line.module)
        ancestor = parents[index]
        while group is None and ancestor is not None:
            group = package_group(lines[ancestor].module)
            ancestor = parents[ancestor]
        if group is None:
            root = line.module.split(".", 1)[0]
            group = "stdlib" if root in sys.stdlib_module_names or root[:1] == "_" else "other"
        totals[group] = totals.get(group, 0) + line.self_us
    return sorted(
        ((group, us / 1_000_000) for group, us in totals.items()),
        key=lambda item: item[1],
        reverse=True,
    )


def measure_imports(
    repo: Path,
    *,
    repeat: int,
    handlers: tuple[str, ...] = HANDLER_FILES,
    progress: Callable[[str], None] | None = None,
) -> list[HandlerImport]:
    results = [HandlerImport(handler) for handler in handlers]
    boto3_samples: list[Timing] = []
    try:
        for round_number in range(repeat + 1):
            warm_up = round_number == 0
            boto3_timing = time_boto3_import(repo)
            if not warm_up:
                boto3_samples.append(boto3_timing)
            for result in results:
                if result.error is not None:
                    continue
                try:
                    timing = time_handler_import(repo, result.handler)
                    disabled = time_handler_import(repo, result.handler, trace_disabled=True)
                except (ImportFailedError, subprocess.TimeoutExpired, ValueError) as exc:
                    result.error = f"{type(exc).__name__}: {exc}"
                    continue
                if not warm_up:
                    result.samples.append(timing.wall)
                    result.cpu_samples.append(timing.cpu)
                    result.samples_trace_disabled.append(disabled.wall)
            if progress is not None and not warm_up:
                progress(f"cold imports: round {round_number}/{repeat}")
    except (ImportFailedError, subprocess.TimeoutExpired, ValueError) as exc:
        for result in results:
            result.error = result.error or f"import boto3 failed: {type(exc).__name__}: {exc}"
    boto3_compile: float | None = None
    with contextlib.suppress(ImportFailedError, subprocess.TimeoutExpired, ValueError):
        boto3_compile = compile_seconds(repo, "boto3")
    for result in results:
        result.boto3_samples = [t.wall for t in boto3_samples]
        result.boto3_compile_seconds = boto3_compile
        result.boto3_cpu_samples = [t.cpu for t in boto3_samples]
        if result.error is None:
            # For information only: a failure here leaves the list empty.
            with contextlib.suppress(ImportFailedError, subprocess.TimeoutExpired):
                lines = importtime_lines(repo, result.handler)
                result.largest_imports = largest_imports(lines)
                result.by_package = self_time_by_package(lines)
            with contextlib.suppress(ImportFailedError, subprocess.TimeoutExpired, ValueError):
                result.compile_seconds = compile_seconds(repo, result.handler)
        else:
            result.samples.clear()
            result.cpu_samples.clear()
            result.samples_trace_disabled.clear()
    return results
