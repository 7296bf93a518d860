"""Reconcile scenarios on the embedded AWS: calls by operation, wall time, peak memory.

Only the measured reconcile is counted and timed: building the world, the
reconcile that brings it to a converged state and the change that the
scenario reacts to (a broker replacement, a scale) are set-up. Every
repetition of a scenario that changes the world gets a fresh world; the
no-op scenario repeats on one.

Wall time and memory are measured in separate runs: tracemalloc slows
allocation-heavy code down several times, so a timed run never traces.

Each pattern runs as one or more `Variant`s (a configuration and the
account's "Network Load Balancers per Region" quota, which the embedded AWS
answers and enforces). nlb-per-broker needs a load balancer per broker, so a
cluster with more brokers than the quota allows is not measured: the bench
predicts it, asks the reconciler once and records its refusal, which must
come before any write and name the quota. A variant in an account with the
(adjustable) quota raised measures those clusters in extra rows. shared-nlb
spreads brokers over shards of at most 50 listeners and needs one load
balancer per shard.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from msk_privatelink.kernel.errors import QuotaExceededError
from msk_privatelink.reconcile.config import LISTENERS_PER_NLB
from msk_privatelink.reconcile.reconciler import Reconciler
from msk_privatelink.reconcile.shards import capacity_for
from msk_privatelink_dev.embedded import EmbeddedAws
from tests.integration.harness import World, create_world, is_mutating

Scenario = Literal["create", "noop", "ip_change", "scale_out", "scale_in"]
# refused: more load balancers than the account's quota allows, and the
# reconciler said so before any write, as the bench predicted. A refusal the
# bench did not predict is a `reconcile` error.
ErrorStage = Literal["not_applicable", "refused", "setup", "reconcile"]

SCENARIOS: tuple[Scenario, ...] = ("create", "noop", "ip_change", "scale_out", "scale_in")
SCENARIO_TITLES: dict[Scenario, str] = {
    "create": "initial create",
    "noop": "no-op reconcile",
    "ip_change": "one broker's IP change",
    "scale_out": "scale out by 3",
    "scale_in": "scale in by 3",
}
BROKER_COUNTS: tuple[int, ...] = (3, 15, 30, 60)
QUICK_BROKER_COUNTS: tuple[int, ...] = (3, 15)
# One client subnet per Availability Zone; MSK needs a multiple of it as broker count.
SUBNETS = 3
# Scaling adds or removes one broker per subnet.
SCALE_STEP = 3
AUTH: tuple[str, ...] = ("iam",)
ALLOWED_PRINCIPALS: tuple[str, ...] = ("arn:aws:iam::111122223333:root",)
REPLACED_BROKER = 1
# The publisher's writes: the event, then the record of what was published.
# The publisher's event and record, and the cluster lease taken around any run
# that changes something: reported, but not resource writes.
# The change detector's baseline is written once by a run whose brokers moved.
PUBLISHER_WRITES: tuple[str, ...] = (
    "PutEvents",
    "UpdateItem",
    "UpdateItem:lease",
    "UpdateItem:brokers",
)
MIB = 1024 * 1024
# "Network Load Balancers per Region": AWS's default, and a raised value.
DEFAULT_NLB_QUOTA = 50
RAISED_NLB_QUOTA = 200


def load_balancers_needed(pattern: str, brokers: int, schemes: int = len(AUTH)) -> int:
    """Load balancers per the design: one per broker, or one per shared-nlb shard."""
    if pattern != "shared-nlb":
        return brokers
    return -(-brokers // capacity_for(LISTENERS_PER_NLB, schemes))


@dataclass(frozen=True)
class Variant:
    """A pattern and the configuration the bench runs it with.

    `name` labels the rows and keys results.json. `nlb_quota` is the
    account's "Network Load Balancers per Region". An `over_default_quota_only`
    variant adds rows only for broker counts that the default quota refuses:
    it measures what a raised quota costs, and continues the variant named by
    `extends` (for the no-op time scaling target).
    """

    name: str
    pattern: str
    description: str
    overrides: tuple[tuple[str, Any], ...] = ()
    nlb_quota: int = DEFAULT_NLB_QUOTA
    over_default_quota_only: bool = False
    extends: str | None = None

    def config_overrides(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "allowed_principals": list(ALLOWED_PRINCIPALS),
            **dict(self.overrides),
        }

    def needed(self, brokers: int) -> int:
        return load_balancers_needed(self.pattern, brokers)

    def over_quota(self, brokers: int) -> bool:
        return self.needed(brokers) > self.nlb_quota

    def runs(self, brokers: int) -> bool:
        if not self.over_default_quota_only:
            return True
        return self.needed(brokers) > DEFAULT_NLB_QUOTA and not self.over_quota(brokers)


_NOT_ADVERTISED: tuple[tuple[str, Any], ...] = (("advertised_listeners", {"mode": "none"}),)
VARIANTS: tuple[Variant, ...] = (
    Variant(
        "nlb-per-broker",
        "nlb-per-broker",
        f"default configuration, AWS's default quota of {DEFAULT_NLB_QUOTA} Network Load "
        "Balancers per Region",
    ),
    Variant(
        f"nlb-per-broker, NLB quota {RAISED_NLB_QUOTA}",
        "nlb-per-broker",
        f"as nlb-per-broker in an account whose (adjustable) Network Load Balancers per "
        f"Region quota is raised to {RAISED_NLB_QUOTA}: extra rows, only for the clusters "
        f"the default {DEFAULT_NLB_QUOTA} refuses",
        nlb_quota=RAISED_NLB_QUOTA,
        over_default_quota_only=True,
        extends="nlb-per-broker",
    ),
    Variant(
        "shared-nlb",
        "shared-nlb",
        f"advertised_listeners.mode none, one auth scheme: {capacity_for(LISTENERS_PER_NLB, 1)} "
        "brokers per load balancer (shard), provider zone on",
        _NOT_ADVERTISED,
    ),
    Variant(
        "shared-nlb, msk-configuration",
        "shared-nlb",
        "as shared-nlb with advertised_listeners.mode msk-configuration: "
        "custom.advertised.listeners in a cluster configuration of ours (the embedded MSK "
        "finishes UpdateClusterConfiguration at once)",
        (("advertised_listeners", {"mode": "msk-configuration"}),),
    ),
)
VARIANT_NAMES: tuple[str, ...] = tuple(v.name for v in VARIANTS)
PATTERNS: tuple[str, ...] = tuple(dict.fromkeys(v.pattern for v in VARIANTS))


def variant(name: str) -> Variant:
    for candidate in VARIANTS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no bench variant {name!r}; expected one of {list(VARIANT_NAMES)}")


class ScenarioUnavailableError(Exception):
    """The scenario cannot exist for this broker count (not a failure of anything)."""


class ReconcileFailedError(Exception):
    """The measured reconcile raised (set-up had succeeded)."""


@dataclass(frozen=True)
class ScenarioError:
    stage: ErrorStage
    message: str
    # A refusal's own words (the reconciler's ConfigError), kept apart from
    # the short message the tables repeat on every row of the cluster.
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"stage": self.stage, "message": self.message, "detail": self.detail}


@dataclass(frozen=True)
class Sample:
    """One measured reconcile."""

    calls: Counter[str]
    seconds: float
    peak_bytes: int | None
    status: str
    load_balancers: int
    target_groups: int
    endpoint_services: int


@dataclass
class ScenarioResult:
    variant: Variant
    brokers: int
    scenario: Scenario
    samples: list[Sample] = field(default_factory=list)
    memory_sample: Sample | None = None
    error: ScenarioError | None = None

    @property
    def name(self) -> str:
        """The variant's label: what the rows and target keys say."""
        return self.variant.name

    @property
    def pattern(self) -> str:
        return self.variant.pattern

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.samples)

    @property
    def refused(self) -> bool:
        return self.error is not None and self.error.stage == "refused"

    @property
    def brokers_after(self) -> int:
        return brokers_after(self.brokers, self.scenario)

    @property
    def calls(self) -> Counter[str]:
        return Counter(self.samples[0].calls) if self.samples else Counter()

    @property
    def read_calls(self) -> Counter[str]:
        return Counter({op: n for op, n in self.calls.items() if not is_mutating(op)})

    @property
    def write_calls(self) -> Counter[str]:
        return Counter({op: n for op, n in self.calls.items() if is_mutating(op)})

    @property
    def reads(self) -> int:
        return self.read_calls.total()

    @property
    def writes(self) -> int:
        return self.write_calls.total()

    @property
    def calls_varied(self) -> bool:
        """Whether repetitions disagreed on the calls (they should not)."""
        runs = [s.calls for s in self.samples]
        if self.memory_sample is not None:
            runs.append(self.memory_sample.calls)
        return any(run != runs[0] for run in runs[1:])

    @property
    def seconds(self) -> float | None:
        return statistics.median(s.seconds for s in self.samples) if self.samples else None

    @property
    def peak_mb(self) -> float | None:
        if self.memory_sample is None or self.memory_sample.peak_bytes is None:
            return None
        return self.memory_sample.peak_bytes / MIB

    @property
    def status(self) -> str | None:
        return self.samples[0].status if self.samples else None

    @property
    def load_balancers(self) -> int:
        return self.samples[0].load_balancers if self.samples else 0

    @property
    def target_groups(self) -> int:
        return self.samples[0].target_groups if self.samples else 0

    @property
    def endpoint_services(self) -> int:
        return self.samples[0].endpoint_services if self.samples else 0

    def to_json(self) -> dict[str, Any]:
        ok = self.ok
        return {
            "scenario": SCENARIO_TITLES[self.scenario],
            "pattern": self.pattern,
            "brokers_before": self.brokers,
            "brokers_after": self.brokers_after,
            "reads": self.reads if ok else None,
            "writes": self.writes if ok else None,
            "seconds": self.seconds if ok else None,
            "peak_mb": self.peak_mb if ok else None,
            "calls": dict(sorted(self.calls.items())) if ok else {},
            "read_calls": dict(sorted(self.read_calls.items())) if ok else {},
            "write_calls": dict(sorted(self.write_calls.items())) if ok else {},
            "status": self.status,
            "resources_after": (
                {
                    "load_balancers": self.load_balancers,
                    "target_groups": self.target_groups,
                    "endpoint_services": self.endpoint_services,
                }
                if ok
                else None
            ),
            "seconds_samples": [s.seconds for s in self.samples],
            "calls_varied": self.calls_varied,
            "error": self.error.to_json() if self.error else None,
        }


