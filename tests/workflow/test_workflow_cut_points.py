"""Cut points of the workflows: every mutating AWS call the state machines'
task function makes during a clean onboarding (of a cross-Region consumer)
and a clean offboarding fails in turn, before it reaches AWS or right after
it succeeded (the function dying with the call done). The execution ends
(compensated, or failed), the same request runs again, and the end state is
exactly the clean run's:

- onboarding: ACTIVE, the consumer's principal (and nobody else's) on every
  endpoint service, its Region offered by each, one tenant rule with one
  target, one bus-policy statement, every connection accepted, the consumer's
  endpoints and zone, nothing duplicated;
- offboarding: OFFBOARDED, nothing of the consumer on either side.

A failed invocation is a dead process: after the injected failure the rest
of that invocation makes no call (its ``finally`` blocks included); the next
invocation is a new one. The cut points are counted on a clean run of the
same world first (``count_all_calls``'s notion of mutating). One world per
scenario: after each cut point the consumer is offboarded (onboarding) or
onboarded again (offboarding) by clean runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from msk_privatelink.kernel.errors import MskPrivateLinkError
from msk_privatelink.onboarding.aws.subscriptions import account_statement_id
from tests.consumer.wiring import ConsumerStack
from tests.faults.conftest import shared_botocore_loader
from tests.integration.harness import BUS, is_mutating
from tests.workflow.function_sessions import hook_function_sessions
from tests.workflow.harness import (
    OTHER_REGION,
    OTHER_REGION_ACCOUNT,
    TASKS_FUNCTION_ARN,
    Workflows,
    workflows,
)

pytestmark = [pytest.mark.workflow, pytest.mark.crash]

__all__ = ["shared_botocore_loader"]  # sessions share parsed service models (faster)

ACCOUNT, REGION = OTHER_REGION_ACCOUNT, OTHER_REGION
LAMBDA_ASYNC_ATTEMPTS = 3
CALLBACK_TIMEOUT_SECONDS = 5
# Where the consumer always answers, the wait must never expire first: the
# timeout is wall-clock time in the Step Functions engine, and a busy machine
# can take longer than a few seconds for one pump of the consumer.
ANSWERED_TIMEOUT_SECONDS = 120
# DynamoDB's reads that `is_mutating` does not know by their prefix.
READS = ("Query", "Scan", "BatchGetItem")


def writes(operation: str) -> bool:
    return is_mutating(operation) and not operation.startswith(READS)


class InjectedCut(Exception):
    """The task function failing at a cut point (not a retried error)."""


@dataclass
class CutPoint:
    """Fails the ``at``-th mutating call of the task function (0: never), once.

    ``after``: the call succeeds, then the function dies. Until the failed
    invocation returns, no further call of it reaches AWS.
    """

    at: int = 0
    after: bool = False
    seen: int = 0
    operations: list[str] = field(default_factory=list)
    operation: str | None = None
    fired: bool = False
    _dead: threading.local = field(default_factory=threading.local)

    def invocation(self, function: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
        def invoke(event: dict[str, Any]) -> Any:
            self._dead.value = False
            self._dead.action = event.get("action")
            try:
                return function(event)
            finally:
                self._dead.value = False

        return invoke

    def before(self, model: Any, **_: Any) -> None:
        if getattr(self._dead, "value", False):
            raise InjectedCut(f"invocation already dead, {model.name} never sent")
        if not writes(model.name):
            return
        self.seen += 1
        self.operations.append(f"{getattr(self._dead, 'action', None)}:{model.name}")
        if self.seen == self.at and not self.after:
            self._fire(model.name, "before")

    def after_call(self, model: Any, **_: Any) -> None:
        if self.after and writes(model.name) and self.seen == self.at and not self.fired:
            self._fire(model.name, "after")

    def _fire(self, operation: str, when: str) -> None:
        self.operation = operation
        self.fired = True
        self._dead.value = True
        raise InjectedCut(f"injected failure {when} call #{self.at} ({operation})")


class Sweep:
    """One world, its task function's sessions behind a swappable cut point."""

    def __init__(self, flows: Workflows, monkeypatch: pytest.MonkeyPatch) -> None:
        self.flows = flows
        self.cut = CutPoint()
        hook_function_sessions(flows, monkeypatch, self._install, functions=("tasks",))
        function = flows.invoke.functions[TASKS_FUNCTION_ARN]
        flows.invoke.functions[TASKS_FUNCTION_ARN] = self._invocations_of(function)
        # Invocations of the consumer-sync function that failed and were retried.
        self.consumer_retries = 0
        for stack in flows.stacks.values():
            monkeypatch.setattr(stack, "deliver", self._lambda_retries(stack))

    def _lambda_retries(self, stack: ConsumerStack) -> Callable[[], list[dict[str, Any]]]:
        """The consumer-sync function as Lambda invokes it asynchronously: an
        invocation that raises a retryable error is invoked again, twice at most
        (the handler logs "will retry" and raises for exactly this)."""

        def deliver() -> list[dict[str, Any]]:
            invoke = stack.handler()
            out: list[dict[str, Any]] = []
            for event in stack.queued():
                for attempt in range(LAMBDA_ASYNC_ATTEMPTS):
                    try:
                        out.append(invoke(event))
                        break
                    except MskPrivateLinkError as exc:
                        if not exc.retryable or attempt == LAMBDA_ASYNC_ATTEMPTS - 1:
                            raise
                        self.consumer_retries += 1
            return out

        return deliver

    # The task function's sessions call whichever cut point is current.
    def _install(self, session: Any) -> None:
        session.events.register("before-call.*.*", self._before)
        session.events.register("after-call.*.*", self._after)

    def _before(self, **kwargs: Any) -> None:
        self.cut.before(**kwargs)

    def _after(self, **kwargs: Any) -> None:
        self.cut.after_call(**kwargs)

    def _invocations_of(
        self, function: Callable[[dict[str, Any]], Any]
    ) -> Callable[[dict[str, Any]], Any]:
        def invoke(event: dict[str, Any]) -> Any:
            return self.cut.invocation(function)(event)

        return invoke

    def onboarding(self) -> dict[str, Any]:
        return self.flows.run("onboarding", self.flows.onboarding_input(ACCOUNT))

    def offboarding(self, timeout: int = CALLBACK_TIMEOUT_SECONDS) -> dict[str, Any]:
        request = {
            "clusterArn": self.flows.w.cluster_arn,
            "consumerAccountId": ACCOUNT,
            # A consumer that answers does so within one pump; one whose
            # request cannot reach it any more is not waited for an hour.
            "callbackTimeoutSeconds": timeout,
        }
        return self.flows.run("offboarding", request)

    def end_state(self) -> dict[str, Any]:
        """Everything of the consumer, on both sides, comparable between runs."""
        flows = self.flows
        ec2 = flows.w.aws.client("ec2")
        events = flows.w.aws.client("events")
        services = ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
        principals = {
            s["ServiceId"]: sorted(
                p["Principal"]
                for p in ec2.describe_vpc_endpoint_service_permissions(ServiceId=s["ServiceId"])[
                    "AllowedPrincipals"
                ]
            )
            for s in services
        }
        regions = {
            s["ServiceId"]: sorted(
                r["Region"]
                for r in s.get("SupportedRegions", [])
                if r["Region"] != flows.w.aws.region
            )
            for s in services
        }
        connections = sorted(
            (c["ServiceId"], c["VpcEndpointState"])
            for c in ec2.describe_vpc_endpoint_connections()["VpcEndpointConnections"]
            if c["VpcEndpointOwner"] == ACCOUNT
            and c["VpcEndpointState"] in ("pendingAcceptance", "pending", "available")
        )
        rules = {
            r["Name"]: sorted(
                t["Arn"]
                for t in events.list_targets_by_rule(Rule=r["Name"], EventBusName=BUS)["Targets"]
            )
            for r in events.list_rules(EventBusName=BUS)["Rules"]
            if ACCOUNT in r["Name"]
        }
        policy = events.describe_event_bus(Name=BUS).get("Policy")
        statements = sorted(
            s.get("Sid", "")
            for s in (json.loads(policy)["Statement"] if policy else [])
            if ACCOUNT in json.dumps(s)
        )
        tenant = flows.tenant(ACCOUNT)
        consumer = flows.stacks[ACCOUNT].consumer.state()
        return {
            "principals": principals,
            "regions": regions,
            "connections": connections,
            "rules": rules,
            "statements": statements,
            "tenant": None
            if tenant is None
            else (tenant.state, tenant.region, tenant.vpc_id, tenant.request_digest),
            # Endpoint and zone ids are new on every onboarding.
            "consumer_endpoints": sorted((name, vpc) for name, _, vpc in consumer["endpoints"]),
            "consumer_zones": sorted(
                (z["name"], len(z["records"]), tuple(z["vpcs"])) for z in consumer["zones"].values()
            ),
        }

    def count_cut_points(self, run: Callable[[], dict[str, Any]]) -> CutPoint:
        self.cut = CutPoint()
        result = run()
        assert result["status"] == "SUCCEEDED", result.get("cause")
        return self.cut

    def cut_at(self, at: int, after: bool, run: Callable[[], dict[str, Any]]) -> CutPoint:
        self.cut = CutPoint(at=at, after=after)
        result = run()
        assert result["status"] in ("SUCCEEDED", "FAILED"), result
        cut = self.cut
        self.cut = CutPoint()
        return cut


