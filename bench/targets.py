"""The targets the benchmark reports against, computed from its measurements.

`pass` and `fail` are verdicts on a measurement; `error` means the
measurement could not be made (the scenario's set-up or reconcile raised) and
counts as a failure for `--check`; `skipped` means the run did not include
what the target compares (a `--quick` run has no 60-broker cluster) or the
cluster is over the account's load balancer quota, refused as predicted
(that refusal has a target of its own).

The expected write counts follow the design, per pattern:

- nlb-per-broker: a broker has its own target group per auth scheme, so an IP
  change is one RegisterTargets and one DeregisterTargets per scheme, and
  scaling out by k repeats the initial create's per-broker writes k times.
- shared-nlb: a broker's IP is in its own target group AND in the scheme's
  bootstrap group, so an IP change is RegisterTargets 2 + DeregisterTargets 2
  per scheme (register in both before deregistering from either). Scaling out
  by k is, per scheme, k CreateTargetGroup + k CreateListener + k
  RegisterTargets (the new groups) + 1 RegisterTargets (the k addresses into
  the bootstrap group in one call, only while the new ids are among the 50
  lowest that the bootstrap groups hold), plus one ChangeResourceRecordSets batch
  for the k names in the provider hosted zone. The load balancer, endpoint
  service and zone are shared, so the initial create does not divide by the
  broker count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from bench.imports import HandlerImport
from bench.scenarios import (
    PUBLISHER_WRITES,
    SCALE_STEP,
    Scenario,
    ScenarioResult,
)
from msk_privatelink.reconcile.desired_shared_nlb import MAX_BOOTSTRAP_TARGETS

Status = Literal["pass", "fail", "error", "skipped"]
FAILING: frozenset[Status] = frozenset({"fail", "error"})

NOOP_READ_ALLOWANCE = 10
SCALING_SMALL, SCALING_LARGE = 3, 60
SCALING_FACTOR = 25.0
IMPORT_FACTOR = 1.3
TARGET_WRITE_OPERATIONS = ("RegisterTargets", "DeregisterTargets")
SHARED_SCALE_OUT_LIMIT = (
    f"per scheme {SCALE_STEP} CreateTargetGroup + {SCALE_STEP} CreateListener + "
    f"{SCALE_STEP} + 1 RegisterTargets; 1 ChangeResourceRecordSets; PutEvents <= 1"
)


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
    return f"{result.name}, {result.brokers} brokers"


def _unmeasured(result: ScenarioResult) -> str:
    if result.error is None:
        return "not measured"
    if result.refused:
        return f"refused: {result.error.message}"
    return f"error ({result.error.stage}): {result.error.message}"


def _unmeasured_status(result: ScenarioResult) -> Status:
    """A predicted refusal skips the target; any other gap is an error."""
    return "skipped" if result.refused else "error"


def shared_schemes(result: ScenarioResult) -> int | None:
    """shared-nlb's auth schemes, from its target groups: one per broker + bootstrap each."""
    brokers = result.brokers_after
    if result.target_groups % (brokers + 1):
        return None
    return result.target_groups // (brokers + 1)


def _publisher_writes(writes: Counter[str]) -> Counter[str]:
    return Counter({op: n for op, n in writes.items() if op in PUBLISHER_WRITES})


def _publisher_ok(writes: Counter[str]) -> bool:
    """At most one event, and the record update only along with it."""
    return writes["PutEvents"] <= 1 and writes["UpdateItem"] <= writes["PutEvents"]


