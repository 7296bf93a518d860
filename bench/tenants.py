"""Tenants at scale: what grows with consumer accounts on the provider side.

One provider stack and cluster on the embedded AWS (the demo's set-up: the
template's functions and state machines, the real handlers). Tenants are
added step by step up to each count: the first ``WORKFLOW_TENANTS`` through
the real onboarding workflow, each with its own consumer account and stack;
the rest registered directly (a tenant item and a consumer bus admitting the
provider, as an onboarding would leave them). At each count:

- rules on the provider bus, and the bus policy's size with the
  consumers' organization admitted (the stack's ConsumerOrganizationId) and,
  for comparison, with one statement per account (measured on a separate
  bus; EventBridge's quota is 10,240 characters by default, adjustable);
- the provider's AWS calls for one scale-out (3 brokers more): the
  reconciler's, then the delivery function's, then the task callback's
  acceptance of the connections the consumers' stacks report;
- the provider's AWS calls per workflow onboarding of that step.

Calls are counted per function (the handler running when boto3 made them),
exactly; nothing here is timed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import botocore.handlers

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.consumer_events import consumer_bus_arn
from msk_privatelink.kernel.quotas import BY_KEY
from msk_privatelink.onboarding.aws.subscriptions import Subscriptions
from msk_privatelink_dev.demo.common import BUS, load_event
from msk_privatelink_dev.demo.onboarding import OnboardingAct
from msk_privatelink_dev.demo.story import DemoRun
from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.local.consumers import (
    account_session,
    add_consumer_account,
    create_consumer_bus,
)
from msk_privatelink_dev.local.lambdas import RUNNING_FUNCTION, FakeContext, environment
from msk_privatelink_dev.local.workflows import WORKFLOW_MOTO_CONFIG, drain_queue, keep_sender

TENANT_COUNTS: tuple[int, ...] = (10, 100, 1000)
QUICK_TENANT_COUNTS: tuple[int, ...] = (10,)
WORKFLOW_TENANTS = 100
ORGANIZATION_ID = "o-a1b2c3d4e5"
PROVIDER_FUNCTIONS = ("onboarding_tasks", "task_callback", "consumer_delivery")
SCALE_STEP = 3
# The reconciler's calls that concern tenants: reading them, and granting
# their principals on the new endpoint services (with the digest tag).
TENANT_OPERATIONS = (
    "Query",
    "DescribeVpcEndpointServicePermissions",
    "ModifyVpcEndpointServicePermissions",
    "CreateTags",
)


class FunctionCalls:
    """AWS calls by (running function, operation), from every session made
    while installed (botocore copies its built-in handlers into each new
    session)."""

    EVENT = "before-parameter-build.*.*"

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[(RUNNING_FUNCTION.get() or "-", model.name)] += 1

    @contextlib.contextmanager
    def installed(self) -> Iterator[FunctionCalls]:
        entry = (self.EVENT, self)
        botocore.handlers.BUILTIN_HANDLERS.append(entry)
        try:
            yield self
        finally:
            botocore.handlers.BUILTIN_HANDLERS.remove(entry)

    def take(self) -> Counter[tuple[str, str]]:
        taken = Counter(self.calls)
        self.calls.clear()
        return taken


def by_operation(calls: Counter[tuple[str, str]], *functions: str) -> Counter[str]:
    return Counter({op: n for (fn, op), n in calls.items() if fn in functions})


@dataclass(frozen=True)
class TenantRow:
    tenants: int
    through_workflow: int
    provider_rules: int
    policy_chars_organization: int
    policy_chars_per_account: int
    statement_chars: int
    brokers: tuple[int, int]
    reconcile_calls: Counter[str]
    delivery_calls: Counter[str]
    acceptance_calls: Counter[str]
    onboardings: int
    onboarding_calls: Counter[str]

    @property
    def reconcile_tenant_calls(self) -> int:
        return sum(self.reconcile_calls[op] for op in TENANT_OPERATIONS)

    @property
    def per_onboarding(self) -> float:
        return sum(self.onboarding_calls.values()) / self.onboardings if self.onboardings else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenants": self.tenants,
            "through_workflow": self.through_workflow,
            "provider_rules": self.provider_rules,
            "policy_chars_organization": self.policy_chars_organization,
            "policy_chars_per_account": self.policy_chars_per_account,
            "statement_chars": self.statement_chars,
            "policy_quota": BY_KEY["bus_policy_size"].default,
            "brokers": list(self.brokers),
            "scale_out_reconciler_tenant_calls": self.reconcile_tenant_calls,
            "scale_out_calls": {
                "reconciler": dict(sorted(self.reconcile_calls.items())),
                "consumer_delivery": dict(sorted(self.delivery_calls.items())),
                "task_callback": dict(sorted(self.acceptance_calls.items())),
            },
            "onboardings_measured": self.onboardings,
            "provider_calls_per_onboarding": round(self.per_onboarding, 1),
        }


class TenantBench:
    def __init__(
        self,
        aws: EmbeddedAws,
        counter: FunctionCalls,
        progress: Callable[[str], None],
        workflow_tenants: int,
    ) -> None:
        self.workflow_tenants = workflow_tenants
        self.aws = aws
        self.counter = counter
        self.progress = progress
        self.run = DemoRun(aws, lambda _: None)
        self.run.setup()
        self.run.react(self.run.per_broker, "initial sweep", "scheduled-reconcile.json")
        self.act = OnboardingAct(self.run)
        self.act.task_env = {**self.act.task_env, "CONSUMER_ORGANIZATION_ID": ORGANIZATION_ID}
        self.brokers = 3
        self.tenants = 0
        self.through_workflow = 0
        # A bus named as a stack called msk-privatelink names its bus: the
        # statements name the bus, so their length depends on it.
        self.scratch = "msk-privatelink-msk-privatelink"
        self.statement_chars = 0
        aws.client("events").create_event_bus(Name=self.scratch)

    def onboard(self, index: int) -> None:
        account = f"{300000000000 + index}"
        region = self.aws.region
        consumer = add_consumer_account(self.aws, account, region=region)
        consumer.deploy_stack(self.act.bus_arn)
        self.act.consumers[account] = consumer
        self.act.execute("onboarding", self.act.onboarding_input(consumer))

    def register(self, index: int) -> None:
        account = f"{300000000000 + index}"
        credentials = self.aws.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/msk-privatelink-consumer",
            RoleSessionName="consumer",
        )["Credentials"]
        session = account_session(
            {k: str(credentials[k]) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")},
            self.aws.region,
        )
        create_consumer_bus(AwsClients(session, region=self.aws.region), self.aws.account_id)
        tenants = self.run.tenants
        tenants.register(
            cluster_arn=self.run.arn,
            account_id=account,
            region=self.aws.region,
            vpc_id="vpc-0123456789abcdef0",
            consumer_bus_arn=consumer_bus_arn(account, self.aws.region),
            request_digest=f"direct-{account}",
            request="{}",
        )
        tenants.transition(self.run.arn, account, allowed_from=frozenset({"PENDING"}), to="ACTIVE")

    def grow_to(self, count: int) -> tuple[int, Counter[str]]:
        """Add tenants up to ``count``; returns the workflow onboardings of
        this step and their provider calls."""
        self.counter.take()
        onboarded = 0
        calls: Counter[str] = Counter()
        while self.tenants < count:
            if self.through_workflow < self.workflow_tenants:
                self.onboard(self.tenants)
                self.through_workflow += 1
                onboarded += 1
                calls += by_operation(self.counter.take(), *PROVIDER_FUNCTIONS)
            else:
                self.register(self.tenants)
            self.tenants += 1
            if self.tenants % 50 == 0:
                self.progress(f"tenants: {self.tenants} of {count}")
        # Directly registered tenants are allowed by the next reconcile, as
        # the onboarding's allow step would: converge before measuring.
        self.run.functions.route(load_event("scheduled-reconcile.json", self.run.arn))
        self.run.drain()
        self.pump_consumers()
        self.counter.take()
        return onboarded, calls

    def pump_consumers(self) -> None:
        """Deliver the provider's events, let the consumer stacks follow and
        the callback handle their reports."""
        self.act.delivery.run()
        for consumer in self.act.consumers.values():
            consumer.deliver()
        for event in drain_queue(self.act.clients, self.act.deployment.replies_url):
            self.act.callback.lambda_handler(event, FakeContext("task-callback"))

    def scale_out(self) -> tuple[Counter[str], Counter[str], Counter[str]]:
        """3 -> 6 brokers: the calls of the reconciler (router included),
        the delivery function and the callback."""
        self.brokers += SCALE_STEP
        self.run.update_broker_count(self.run.arn, self.brokers)
        self.counter.take()
        self.run.functions.route(
            load_event(
                "kafka-update-broker-count.json",
                self.run.arn,
                targetNumberOfBrokerNodes=self.brokers,
            )
        )
        self.run.drain()
        reconcile = by_operation(self.counter.take(), "reconciler", "event_router")
        self.act.delivery.run()
        delivery = by_operation(self.counter.take(), "consumer_delivery")
        for consumer in self.act.consumers.values():
            consumer.deliver()
        self.counter.take()
        for event in drain_queue(self.act.clients, self.act.deployment.replies_url):
            self.act.callback.lambda_handler(event, FakeContext("task-callback"))
        acceptance = by_operation(self.counter.take(), "task_callback")
        return reconcile, delivery, acceptance

    def scale_in(self) -> None:
        """Back to 3 brokers, so every count measures the same scale-out: the
        removed brokers' services go once the consumers have let go of them."""
        self.brokers -= SCALE_STEP
        self.run.update_broker_count(self.run.arn, self.brokers)
        for _ in range(6):
            self.run.functions.route(load_event("scheduled-reconcile.json", self.run.arn))
            self.run.drain()
            self.pump_consumers()
            if self.run.assess(self.run.arn).plan.is_empty:
                self.counter.take()
                return
        raise RuntimeError("the scale-in did not converge")

    def policy_sizes(self) -> tuple[int, int]:
        events = self.aws.client("events")
        organization = len(events.describe_event_bus(Name=BUS).get("Policy") or "")
        per_account = Subscriptions(events, self.scratch)
        admitted = {s.removeprefix("mpl-account-") for s in per_account.statement_ids()}
        for index in range(self.tenants):
            account = f"{300000000000 + index}"
            if account not in admitted:
                before = per_account.policy_size()
                per_account.admit(account)
                self.statement_chars = per_account.policy_size() - before
        return organization, per_account.policy_size()

    def row(self, count: int) -> TenantRow:
        onboarded, onboarding_calls = self.grow_to(count)
        before = self.brokers
        reconcile, delivery, acceptance = self.scale_out()
        after = self.brokers
        self.scale_in()
        organization, per_account = self.policy_sizes()
        rules = len(self.aws.client("events").list_rules(EventBusName=BUS)["Rules"])
        return TenantRow(
            tenants=count,
            through_workflow=self.through_workflow,
            provider_rules=rules,
            policy_chars_organization=organization,
            policy_chars_per_account=per_account,
            statement_chars=self.statement_chars,
            brokers=(before, after),
            reconcile_calls=reconcile,
            delivery_calls=delivery,
            acceptance_calls=acceptance,
            onboardings=onboarded,
            onboarding_calls=onboarding_calls,
        )