@pytest.fixture
def sweep(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sweep]:
    with workflows(monkeypatch, consumers=("other",)) as flows:
        yield Sweep(flows, monkeypatch)


def _expected_onboarded(sweep: Sweep, state: dict[str, Any]) -> None:
    """The clean run's end state is the one the issue describes."""
    principal = f"arn:aws:iam::{ACCOUNT}:root"
    assert state["principals"], state
    assert set(map(tuple, state["principals"].values())) == {(principal,)}, state
    assert set(map(tuple, state["regions"].values())) == {(REGION,)}, state
    assert [s for _, s in state["connections"]] == ["available"] * len(state["principals"])
    # No rule per tenant: the delivery function reads the tenant registry.
    assert state["rules"] == {}, state
    assert state["statements"] == [account_statement_id(ACCOUNT)], state
    assert state["tenant"][0] == "ACTIVE", state
    assert len(state["consumer_endpoints"]) == len(state["principals"]), state
    assert len(state["consumer_zones"]) == 1, state


def _assert_offboarded(state: dict[str, Any], where: str) -> None:
    assert all(p == [] for p in state["principals"].values()), (where, state)
    assert all(r == [] for r in state["regions"].values()), (where, state)
    assert state["connections"] == [], (where, state)
    assert state["rules"] == {}, (where, state)
    assert state["statements"] == [], (where, state)
    assert state["tenant"] is not None, where
    assert state["tenant"][0] == "OFFBOARDED", (where, state)
    assert state["consumer_endpoints"] == [], (where, state)
    assert state["consumer_zones"] == [], (where, state)


