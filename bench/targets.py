"""The targets the benchmark reports against, computed from its measurements.

`pass` and `fail` are verdicts on a measurement; `error` means the
measurement could not be made (the scenario's set-up or reconcile raised) and
counts as a failure for `--check`; `skipped` means the run did not include
what the target compares (a `--quick` run has no 60-broker cluster).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from bench.imports import HandlerImport
from bench.scenarios import PUBLISHER_WRITES, SCALE_STEP, Scenario, ScenarioResult

Status = Literal["pass", "fail", "error", "skipped"]
FAILING: frozenset[Status] = frozenset({"fail", "error"})

NOOP_READ_ALLOWANCE = 10
SCALING_SMALL, SCALING_LARGE = 3, 60
SCALING_FACTOR = 25.0
IMPORT_FACTOR = 1.3
TARGET_WRITE_OPERATIONS = ("RegisterTargets", "DeregisterTargets")


@dataclass(frozen=True)
class TargetResult:
    key: str
    name: str
    subject: str
    measured: str
    limit: str
    status: Status
    other_writes: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILING

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def target_key(kind: str, pattern: str, brokers: int) -> str:
    return f"{kind}/{pattern}/{brokers}"


def describe_calls(calls: Counter[str]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(calls.items()) if n) or "none"


def _subject(result: ScenarioResult) -> str:
    return f"{result.pattern}, {result.brokers} brokers"


def _unmeasured(result: ScenarioResult) -> str:
    if result.error is None:
        return "not measured"
    return f"error ({result.error.stage}): {result.error.message}"


def _publisher_writes(writes: Counter[str]) -> Counter[str]:
    return Counter({op: n for op, n in writes.items() if op in PUBLISHER_WRITES})


def _publisher_ok(writes: Counter[str]) -> bool:
    """At most one event, and the record update only along with it."""
    return writes["PutEvents"] <= 1 and writes["UpdateItem"] <= writes["PutEvents"]


def noop_targets(result: ScenarioResult) -> list[TargetResult]:
    subject = _subject(result)
    writes_key = target_key("noop-writes", result.pattern, result.brokers)
    reads_key = target_key("noop-reads", result.pattern, result.brokers)
    writes_name, reads_name = "no-op: zero writes", "no-op: reads within budget"
    reads_limit = f"<= target groups + load balancers + {NOOP_READ_ALLOWANCE}"
    if not result.ok:
        measured = _unmeasured(result)
        return [
            TargetResult(writes_key, writes_name, subject, measured, "0 writes", "error"),
            TargetResult(reads_key, reads_name, subject, measured, reads_limit, "error"),
        ]
    budget = result.target_groups + result.load_balancers + NOOP_READ_ALLOWANCE
    over = result.reads - budget
    return [
        TargetResult(
            writes_key,
            writes_name,
            subject,
            f"{result.writes} writes",
            "0 writes",
            "pass" if result.writes == 0 else "fail",
            other_writes=describe_calls(result.write_calls),
        ),
        TargetResult(
            reads_key,
            reads_name,
            subject,
            f"{result.reads} reads" + (f" ({over} over)" if over > 0 else ""),
            f"<= {budget} ({result.target_groups} target groups + "
            f"{result.load_balancers} load balancers + {NOOP_READ_ALLOWANCE})",
            "pass" if over <= 0 else "fail",
        ),
    ]


def ip_change_target(result: ScenarioResult) -> TargetResult:
    key = target_key("ip-change-writes", result.pattern, result.brokers)
    name = "IP change: 2 target writes, <= 1 PutEvents"
    limit = "RegisterTargets + DeregisterTargets per target group of the broker, PutEvents <= 1"
    if not result.ok:
        return TargetResult(key, name, _subject(result), _unmeasured(result), limit, "error")
    # One target group per enabled scheme: the moved broker's target in each.
    per_broker = result.target_groups // result.load_balancers if result.load_balancers else 0
    writes = result.write_calls
    moved = Counter({op: writes[op] for op in TARGET_WRITE_OPERATIONS})
    other = Counter(
        {op: n for op, n in writes.items() if op not in (*TARGET_WRITE_OPERATIONS, "PutEvents")}
    )
    ok = (
        all(moved[op] == per_broker for op in TARGET_WRITE_OPERATIONS)
        and _publisher_ok(writes)
        and set(other) <= {"UpdateItem", "UpdateItem:lease"}
    )
    return TargetResult(
        key,
        name,
        _subject(result),
        f"{moved.total()} target writes ({describe_calls(moved)}), PutEvents {writes['PutEvents']}",
        f"{2 * per_broker} target writes (RegisterTargets {per_broker} + DeregisterTargets "
        f"{per_broker}), PutEvents <= 1, no other write but its UpdateItem and the lease",
        "pass" if ok else "fail",
        other_writes=describe_calls(other),
    )


def per_broker_writes(create: ScenarioResult) -> Counter[str] | None:
    """Resource writes that the initial create made per broker; None if they do not divide."""
    resource = Counter(
        {op: n for op, n in create.write_calls.items() if op not in PUBLISHER_WRITES}
    )
    if create.brokers <= 0 or any(n % create.brokers for n in resource.values()):
        return None
    return Counter({op: n // create.brokers for op, n in resource.items()})


def scale_out_target(result: ScenarioResult, create: ScenarioResult | None) -> TargetResult:
    key = target_key("scale-out-writes", result.pattern, result.brokers)
    name = f"scale out by {SCALE_STEP}: writes only for the new brokers"
    limit = f"per-broker create writes x {SCALE_STEP} + PutEvents <= 1 (+ its UpdateItem)"
    subject = _subject(result)
    if not result.ok:
        return TargetResult(key, name, subject, _unmeasured(result), limit, "error")
    if create is None or not create.ok:
        why = "initial create not measured" if create is None else _unmeasured(create)
        return TargetResult(key, name, subject, f"no per-broker profile: {why}", limit, "error")
    profile = per_broker_writes(create)
    if profile is None:
        return TargetResult(
            key,
            name,
            subject,
            "initial create's writes do not divide by the broker count: "
            + describe_calls(create.write_calls),
            limit,
            "error",
        )
    expected = Counter({op: n * SCALE_STEP for op, n in profile.items()})
    writes = result.write_calls
    resource = Counter({op: n for op, n in writes.items() if op not in PUBLISHER_WRITES})
    differing = sorted(set(expected) | set(resource))
    diff = [
        f"{op} {resource[op]} vs {expected[op]}" for op in differing if resource[op] != expected[op]
    ]
    ok = not diff and _publisher_ok(writes)
    measured = f"{resource.total()} resource writes, PutEvents {writes['PutEvents']}"
    if diff:
        measured += f"; differs: {', '.join(diff)}"
    return TargetResult(
        key,
        name,
        subject,
        measured,
        f"{profile.total()} per broker x {SCALE_STEP} = {expected.total()} "
        f"({describe_calls(expected)}), PutEvents <= 1",
        "pass" if ok else "fail",
        other_writes=describe_calls(_publisher_writes(writes)),
    )


def noop_scaling_target(results: Sequence[ScenarioResult], pattern: str) -> TargetResult:
    key = f"noop-scaling/{pattern}"
    name = f"no-op time: {SCALING_LARGE} brokers <= {SCALING_FACTOR:g} x {SCALING_SMALL} brokers"
    subject = f"{pattern}, {SCALING_LARGE} vs {SCALING_SMALL} brokers"
    limit = f"<= {SCALING_FACTOR:g} x"
    noop = {r.brokers: r for r in results if r.pattern == pattern and r.scenario == "noop"}
    small, large = noop.get(SCALING_SMALL), noop.get(SCALING_LARGE)
    if small is None or large is None:
        return TargetResult(key, name, subject, "not in this run", limit, "skipped")
    for side in (small, large):
        if not side.ok:
            return TargetResult(
                key, name, subject, f"{side.brokers} brokers: {_unmeasured(side)}", limit, "error"
            )
    small_s, large_s = small.seconds, large.seconds
    if not small_s or large_s is None:
        return TargetResult(key, name, subject, "no timing", limit, "error")
    allowed = SCALING_FACTOR * small_s
    return TargetResult(
        key,
        name,
        subject,
        f"{large_s:.3f}s vs {small_s:.3f}s ({large_s / small_s:.1f}x)",
        f"<= {allowed:.3f}s ({SCALING_FACTOR:g} x)",
        "pass" if large_s <= allowed else "fail",
    )


def import_target(handler: HandlerImport) -> TargetResult:
    key = f"cold-import/{handler.handler}"
    name = f"cold import <= {IMPORT_FACTOR:g} x import boto3"
    limit = f"<= {IMPORT_FACTOR:g} x boto3"
    seconds, boto3 = handler.import_seconds, handler.boto3_import_seconds
    if handler.error is not None or seconds is None or boto3 is None:
        return TargetResult(key, name, handler.handler, f"error: {handler.error}", limit, "error")
    allowed = IMPORT_FACTOR * boto3
    return TargetResult(
        key,
        name,
        handler.handler,
        f"{seconds:.3f}s ({seconds / boto3:.2f}x boto3 {boto3:.3f}s)",
        f"<= {allowed:.3f}s ({IMPORT_FACTOR:g} x)",
        "pass" if seconds <= allowed else "fail",
    )


def reconcile_targets(results: Sequence[ScenarioResult]) -> list[TargetResult]:
    """The call-count targets, then the no-op time scaling per pattern."""
    by_key: dict[tuple[str, int, Scenario], ScenarioResult] = {
        (r.pattern, r.brokers, r.scenario): r for r in results
    }
    targets: list[TargetResult] = []
    for result in results:
        if result.scenario == "noop":
            targets.extend(noop_targets(result))
        elif result.scenario == "ip_change":
            targets.append(ip_change_target(result))
        elif result.scenario == "scale_out":
            create = by_key.get((result.pattern, result.brokers, "create"))
            targets.append(scale_out_target(result, create))
    for pattern in dict.fromkeys(r.pattern for r in results):
        targets.append(noop_scaling_target(results, pattern))
    return targets


def import_targets(handlers: Iterable[HandlerImport]) -> list[TargetResult]:
    return [import_target(handler) for handler in handlers]