def noop_targets(result: ScenarioResult) -> list[TargetResult]:
    subject = _subject(result)
    writes_key = target_key("noop-writes", result.name, result.brokers)
    reads_key = target_key("noop-reads", result.name, result.brokers)
    writes_name, reads_name = "no-op: zero writes", "no-op: reads within budget"
    reads_limit = f"<= target groups + load balancers + {NOOP_READ_ALLOWANCE}"
    if not result.ok:
        measured, status = _unmeasured(result), _unmeasured_status(result)
        return [
            TargetResult(writes_key, writes_name, subject, measured, "0 writes", status),
            TargetResult(reads_key, reads_name, subject, measured, reads_limit, status),
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
    key = target_key("ip-change-writes", result.name, result.brokers)
    shared = result.pattern == "shared-nlb"
    if shared:
        name = "IP change: per scheme 2 register + 2 deregister (own + bootstrap group)"
        limit = (
            "RegisterTargets + DeregisterTargets in the broker's group and the bootstrap "
            "group per scheme, PutEvents <= 1"
        )
    else:
        name = "IP change: 2 target writes, <= 1 PutEvents"
        limit = "RegisterTargets + DeregisterTargets per target group of the broker, PutEvents <= 1"
    if not result.ok:
        return TargetResult(
            key, name, _subject(result), _unmeasured(result), limit, _unmeasured_status(result)
        )
    if shared:
        schemes = shared_schemes(result)
        if schemes is None:
            return TargetResult(
                key,
                name,
                _subject(result),
                f"{result.target_groups} target groups do not divide into "
                f"{result.brokers} brokers + 1 bootstrap per scheme",
                limit,
                "error",
            )
        # The moved broker's own group and its scheme's bootstrap group.
        each = 2 * schemes
    else:
        # One target group per enabled scheme: the moved broker's target in each.
        each = result.target_groups // result.load_balancers if result.load_balancers else 0
    writes = result.write_calls
    moved = Counter({op: writes[op] for op in TARGET_WRITE_OPERATIONS})
    other = Counter(
        {op: n for op, n in writes.items() if op not in (*TARGET_WRITE_OPERATIONS, "PutEvents")}
    )
    ok = (
        all(moved[op] == each for op in TARGET_WRITE_OPERATIONS)
        and _publisher_ok(writes)
        and set(other) <= {"UpdateItem", "UpdateItem:lease", "UpdateItem:brokers"}
        and writes["UpdateItem:brokers"] <= 1
    )
    return TargetResult(
        key,
        name,
        _subject(result),
        f"{moved.total()} target writes ({describe_calls(moved)}), PutEvents {writes['PutEvents']}",
        f"{2 * each} target writes (RegisterTargets {each} + DeregisterTargets "
        f"{each}), PutEvents <= 1, no other write but its UpdateItem, the lease and the "
        "broker baseline",
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


def shared_scale_out_writes(
    schemes: int, added: int, *, provider_zone: bool, joins_bootstrap: bool = True
) -> Counter[str]:
    """shared-nlb's resource writes for `added` new brokers (module docstring).
    ``joins_bootstrap``: whether a new broker's id is among the ones the
    bootstrap groups hold (MAX_BOOTSTRAP_TARGETS lowest); past them, no
    bootstrap registration."""
    expected = Counter(
        {
            "CreateTargetGroup": added * schemes,
            "CreateListener": added * schemes,
            "RegisterTargets": added * schemes + (schemes if joins_bootstrap else 0),
        }
    )
    if provider_zone:
        expected["ChangeResourceRecordSets"] = 1
    return expected


def _shared_scale_out_target(result: ScenarioResult, key: str, name: str) -> TargetResult:
    subject = _subject(result)
    limit = SHARED_SCALE_OUT_LIMIT
    schemes = shared_schemes(result)
    if schemes is None:
        return TargetResult(
            key,
            name,
            subject,
            f"{result.target_groups} target groups do not divide into "
            f"{result.brokers_after} brokers + 1 bootstrap per scheme",
            limit,
            "error",
        )
    # New brokers are numbered after the existing ones.
    joins = result.brokers < MAX_BOOTSTRAP_TARGETS
    expected = shared_scale_out_writes(
        schemes, SCALE_STEP, provider_zone=True, joins_bootstrap=joins
    )
    return _compare_scale_out(
        result, key, name, expected, f"{schemes} scheme(s): {describe_calls(expected)}"
    )


def _compare_scale_out(
    result: ScenarioResult, key: str, name: str, expected: Counter[str], limit: str
) -> TargetResult:
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
        _subject(result),
        measured,
        f"{limit}, PutEvents <= 1",
        "pass" if ok else "fail",
        other_writes=describe_calls(_publisher_writes(writes)),
    )


def scale_out_target(result: ScenarioResult, create: ScenarioResult | None) -> TargetResult:
    key = target_key("scale-out-writes", result.name, result.brokers)
    name = f"scale out by {SCALE_STEP}: writes only for the new brokers"
    if result.pattern == "shared-nlb":
        limit = SHARED_SCALE_OUT_LIMIT
    else:
        limit = f"per-broker create writes x {SCALE_STEP} + PutEvents <= 1 (+ its UpdateItem)"
    subject = _subject(result)
    if not result.ok:
        return TargetResult(
            key, name, subject, _unmeasured(result), limit, _unmeasured_status(result)
        )
    if result.pattern == "shared-nlb":
        return _shared_scale_out_target(result, key, name)
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
    return _compare_scale_out(
        result,
        key,
        name,
        expected,
        f"{profile.total()} per broker x {SCALE_STEP} = {expected.total()} "
        f"({describe_calls(expected)})",
    )


def quota_refusal_target(result: ScenarioResult) -> TargetResult:
    """A cluster over the account's NLB quota: refused before any write, as predicted."""
    brokers = result.brokers
    key = target_key("quota-refusal", result.name, brokers)
    name = "over the NLB quota: refused before any write"
    needed = result.variant.needed(brokers)
    quota = result.variant.nlb_quota
    limit = f"QuotaExceededError before any write ({needed} load balancers > quota {quota})"
    error = result.error
    if error is None:
        return TargetResult(key, name, _subject(result), "not refused", limit, "fail")
    return TargetResult(
        key,
        name,
        _subject(result),
        f"{error.message}: {error.detail}"
        if result.refused
        else f"error ({error.stage}): {error.message}",
        limit,
        "pass" if result.refused else "fail",
    )


def noop_scaling_target(results: Sequence[ScenarioResult], name: str) -> TargetResult:
    """No-op time at 60 vs 3 brokers within one variant.

    A variant that only adds the clusters over the default NLB quota takes
    its small side from the variant it extends: the quota changes nothing
    that a reconcile reads or writes below it.
    """
    key = f"noop-scaling/{name}"
    title = f"no-op time: {SCALING_LARGE} brokers <= {SCALING_FACTOR:g} x {SCALING_SMALL} brokers"
    limit = f"<= {SCALING_FACTOR:g} x"
    own = [r for r in results if r.name == name and r.scenario == "noop"]
    extends = own[0].variant.extends if own else None
    large = next((r for r in own if r.brokers == SCALING_LARGE), None)
    small = next((r for r in own if r.brokers == SCALING_SMALL), None)
    if small is None and extends is not None:
        small = next(
            (
                r
                for r in results
                if r.name == extends and r.scenario == "noop" and r.brokers == SCALING_SMALL
            ),
            None,
        )
    subject = (
        f"{name}, {SCALING_LARGE} vs "
        + (f"{extends}, " if small is not None and small.name != name else "")
        + f"{SCALING_SMALL} brokers"
    )
    if small is None or large is None:
        return TargetResult(key, title, subject, "not in this run", limit, "skipped")
    for side in (small, large):
        if not side.ok:
            return TargetResult(
                key,
                title,
                subject,
                f"{side.brokers} brokers: {_unmeasured(side)}",
                limit,
                _unmeasured_status(side),
            )
    small_s, large_s = small.seconds, large.seconds
    if not small_s or large_s is None:
        return TargetResult(key, title, subject, "no timing", limit, "error")
    allowed = SCALING_FACTOR * small_s
    return TargetResult(
        key,
        title,
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
        (r.name, r.brokers, r.scenario): r for r in results
    }
    targets: list[TargetResult] = []
    refusals: set[tuple[str, int]] = set()
    for result in results:
        if (
            result.variant.over_quota(result.brokers)
            and (result.name, result.brokers) not in refusals
        ):
            refusals.add((result.name, result.brokers))
            targets.append(quota_refusal_target(result))
        if result.scenario == "noop":
            targets.extend(noop_targets(result))
        elif result.scenario == "ip_change":
            targets.append(ip_change_target(result))
        elif result.scenario == "scale_out":
            create = by_key.get((result.name, result.brokers, "create"))
            targets.append(scale_out_target(result, create))
    for name in dict.fromkeys(r.name for r in results):
        targets.append(noop_scaling_target(results, name))
    return targets


def import_targets(handlers: Iterable[HandlerImport]) -> list[TargetResult]:
    return [import_target(handler) for handler in handlers]
