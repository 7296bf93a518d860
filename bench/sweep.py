"""The scheduled sweep against ELB's and EC2's Describe budgets.

One deep (scheduled) reconcile of a converged 30-broker cluster is measured
per pattern on the embedded AWS: its Elastic Load Balancing and EC2
Describe calls, counted exactly. A sweep of N clusters is then what the
stack does with them: the router takes ``SweepClustersPerTick`` clusters a
tick (template default), the reconciler runs at most two at once, each
paced to its share of the budget (``*_DESCRIBE_CALLS_PER_MINUTE``). The rows
give the Describe rate a tick makes against half of the documented account
rates ("Request throttling for the ELB API": 10 a second; "Request
throttling for the Amazon EC2 API": 20 a second for non-mutating calls).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import botocore.session

from msk_privatelink_dev.embedded import EmbeddedAws
from tests.integration.harness import create_world
from tests.template.support import PROVIDER_TEMPLATE, load_template

CLUSTER_COUNTS: tuple[int, ...] = (1, 10, 50)
BROKERS = 30
PATTERNS: tuple[str, ...] = ("nlb-per-broker", "shared-nlb")
TICK_SECONDS = 300  # the template's ReconcileSchedule default, rate(5 minutes)
ELB_RATE, EC2_RATE = 10.0, 20.0  # documented refill, calls a second
CONCURRENCY = 2  # the reconciler's MaximumConcurrency


def stack_settings() -> dict[str, int]:
    """The sweep's settings as template.yaml gives them."""
    template: dict[str, Any] = load_template(PROVIDER_TEMPLATE)
    env = template["Resources"]["ReconcilerFunction"]["Properties"]["Environment"]["Variables"]
    return {
        "per_tick": int(template["Parameters"]["SweepClustersPerTick"]["Default"]),
        "elb_per_minute": int(env["ELB_DESCRIBE_CALLS_PER_MINUTE"]),
        "ec2_per_minute": int(env["EC2_DESCRIBE_CALLS_PER_MINUTE"]),
    }


@dataclass(frozen=True)
class DeepRead:
    pattern: str
    elb: int
    ec2: int


@dataclass(frozen=True)
class SweepRow:
    pattern: str
    clusters: int
    per_tick: int
    ticks_per_round: int
    elb_per_tick: int
    ec2_per_tick: int
    tick_seconds: float  # how long a tick's reconciles take at the paced rate (or the tick)
    elb_per_second: float
    ec2_per_second: float

    @property
    def within(self) -> bool:
        return self.elb_per_second <= ELB_RATE / 2 and self.ec2_per_second <= EC2_RATE / 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "clusters": self.clusters,
            "clusters_per_tick": self.per_tick,
            "ticks_per_round": self.ticks_per_round,
            "elb_describe_per_tick": self.elb_per_tick,
            "ec2_describe_per_tick": self.ec2_per_tick,
            "tick_work_seconds": round(self.tick_seconds, 1),
            "elb_describe_per_second": round(self.elb_per_second, 2),
            "ec2_describe_per_second": round(self.ec2_per_second, 2),
            "within_half_budget": self.within,
        }


def measure_deep(pattern: str, brokers: int = BROKERS) -> DeepRead:
    with EmbeddedAws() as aws:
        world = create_world(aws, brokers=brokers, config_overrides={"pattern": pattern})
        reconciler = world.reconciler()
        settled = reconciler.reconcile(world.config)
        if settled.status != "converged":
            raise RuntimeError(f"{pattern}: set-up reconcile ended {settled.status!r}")
        world.counter.reset()
        reconciler.reconcile(world.config, deep=True)
        calls: Counter[str] = Counter(world.counter.calls)
    elb = sum(n for op, n in calls.items() if op.startswith("Describe") and op in _ops("elbv2"))
    ec2 = sum(n for op, n in calls.items() if op.startswith("Describe") and op in _ops("ec2"))
    return DeepRead(pattern, elb, ec2)


def _ops(service: str) -> frozenset[str]:
    """The operation names of a service, from botocore's model."""
    model = botocore.session.get_session().get_service_model(service)
    return frozenset(model.operation_names)


def sweep_row(read: DeepRead, clusters: int, settings: dict[str, int]) -> SweepRow:
    per_tick = settings["per_tick"] or clusters
    swept = min(clusters, per_tick)
    ticks = -(-clusters // per_tick)
    elb, ec2 = swept * read.elb, swept * read.ec2
    # At most CONCURRENCY reconciles at once, each paced to its share.
    elb_rate = CONCURRENCY * settings["elb_per_minute"] / 60
    ec2_rate = CONCURRENCY * settings["ec2_per_minute"] / 60
    work = max(elb / elb_rate, ec2 / ec2_rate)
    window = max(TICK_SECONDS, work)
    return SweepRow(
        read.pattern,
        clusters,
        swept,
        ticks,
        elb,
        ec2,
        work,
        elb / window if work < TICK_SECONDS else elb_rate,
        ec2 / window if work < TICK_SECONDS else ec2_rate,
    )


def measure(counts: Sequence[int], progress: Callable[[str], None]) -> list[SweepRow]:
    settings = stack_settings()
    rows: list[SweepRow] = []
    for pattern in PATTERNS:
        progress(f"sweep: one deep reconcile of a {BROKERS}-broker {pattern} cluster")
        read = measure_deep(pattern)
        rows += [sweep_row(read, n, settings) for n in counts]
    return rows


def render(rows: Sequence[SweepRow]) -> list[str]:
    settings = stack_settings()
    lines = [
        f"## The scheduled sweep against the Describe budgets ({BROKERS} brokers per cluster)",
        "",
        f"Measured: one deep reconcile per pattern. Modelled: SweepClustersPerTick "
        f"{settings['per_tick']}, a {TICK_SECONDS // 60}-minute tick, {CONCURRENCY} "
        f"reconciles at once paced to {settings['elb_per_minute']} ELB and "
        f"{settings['ec2_per_minute']} EC2 Describe calls a minute each. Budget: half of "
        f"ELB's {ELB_RATE:g} and EC2's {EC2_RATE:g} calls a second.",
        "",
        "| pattern | clusters | swept per tick | ticks to sweep all | ELB Describe per tick "
        "| EC2 Describe per tick | paced work per tick (s) | ELB Describe/s | EC2 Describe/s "
        "| within half the budget |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.pattern} | {r.clusters} | {r.per_tick} | {r.ticks_per_round} | "
            f"{r.elb_per_tick} | {r.ec2_per_tick} | {r.tick_seconds:.0f} | "
            f"{r.elb_per_second:.2f} | {r.ec2_per_second:.2f} | {'yes' if r.within else 'NO'} |"
        )
    return lines