def brokers_after(brokers: int, scenario: Scenario) -> int:
    if scenario == "scale_out":
        return brokers + SCALE_STEP
    if scenario == "scale_in":
        return brokers - SCALE_STEP
    return brokers


@dataclass(frozen=True)
class _Stage:
    world: World
    reconciler: Reconciler


@contextmanager
def _staged(variant: Variant, brokers: int, scenario: Scenario) -> Iterator[_Stage]:
    """A fresh embedded AWS, ready for the scenario's measured reconcile."""
    target = brokers_after(brokers, scenario)
    if target < SUBNETS:
        raise ScenarioUnavailableError(
            f"{brokers} - {SCALE_STEP} = {target} brokers: MSK keeps at least one broker "
            f"in each of the {SUBNETS} client subnets"
        )
    with EmbeddedAws() as aws:
        aws.set_elb_limit("network-load-balancers", variant.nlb_quota)
        world = create_world(
            aws, brokers=brokers, auth=AUTH, config_overrides=variant.config_overrides()
        )
        # Clients are built here, as a warm Lambda keeps them: not measured.
        reconciler = world.reconciler()
        if scenario != "create":
            settled = reconciler.reconcile(world.config)
            if settled.status != "converged":
                raise RuntimeError(f"set-up reconcile ended {settled.status!r}")
        if scenario == "ip_change":
            aws.msk.replace_broker(world.cluster_arn, REPLACED_BROKER)
        elif scenario in ("scale_out", "scale_in"):
            aws.msk.scale(world.cluster_arn, target)
        # The measured reconcile's first read, made outside the counted clients:
        # a refusal here is the simulator's, not the reconciler's.
        aws.client("kafka").describe_cluster_v2(ClusterArn=world.cluster_arn)
        yield _Stage(world, reconciler)