def measure(
    counts: Sequence[int],
    progress: Callable[[str], None],
    workflow_tenants: int = WORKFLOW_TENANTS,
) -> list[TenantRow]:
    """One provider, tenants grown through ``counts`` (ascending)."""
    engine_log = logging.getLogger("moto.stepfunctions")
    quiet = logging.NullHandler()
    engine_log.addHandler(quiet)
    rows: list[TenantRow] = []
    counter = FunctionCalls()
    try:
        with (
            # The handlers' log lines and metrics are not the report.
            contextlib.redirect_stdout(io.StringIO()),
            warnings.catch_warnings(),
            counter.installed(),
            EmbeddedAws(moto_config=WORKFLOW_MOTO_CONFIG) as aws,
            keep_sender(),
        ):
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            bench = TenantBench(aws, counter, progress, workflow_tenants)
            with environment(bench.act.task_env), bench.act.invoke.installed():
                bench.act.setup()
                bench.act.consumers.clear()  # the demo's two accounts are not tenants here
                # A first scale-out and in, so every row starts from the same state.
                bench.scale_out()
                bench.scale_in()
                for count in sorted(counts):
                    progress(f"tenants: growing to {count}")
                    rows.append(bench.row(count))
    finally:
        engine_log.removeHandler(quiet)
    return rows


