"""A reconcile bigger than one invocation stops starting changes in time and
the next run carries on (reconcile/budget.py), on the embedded AWS.

Time is driven by the calls made: every resource write "takes" a fixed
number of seconds of the invocation, so the tests are exact and never wait.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from msk_privatelink.kernel.naming import load_balancer_name
from msk_privatelink.reconcile.budget import APPLY_RESERVE_SECONDS, TimeBudget
from msk_privatelink.reconcile.reconciler import ReconcileOutcome
from tests.consumer.support import events_of
from tests.integration.harness import CallCounter, World, count_all_calls, local_functions, world

pytestmark = pytest.mark.integration


def resource_writes(counter: CallCounter) -> int:
    return sum(
        n
        for name, n in counter.writes.items()
        if (
            name.startswith(("Create", "Register", "Deregister", "Modify", "Delete", "Add"))
            and not name.endswith(("Message", "Item"))
        )
        or name in ("SetSubnets", "ChangeResourceRecordSets")
    )


def budget_of(counter: CallCounter, seconds: float, per_write: float) -> TimeBudget:
    """An invocation of ``seconds`` in which each resource write costs ``per_write``."""
    return TimeBudget(lambda: seconds - per_write * resource_writes(counter))


def run_until_settled(w: World, seconds: float, per_write: float) -> list[ReconcileOutcome]:
    outcomes: list[ReconcileOutcome] = []
    for _ in range(30):
        w.counter.reset()
        outcome = w.reconciler().reconcile(
            w.config, budget=budget_of(w.counter, seconds, per_write)
        )
        # No change starts once the reserve is reached; the one that started
        # just before may make up to three calls (a load balancer's
        # attributes and marker tag, a service and its permissions).
        budgeted = int((seconds - APPLY_RESERVE_SECONDS) / per_write) + 1
        assert resource_writes(w.counter) <= budgeted + 3
        outcomes.append(outcome)
        if outcome.status != "partial":
            return outcomes
    raise AssertionError("never settled")


def test_a_first_create_bigger_than_one_run_converges_over_several() -> None:
    with world(brokers=12) as w:
        outcomes = run_until_settled(w, seconds=60.0, per_write=1.0)

        statuses = [o.status for o in outcomes]
        assert len(statuses) >= 3
        assert statuses[-1] == "converged"
        assert set(statuses[:-1]) == {"partial"}
        assert all(o.deferred for o in outcomes[:-1])
        assert not outcomes[-1].deferred
        assert w.residual_plan_size() == 0
        # Consumers heard of brokers as their paths were completed, never of
        # one without its whole path.
        views = events_of(w)
        assert len(views) >= 2
        assert [b.broker_id for b in views[-1].brokers] == list(range(1, 13))


def test_a_partial_run_publishes_only_complete_paths() -> None:
    with world(brokers=6) as w:
        w.counter.reset()
        outcome = w.reconciler().reconcile(w.config, budget=budget_of(w.counter, 60.0, 1.0))
        assert outcome.status == "partial"

        elbv2 = w.aws.client("elbv2")
        ec2 = w.aws.client("ec2")
        services = {
            s["NetworkLoadBalancerArns"][0]
            for s in ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
        }
        complete = []
        for broker in range(1, 7):
            lbs = elbv2.describe_load_balancers()["LoadBalancers"]
            lb = next(
                (
                    x
                    for x in lbs
                    if x["LoadBalancerName"] == load_balancer_name(w.cluster_arn, broker)
                ),
                None,
            )
            if lb is not None and lb["LoadBalancerArn"] in services:
                listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])
                if listeners["Listeners"]:
                    complete.append(broker)
        views = events_of(w)
        published = [b.broker_id for b in views[-1].brokers] if views else []
        assert set(published) <= set(complete)
        assert len(published) < 6


def test_removals_wait_while_additions_are_deferred() -> None:
    with world(brokers=3) as w:
        w.reconcile()
        events_of(w)
        w.aws.msk.replace_broker(w.cluster_arn, 1)
        w.aws.msk.scale(w.cluster_arn, 6)
        w.counter.reset()

        # Time for a few writes only: the new brokers' additions are cut
        # short, so broker 1's old target must not be deregistered yet.
        outcome = w.reconciler().reconcile(w.config, budget=budget_of(w.counter, 30.0, 1.0))

        assert outcome.status == "partial"
        assert not w.counter.writes["DeregisterTargets"]
        assert any(c.destructive for c in outcome.deferred)
        for _ in range(10):
            w.counter.reset()
            last = w.reconciler().reconcile(w.config, budget=budget_of(w.counter, 60.0, 1.0))
            if last.status != "partial":
                break
        assert last.status == "converged"
        assert w.residual_plan_size() == 0


def test_without_a_budget_every_change_is_made_in_one_run() -> None:
    with world(brokers=6) as w:
        outcome = w.reconcile()
        assert outcome.status == "converged"
        assert outcome.deferred == ()


def invocation_clock(
    counter: CallCounter, seconds: float, per_write: float
) -> Callable[[], Callable[[], float]]:
    """Each reconciler invocation starts with ``seconds`` left."""

    def start() -> Callable[[], float]:
        at_start = resource_writes(counter)
        return lambda: seconds - per_write * (resource_writes(counter) - at_start)

    return start


def test_the_handler_queues_a_cut_short_run_again_until_it_converges() -> None:
    with world(brokers=12) as w:
        functions, queue_url = local_functions(w)
        body = {"clusterArn": w.cluster_arn, "trigger": "test", "eventId": "first"}
        w.aws.client("sqs").send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(body),
            MessageGroupId=w.cluster_arn,
            MessageDeduplicationId="first",
        )
        with count_all_calls() as counter:
            functions.reconciler_time = invocation_clock(counter, 100.0, 2.0)
            responses = functions.drain()

        # Every invocation succeeded (a continuation is not a failed receive,
        # so no big create can reach the dead-letter queue this way).
        assert len(responses) >= 3
        assert all(r["batchItemFailures"] == [] for r in responses)
        assert counter.calls["SendMessageBatch"] == len(responses) - 1
        assert '"ReconcileContinued":[1.0]' in functions.log.getvalue()
        assert w.residual_plan_size() == 0


def test_a_record_left_too_little_time_is_queued_again_untouched() -> None:
    with world(brokers=3) as w:
        functions, queue_url = local_functions(w)
        w.aws.client("sqs").send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(
                {"clusterArn": w.cluster_arn, "trigger": "test", "eventId": "late"}
            ),
            MessageGroupId=w.cluster_arn,
            MessageDeduplicationId="late",
        )
        functions.reconciler_time = lambda: lambda: 50.0
        with count_all_calls() as counter:
            (response,) = functions.drain(max_batches=1)

        assert response["batchItemFailures"] == []
        assert counter.calls["SendMessageBatch"] == 1
        assert not counter.calls["DescribeClusterV2"]
        assert resource_writes(counter) == 0
        # The next invocation, with its full time, converges the cluster.
        functions.reconciler_time = None
        assert all(r["batchItemFailures"] == [] for r in functions.drain())
        assert w.residual_plan_size() == 0