def _measure(stage: _Stage, *, memory: bool) -> Sample:
    stage.world.counter.reset()
    gc.collect()
    peak: int | None = None
    if memory:
        tracemalloc.start()
    try:
        started = time.perf_counter()
        try:
            outcome = stage.reconciler.reconcile(stage.world.config)
        except Exception as exc:
            raise ReconcileFailedError(f"{type(exc).__name__}: {exc}") from exc
        seconds = time.perf_counter() - started
        if memory:
            peak = tracemalloc.get_traced_memory()[1]
    finally:
        if memory:
            tracemalloc.stop()
    actual = outcome.actual
    return Sample(
        calls=Counter(stage.world.counter.calls),
        seconds=seconds,
        peak_bytes=peak,
        status=outcome.status,
        load_balancers=len(actual.load_balancers) if actual else 0,
        target_groups=len(actual.target_groups) if actual else 0,
        endpoint_services=len(actual.endpoint_services) if actual else 0,
    )


def refusal(variant: Variant, brokers: int) -> ScenarioError:
    """What the reconciler says about a cluster over the account's NLB quota.

    `refused` only when it raises the quota error before any write; anything
    else (going ahead, writing first, another error) is a `reconcile` error
    of the row.
    """
    needed, quota = variant.needed(brokers), variant.nlb_quota
    with EmbeddedAws() as aws:
        aws.set_elb_limit("network-load-balancers", quota)
        world = create_world(
            aws, brokers=brokers, auth=AUTH, config_overrides=variant.config_overrides()
        )
        reconciler = world.reconciler()
        world.counter.reset()
        try:
            outcome = reconciler.reconcile(world.config)
        except QuotaExceededError as exc:
            writes = world.counter.writes.total()
            if writes:
                return ScenarioError("reconcile", f"refused only after {writes} writes: {exc}")
            return ScenarioError(
                "refused",
                f"exceeds Network Load Balancers per Region ({needed} > {quota}); "
                "the reconciler refuses before any write",
                detail=str(exc),
            )
        except Exception as exc:
            return ScenarioError("reconcile", f"{type(exc).__name__}: {exc}")
    return ScenarioError(
        "reconcile",
        f"{needed} load balancers > quota {quota}, yet the reconcile ended "
        f"{outcome.status!r} instead of refusing",
    )