def render(rows: Sequence[TenantRow]) -> list[str]:
    quota = BY_KEY["bus_policy_size"].default
    # Chars one more account's statement adds (the bus ARN is in it).
    workflow = max((r.through_workflow for r in rows), default=0)
    lines = [
        "## Tenants: what grows with consumer accounts (provider side)",
        "",
        f"One cluster; the first {workflow} tenants onboarded through the real "
        "workflow (each with its own consumer account and stack), the rest registered "
        "directly. Each count measures the same scale-out (3 -> 6 brokers, scaled "
        "back in afterwards). Calls are exact counts per function.",
        "",
        "| tenants | through the workflow | rules on the provider bus | bus policy, organization "
        "(chars) | bus policy, one statement per account (chars) | brokers | reconciler calls "
        "for the scale-out (of which for tenants) | delivery calls (PutEvents) "
        "| acceptance calls | provider calls per onboarding |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        over = " (over the quota)" if r.policy_chars_per_account > quota else ""
        lines.append(
            f"| {r.tenants:,} | {r.through_workflow} | {r.provider_rules} | "
            f"{r.policy_chars_organization:,} | {r.policy_chars_per_account:,}{over} | "
            f"{r.brokers[0]} -> {r.brokers[1]} | {sum(r.reconcile_calls.values())} "
            f"({r.reconcile_tenant_calls}) | "
            f"{sum(r.delivery_calls.values())} ({r.delivery_calls.get('PutEvents', 0)}) | "
            f"{sum(r.acceptance_calls.values())} | "
            f"{f'{r.per_onboarding:.1f}' if r.onboardings else '-'} |"
        )
    lines += [
        "",
        f"The event bus policy quota is {quota:,} characters (adjustable): with one "
        "statement per account it is full at about "
        f"{quota // max(1, rows[-1].statement_chars if rows else 1)} accounts, so a "
        "platform with more consumer accounts deploys with ConsumerOrganizationId. "
        "The delivery function makes one PutEvents call per ten tenants of the "
        "cluster; acceptance calls are the callback accepting the connections each "
        "onboarded consumer's stack reports for the new brokers (per tenant by "
        "nature: each tenant has its own endpoints). The reconciler's tenant calls "
        "are one Query of the tenant table and one grant per new endpoint service "
        f"({', '.join(TENANT_OPERATIONS)}); its other calls read and build the NLB "
        "layer and vary with what a run finds, not with tenants.",
    ]
    return lines


def to_json(rows: Sequence[TenantRow]) -> str:
    return json.dumps([r.to_dict() for r in rows], indent=2)
