"""The change detector against a full reconcile every minute: AWS calls per
tick measured on the embedded AWS, monthly cost modelled from them.

Calls are exact (counted on the embedded AWS). Lambda duration cannot be
measured here (the embedded AWS answers in-process, in microseconds), so it
is modelled as calls x a stated per-call latency, the calls made one after
another as the code makes them; the memory sizes come from template.yaml.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.aws.publisher import EndpointsPublisher
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.detector import ChangeDetector
from msk_privatelink.reconcile.reconciler import Reconciler
from msk_privatelink.reconcile.settings import DetectorSettings
from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.local.lambdas import create_state_table
from tests.integration.harness import BUS, PREFIX, TABLE, CallCounter
from tests.template.support import PROVIDER_TEMPLATE, load_template

CLUSTER_COUNTS: tuple[int, ...] = (1, 10, 50)
QUICK_CLUSTER_COUNTS: tuple[int, ...] = (1, 10)
BROKERS = 3
TICKS_PER_MONTH = 60 * 24 * 30
# Assumption, not a measurement: a read-only AWS API call from Lambda in the
# same Region, round trip included.
SECONDS_PER_CALL = 0.03
# AWS Lambda pricing, US East (N. Virginia), Arm: per GB-second and per
# request (aws.amazon.com/lambda/pricing, as listed on 2026-12-01).
LAMBDA_GB_SECOND_USD = 0.0000133334
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
# The reconciler's SQS event source mapping (template.yaml BatchSize).
RECONCILE_BATCH = 10


@dataclass(frozen=True)
class Approach:
    name: str
    clusters: int
    calls: Counter[str]
    invocations: int
    memory_mb: int
    embedded_seconds: float

    @property
    def calls_per_tick(self) -> int:
        return sum(self.calls.values())

    @property
    def gb_seconds_per_month(self) -> float:
        return self.memory_mb / 1024 * self.calls_per_tick * SECONDS_PER_CALL * TICKS_PER_MONTH

    @property
    def lambda_usd_per_month(self) -> float:
        requests = self.invocations * TICKS_PER_MONTH
        return self.gb_seconds_per_month * LAMBDA_GB_SECOND_USD + requests * LAMBDA_REQUEST_USD

    def to_dict(self) -> dict[str, Any]:
        return {
            "approach": self.name,
            "clusters": self.clusters,
            "calls_per_tick": dict(sorted(self.calls.items())),
            "invocations_per_tick": self.invocations,
            "memory_mb": self.memory_mb,
            "calls_per_month": self.calls_per_tick * TICKS_PER_MONTH,
            "gb_seconds_per_month": round(self.gb_seconds_per_month, 1),
            "lambda_usd_per_month": round(self.lambda_usd_per_month, 2),
            "embedded_seconds": round(self.embedded_seconds, 4),
        }


def memory_sizes() -> dict[str, int]:
    template = load_template(PROVIDER_TEMPLATE)
    default = int(template["Globals"]["Function"]["MemorySize"])
    resources = template["Resources"]
    return {
        name: int(resources[name]["Properties"].get("MemorySize", default))
        for name in ("ChangeDetectorFunction", "ReconcilerFunction", "EventRouterFunction")
    }


def _world(aws: EmbeddedAws, clusters: int) -> tuple[AwsClients, list[ClusterConfig], str]:
    network = aws.create_network(subnet_count=3)
    clients = AwsClients(aws.session(), region=aws.region)
    clients.events.create_event_bus(Name=BUS)
    create_state_table(clients.dynamodb, TABLE)
    queue_url = clients.sqs.create_queue(
        QueueName="reconcile.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
    )["QueueUrl"]
    # Detection reads ListNodes only; its clusters live in an account whose
    # (adjustable) load balancer quota was raised for them, as 50 clusters
    # of nlb-per-broker need 150 load balancers against AWS's default 50.
    aws.set_elb_limit("network-load-balancers", max(50, clusters * BROKERS))
    configs = []
    for i in range(clusters):
        arn = aws.msk.create_cluster(f"c{i}", list(network.subnet_ids), broker_count=BROKERS)
        config = parse(ClusterConfig, {"cluster_arn": arn})
        ConfigStore(clients.ssm, PREFIX).put(config)
        configs.append(config)
    return clients, configs, queue_url


def _counted(aws: EmbeddedAws) -> tuple[AwsClients, CallCounter]:
    counter = CallCounter()
    session = aws.session()
    session.events.register("before-call.*.*", counter)
    return AwsClients(session, region=aws.region), counter


def measure(
    clusters: int, memory: dict[str, int], progress: Callable[[str], None]
) -> list[Approach]:
    with EmbeddedAws() as aws:
        progress(f"detection: {clusters} cluster(s) of {BROKERS} brokers")
        clients, configs, queue_url = _world(aws, clusters)
        reconciler = Reconciler(
            clients, EndpointsPublisher(clients.events, clients.dynamodb, BUS, TABLE)
        )
        for config in configs:  # converged: every cluster has its baseline
            reconciler.reconcile(config)

        detector_clients, counter = _counted(aws)
        settings = DetectorSettings(
            config_parameter_prefix=PREFIX, queue_url=queue_url, state_table_name=TABLE
        )
        detector = ChangeDetector(detector_clients, settings)
        started = time.perf_counter()
        result = detector.detect()
        detect_seconds = time.perf_counter() - started
        if result.changed or result.unread:
            raise RuntimeError(f"a steady tick found changes: {result.to_dict()}")
        detect_calls = Counter(counter.calls)

        full_clients, counter = _counted(aws)
        full = Reconciler(
            full_clients, EndpointsPublisher(full_clients.events, full_clients.dynamodb, BUS, TABLE)
        )
        # The router's part of a sweep: list the clusters, enqueue one request each.
        ConfigStore(full_clients.ssm, PREFIX).cluster_arns()
        started = time.perf_counter()
        for config in configs:
            full.reconcile(config)
        full_seconds = time.perf_counter() - started
        full_calls = Counter(counter.calls)
        full_calls["SendMessageBatch"] += math.ceil(clusters / 10)
    return [
        Approach(
            "change detector every minute",
            clusters,
            detect_calls,
            1,
            memory["ChangeDetectorFunction"],
            detect_seconds,
        ),
        Approach(
            "full reconcile every minute",
            clusters,
            full_calls,
            1 + math.ceil(clusters / RECONCILE_BATCH),
            memory["ReconcilerFunction"],
            full_seconds,
        ),
    ]


def measure_all(counts: Sequence[int], progress: Callable[[str], None]) -> list[Approach]:
    memory = memory_sizes()
    out: list[Approach] = []
    for clusters in counts:
        out += measure(clusters, memory, progress)
    return out


def render(approaches: Sequence[Approach]) -> list[str]:
    lines = [
        f"## Change detection: detector against full reconcile, every minute "
        f"({BROKERS} brokers per cluster, nlb-per-broker)",
        "",
        "| approach | clusters | AWS calls per tick | calls per month "
        "| Lambda invocations per month | GB-seconds per month (modelled) "
        "| Lambda USD per month | embedded seconds per tick |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a in approaches:
        d = a.to_dict()
        lines.append(
            f"| {a.name} | {a.clusters} | {a.calls_per_tick} | {d['calls_per_month']:,} | "
            f"{a.invocations * TICKS_PER_MONTH:,} | {d['gb_seconds_per_month']:,} | "
            f"{d['lambda_usd_per_month']:.2f} | {d['embedded_seconds']} |"
        )
    by_name: dict[str, Counter[str]] = {}
    for a in approaches:
        if a.clusters == max(x.clusters for x in approaches):
            by_name[a.name] = a.calls
    lines += [""]
    for name, calls in by_name.items():
        listed = ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))
        lines.append(f"- {name}, per tick at the largest count: {listed}")
    lines += [
        "",
        f"Modelled: {SECONDS_PER_CALL * 1000:.0f} ms per AWS call, calls in sequence; "
        f"{TICKS_PER_MONTH:,} ticks a month; Lambda Arm in us-east-1 at "
        f"${LAMBDA_GB_SECOND_USD:.10f} per GB-second and $0.20 per million requests. "
        "The detector's reconciles (only when brokers changed) and the 5-minute "
        "sweep come on top of its row; the full-reconcile row already is the sweep. "
        "Python time between calls is left out of both rows alike.",
        "",
    ]
    return lines