def run_scenario(
    variant: Variant,
    brokers: int,
    scenario: Scenario,
    *,
    repeat: int,
    memory: bool,
    refusals: dict[tuple[str, int], ScenarioError] | None = None,
) -> ScenarioResult:
    """Measure one scenario `repeat` times (plus one traced run when `memory`).

    `refusals` caches the refusal per variant and broker count: every
    scenario of a cluster over the quota gets the same answer.
    """
    result = ScenarioResult(variant, brokers, scenario)
    if variant.over_quota(brokers):
        cache = refusals if refusals is not None else {}
        key = (variant.name, brokers)
        if key not in cache:
            try:
                cache[key] = refusal(variant, brokers)
            except Exception as exc:
                cache[key] = ScenarioError("setup", f"{type(exc).__name__}: {exc}")
        result.error = cache[key]
        return result
    try:
        if scenario == "noop":
            with _staged(variant, brokers, scenario) as stage:
                for _ in range(repeat):
                    result.samples.append(_measure(stage, memory=False))
                if memory:
                    result.memory_sample = _measure(stage, memory=True)
        else:
            for _ in range(repeat):
                with _staged(variant, brokers, scenario) as stage:
                    result.samples.append(_measure(stage, memory=False))
            if memory:
                with _staged(variant, brokers, scenario) as stage:
                    result.memory_sample = _measure(stage, memory=True)
    except ScenarioUnavailableError as exc:
        result.error = ScenarioError("not_applicable", str(exc))
    except ReconcileFailedError as exc:
        result.error = ScenarioError("reconcile", str(exc))
    except Exception as exc:
        # Anything before the measured reconcile: the embedded AWS refused the world.
        result.error = ScenarioError("setup", f"{type(exc).__name__}: {exc}")
    if result.error is not None:
        result.samples.clear()
        result.memory_sample = None
    return result


def run_all(
    *,
    variants: Sequence[Variant] = VARIANTS,
    brokers: Sequence[int] = BROKER_COUNTS,
    scenarios: Sequence[Scenario] = SCENARIOS,
    repeat: int = 3,
    memory: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[ScenarioResult]:
    results: list[ScenarioResult] = []
    refusals: dict[tuple[str, int], ScenarioError] = {}
    for current in variants:
        for count in brokers:
            if not current.runs(count):
                continue
            for scenario in scenarios:
                started = time.perf_counter()
                result = run_scenario(
                    current, count, scenario, repeat=repeat, memory=memory, refusals=refusals
                )
                results.append(result)
                if progress is not None:
                    outcome = (
                        f"{result.reads} reads, {result.writes} writes"
                        if result.ok
                        else f"error ({result.error.stage})"
                        if result.error
                        else "no sample"
                    )
                    progress(
                        f"{current.name} {count:>3} brokers {scenario:<9} {outcome} "
                        f"[{time.perf_counter() - started:.1f}s]"
                    )
    return results
