"""The scheduled sweep spread over ticks, and deep runs paced, on the embedded AWS."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.router import RouterService
from msk_privatelink.reconcile.service import ReconcileService
from msk_privatelink.reconcile.settings import ReconcilerSettings, RouterSettings
from msk_privatelink.reconcile.triggers import ReconcileRequest
from tests.integration.harness import BUS, PREFIX, TABLE, World, world

pytestmark = pytest.mark.integration

TICK = json.loads(
    (Path(__file__).resolve().parents[2] / "events" / "scheduled-reconcile.json").read_text()
)


def other_clusters(w: World, count: int) -> set[str]:
    store = ConfigStore(w.clients().ssm, PREFIX)
    arns = set()
    for i in range(count):
        arn = f"arn:aws:kafka:us-east-1:123456789012:cluster/other-{i:02d}/{i:08d}-aaaa-1"
        store.put(parse(ClusterConfig, {"cluster_arn": arn}))
        arns.add(arn)
    return arns


def test_ticks_take_even_slices_that_cover_every_cluster() -> None:
    with world() as w:
        everyone = other_clusters(w, 24) | {w.cluster_arn}
        queue = w.clients().sqs.create_queue(
            QueueName="reconcile.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        router = RouterService(
            w.clients(),
            RouterSettings(PREFIX, queue, state_table_name=TABLE, sweep_clusters_per_tick=10),
        )

        ticks = [router.route({**TICK, "id": f"tick-{i}"}) for i in range(3)]

        swept = Counter(arn for tick in ticks for arn in tick.enqueued)
        assert swept == Counter(everyone)
        assert sorted(len(t.enqueued) for t in ticks) == [8, 8, 9]
        assert "tick 1, slice 2 of 3 (8 of 25 clusters" in ticks[0].note
        # The fourth tick starts the next round with the first slice again.
        assert set(router.route({**TICK, "id": "tick-3"}).enqueued) == set(ticks[0].enqueued)


def test_without_a_limit_every_tick_sweeps_every_cluster() -> None:
    with world() as w:
        everyone = other_clusters(w, 4) | {w.cluster_arn}
        queue = w.clients().sqs.create_queue(
            QueueName="reconcile.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        router = RouterService(w.clients(), RouterSettings(PREFIX, queue))

        assert set(router.route(TICK).enqueued) == everyone


def test_a_deep_run_paces_its_describe_calls_an_event_driven_one_does_not() -> None:
    with world(brokers=6) as w:
        settings = ReconcilerSettings(
            config_parameter_prefix=PREFIX,
            event_bus_name=BUS,
            state_table_name=TABLE,
            elb_describe_calls_per_minute=150,
            ec2_describe_calls_per_minute=300,
        )
        service = ReconcileService(AwsClients(w.aws.session(), region=w.aws.region), settings)
        elb, ec2 = service.pacers
        assert (elb.rate, elb.burst, ec2.rate, ec2.burst) == (2.5, 10, 5.0, 20)
        waits: list[float] = []
        for pacer in service.pacers:
            pacer._sleep = waits.append  # count the waits, do not sleep them

        service.reconcile(ReconcileRequest(w.cluster_arn, "RebootBroker", "e-1"))
        assert elb.paced_calls == ec2.paced_calls == 0

        service.reconcile(ReconcileRequest(w.cluster_arn, "schedule", "e-2"))
        # Six brokers' deep read is more than ten ELB Describe calls: the
        # ones past the burst waited.
        assert elb.paced_calls > elb.burst
        assert waits