@pytest.mark.parametrize("after", [False, True], ids=["fail-before", "die-after"])
def test_onboarding_converges_from_every_cut_point(
    sweep: Sweep, after: bool, record_property: Callable[[str, object], None]
) -> None:
    clean = sweep.count_cut_points(sweep.onboarding)
    expected = sweep.end_state()
    _expected_onboarded(sweep, expected)
    cut_points = clean.seen
    record_property("cut_points", cut_points)
    record_property("operations", ",".join(clean.operations))
    assert cut_points >= 5, clean.operations
    assert sweep.offboarding(ANSWERED_TIMEOUT_SECONDS)["status"] == "SUCCEEDED"

    for at in range(1, cut_points + 1):
        cut = sweep.cut_at(at, after, sweep.onboarding)
        where = f"onboarding cut at #{at} ({cut.operation}), after={after}"
        assert cut.fired, where

        again = sweep.onboarding()

        assert again["status"] == "SUCCEEDED", (where, again.get("cause"))
        assert sweep.end_state() == expected, where
        assert sweep.offboarding(ANSWERED_TIMEOUT_SECONDS)["status"] == "SUCCEEDED", where
    record_property("consumer_retries", sweep.consumer_retries)


# The offboarding machine's RequestConsumerRemoval catches every error and
# goes on to finish the tenant (OFFBOARDED), as it must when the consumer does
# not answer. When the task itself fails before the removal request is out,
# the consumer is never asked, and offboarding again is refused (OFFBOARDED):
# the consumer's endpoints, private zone and tenancy parameter stay.
def _sweep_offboarding(
    sweep: Sweep, after: bool, record_property: Callable[[str, object], None]
) -> None:
    assert sweep.onboarding()["status"] == "SUCCEEDED"
    clean = sweep.count_cut_points(sweep.offboarding)
    _assert_offboarded(sweep.end_state(), "clean offboarding")
    assert clean.seen >= 4, clean.operations
    points = list(range(1, clean.seen + 1))
    record_property("cut_points", len(points))
    record_property("operations", ",".join(clean.operations[at - 1] for at in points))

    unconfirmed: list[str] = []
    for at in points:
        assert sweep.onboarding()["status"] == "SUCCEEDED", at
        cut = sweep.cut_at(at, after, sweep.offboarding)
        where = f"offboarding cut at #{at} ({clean.operations[at - 1]}), after={after}"
        assert cut.fired, where

        again = sweep.offboarding()

        # Where the cut run already finished the tenant, there is nothing
        # left to offboard and the request is refused as such; where it had
        # removed the tenant rule, the removal request cannot reach the
        # consumer (which already removed everything) and is not confirmed.
        error = again.get("error")
        finished = error == "OffboardingRejected" and "OFFBOARDED" in str(again.get("cause"))
        if error == "ConsumerDidNotConfirm":
            unconfirmed.append(clean.operations[at - 1])
        assert again["status"] == "SUCCEEDED" or finished or error == "ConsumerDidNotConfirm", (
            where,
            again,
        )
        _assert_offboarded(sweep.end_state(), where)
    record_property("consumer_retries", sweep.consumer_retries)
    record_property("unconfirmed_reruns", ",".join(unconfirmed))


@pytest.mark.parametrize("after", [False, True], ids=["fail-before", "die-after"])
def test_offboarding_converges_from_every_cut_point(
    sweep: Sweep, after: bool, record_property: Callable[[str, object], None]
) -> None:
    # A cut in the removal request itself (before its PutEvents) fails the
    # execution with the tenant still OFFBOARDING, so the next run asks the
    # consumer again instead of finishing without it.
    _sweep_offboarding(sweep, after, record_property)
