"""A consumer's connectivity reports on the provider, end to end on the
embedded AWS: a consumer account onboarded by the real onboarding workflow,
its real connectivity canary (tests/consumer/canary_wiring.py) reporting on
its bus, the consumer stack's forwarding rule and the provider's
ConsumerReplies rule (both patterns from the templates) carrying the report
to the real task callback handler, whose calls are held against its role as
template.yaml defines it.

A report is stored on the tenant item only when the account that put it
(EventBridge's ``account``) is the one it speaks for and an ACTIVE tenant of
that cluster from that Region and VPC; never over a report checked later or
of a newer generation; without touching the workflows' attributes; and no
report creates an item. The reports that must be refused are put by an
onboarded account on its own bus (what anyone holding that account could do;
the provider bus admits onboarded accounts only) and reach the handler
through the same rules.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from msk_privatelink.aws.event_bus import put_event
from msk_privatelink.cli.main import main
from msk_privatelink.kernel.consumer_events import (
    CONSUMER_BUS_NAME,
    CONSUMER_EVENT_SOURCE,
    ConsumerConnectivityReport,
)
from msk_privatelink.kernel.records import parse, replace
from msk_privatelink.onboarding.connectivity import stored_time
from msk_privatelink_dev.local.lambdas import FakeContext
from msk_privatelink_dev.local.workflows import drain_queue
from tests.cli.test_cli import table_rows
from tests.consumer.canary_wiring import SCHEDULED, Canary
from tests.consumer.wiring import ConsumerStack
from tests.iam.recorder import Decision, recording
from tests.integration.harness import PREFIX, TENANT_TABLE
from tests.workflow.harness import (
    OTHER_REGION_ACCOUNT,
    SAME_REGION_ACCOUNT,
    STACK,
    Workflows,
)

pytestmark = pytest.mark.workflow

TENANT = SAME_REGION_ACCOUNT
OTHER_TENANT = OTHER_REGION_ACCOUNT


@dataclass
class Provider:
    """The provider side as the tests see it: the callback rule's deliveries,
    the callback handler and the tenant items."""

    flows: Workflows
    # Every call the callback made, decided against TaskCallbackFunctionRole.
    decisions: list[Decision] = field(default_factory=list)

    def forwarded(self) -> list[dict[str, Any]]:
        """The connectivity reports the provider's ConsumerReplies rule delivered."""
        return [
            e
            for e in drain_queue(self.flows.clients, self.flows.replies_url)
            if e["detail-type"] == ConsumerConnectivityReport.detail_type
        ]

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """The real callback handler, its calls held against its role (only
        its own: the workflows and the consumers run outside the recording)."""
        with (
            recording(lambda *_: STACK) as recorder,
            contextlib.redirect_stdout(io.StringIO()),
        ):
            answer: dict[str, Any] = self.flows.callback.lambda_handler(
                event, FakeContext("task-callback")
            )
        self.decisions += recorder.decisions
        return answer

    def updates(self) -> list[str]:
        """The Sid that allowed each UpdateItem the callback made."""
        return [
            statement.sid
            for d in self.decisions
            if d.request is not None and d.request.action == "dynamodb:UpdateItem"
            for statement in d.granted_by
        ]

    def item(self, account: str, cluster_arn: str | None = None) -> dict[str, Any] | None:
        key = {
            "clusterArn": {"S": cluster_arn or self.flows.w.cluster_arn},
            "consumerAccountId": {"S": account},
        }
        found: dict[str, Any] | None = self.flows.clients.dynamodb.get_item(
            TableName=TENANT_TABLE, Key=key, ConsistentRead=True
        ).get("Item")
        return found


def onboard(flows: Workflows, account: str) -> None:
    result = flows.run("onboarding", flows.onboarding_input(account))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    tenant = flows.tenant(account)
    assert tenant is not None
    assert tenant.state == "ACTIVE"
    assert tenant.connectivity is None


@pytest.fixture
def provider(flows: Workflows) -> Provider:
    """TENANT onboarded by the onboarding workflow."""
    onboard(flows, TENANT)
    return Provider(flows)


def canary_of(stack: ConsumerStack) -> Callable[[], dict[str, Any]]:
    """The consumer's canary as its stack deploys it: one scheduled run per call."""
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    return lambda: invoke(SCHEDULED)


def put_on_own_bus(stack: ConsumerStack, report: ConsumerConnectivityReport | str) -> None:
    """What any code in the consumer account can do: put an event on its own
    bus, which the stack's rule forwards to the provider (a report, or any
    detail text)."""
    put_event(
        stack.infra().events,
        CONSUMER_BUS_NAME,
        source=CONSUMER_EVENT_SOURCE,
        detail_type=ConsumerConnectivityReport.detail_type,
        detail=report if isinstance(report, str) else report.to_detail_json(),
        resource=stack.w.cluster_arn,
    )


def report_of(event: dict[str, Any]) -> ConsumerConnectivityReport:
    return parse(ConsumerConnectivityReport, event["detail"])


def later(report: ConsumerConnectivityReport, seconds: int) -> str:
    return (datetime.fromisoformat(report.checked_at) + timedelta(seconds=seconds)).isoformat()


def as_stored(checked_at: str) -> str:
    return stored_time(checked_at, datetime.fromisoformat(checked_at))


def next_second() -> None:
    """The canary dates a report to the second: the next run must be dated later."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.02)


def without_connectivity(item: dict[str, Any] | None) -> dict[str, Any]:
    assert item is not None
    return {k: v for k, v in item.items() if k != "connectivity"}


def test_the_canarys_reports_are_stored_on_the_tenant_and_shown_by_status(
    provider: Provider, capsys: pytest.CaptureFixture[str]
) -> None:
    flows = provider.flows
    run = canary_of(flows.stacks[TENANT])
    workflow_item = provider.item(TENANT)
    assert workflow_item is not None

    # The first run starts the prober and reports `unchecked`.
    assert run() == {"clusters": {flows.w.cluster_arn: "unchecked"}}
    [starting] = provider.forwarded()
    assert starting["account"] == TENANT  # EventBridge's, kept across the forwarding
    assert provider.handle(starting) == {
        "verdict": "recorded",
        "why": f"unchecked at generation {report_of(starting).generation}",
    }
    next_second()
    assert run() == {"clusters": {flows.w.cluster_arn: "unreachable"}}
    [probed] = provider.forwarded()
    assert provider.handle(probed)["verdict"] == "recorded"

    report = report_of(probed)
    tenant = flows.tenant(TENANT)
    assert tenant is not None
    stored = tenant.connectivity
    assert stored is not None
    assert (stored.state, stored.generation, stored.probes, stored.failed) == (
        "unreachable",
        report.generation,
        report.probes,
        report.failed,
    )
    assert stored.probes == len(flows.w.broker_ips())  # one name and port per broker
    assert stored.checked_at == as_stored(report.checked_at)
    assert [(f.broker, f.scheme, f.port, f.step, f.detail) for f in stored.failures] == [
        (f.broker, f.scheme, f.port, f.step, f.detail) for f in report.failures
    ]
    assert {f.step for f in stored.failures} == {"dns"}
    # The workflows' attributes (state, updatedAt, tokenHash, request, ...) as they were.
    assert without_connectivity(provider.item(TENANT)) == workflow_item
    assert tenant.updated_at == workflow_item["updatedAt"]["S"]

    # Delivered again, or out of order: the stored report stays.
    before = provider.item(TENANT)
    assert provider.handle(starting)["verdict"] == "outdated"
    assert provider.handle(probed)["verdict"] == "outdated"
    assert provider.item(TENANT) == before

    # Every call the callback made is allowed by its role; the writes by the
    # one statement meant for them.
    assert [d.describe() for d in provider.decisions if not d.allowed] == []
    assert provider.updates() == ["RecordConnectivityReports"] * 4

    # `status` with the tenant table: the consumers table and the JSON document.
    status = ("status", "--cluster-arn", flows.w.cluster_arn, "--parameter-prefix", PREFIX)
    capsys.readouterr()
    assert main([*status, "--tenant-table", TENANT_TABLE]) == 0
    out = capsys.readouterr().out
    [row] = table_rows(out.split("\nConsumers:\n", 1)[1])
    first = report.failures[0]
    assert row[:7] == [
        TENANT,
        tenant.region,
        tenant.vpc_id,
        "ACTIVE",
        "unreachable",
        f"{stored.checked_at[:10]} {stored.checked_at[11:19]} UTC",
        f"{report.failed}/{report.probes}",
    ]
    assert row[7].startswith(f"broker {first.broker} {first.scheme}:{first.port} at dns")
    assert main([*status, "--tenant-table", TENANT_TABLE, "--output", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["consumers"] == [
        {
            "account_id": TENANT,
            "region": tenant.region,
            "vpc_id": tenant.vpc_id,
            "state": "ACTIVE",
            "connectivity": stored.to_document(),
        }
    ]


def test_a_report_of_an_older_generation_is_not_stored_even_if_checked_later(
    provider: Provider,
) -> None:
    flows = provider.flows
    stack = flows.stacks[TENANT]
    canary_of(stack)()
    [event] = provider.forwarded()
    report = report_of(event)
    assert provider.handle(event)["verdict"] == "recorded"
    newer = replace(report, generation=report.generation + 1, checked_at=later(report, 1))
    put_on_own_bus(stack, newer)
    [forwarded] = provider.forwarded()
    assert provider.handle(forwarded)["verdict"] == "recorded"
    before = provider.item(TENANT)

    put_on_own_bus(stack, replace(report, checked_at=later(report, 2)))
    [forwarded] = provider.forwarded()
    answer = provider.handle(forwarded)

    assert answer["verdict"] == "outdated", answer
    assert answer["why"] == (
        f"report checked at {as_stored(later(report, 2))} for generation {report.generation}; "
        f"stored: checked at {as_stored(newer.checked_at)} for generation {newer.generation}"
    )
    assert provider.item(TENANT) == before


def test_reports_not_from_the_tenant_itself_are_refused_and_write_nothing(
    provider: Provider,
) -> None:
    flows = provider.flows
    # Another tenant: an account the provider bus admits.
    onboard(flows, OTHER_TENANT)
    canary_of(flows.stacks[TENANT])()
    [event] = provider.forwarded()
    report = report_of(event)
    items = {account: provider.item(account) for account in (TENANT, OTHER_TENANT)}
    other_cluster = flows.w.cluster_arn.replace(":cluster/", ":cluster/payments-", 1)
    tenant_stack, other_stack = flows.stacks[TENANT], flows.stacks[OTHER_TENANT]
    other = other_stack.consumer

    attempts: list[tuple[ConsumerStack, ConsumerConnectivityReport | str, str]] = [
        # Another tenant speaking for this one, or for itself with this one's network.
        (other_stack, report, f"put by account '{OTHER_TENANT}' on behalf of {TENANT}"),
        (
            other_stack,
            replace(report, consumer_account_id=OTHER_TENANT),
            f"account {OTHER_TENANT} of {flows.w.cluster_arn} is a tenant from {other.region} "
            f"{other.settings.vpc_id}, not {report.consumer_region} {report.vpc_id}",
        ),
        # The tenant, for a cluster it is not a tenant of.
        (
            tenant_stack,
            replace(report, cluster_arn=other_cluster),
            f"account {TENANT} of {other_cluster} is not a tenant",
        ),
        # The tenant, from a VPC it was not onboarded from.
        (
            tenant_stack,
            replace(report, vpc_id="vpc-0123456789abcdef0"),
            f"not {report.consumer_region} vpc-0123456789abcdef0",
        ),
        # Dated far ahead: stored, it would hold back every later report.
        (
            tenant_stack,
            replace(report, checked_at=later(report, 3600)),
            "ahead of the provider's clock",
        ),
        # Not a report: a field too many, counts that contradict each other.
        (
            tenant_stack,
            json.dumps({**json.loads(report.to_detail_json()), "note": "x"}),
            "unknown field `note`",
        ),
        (
            tenant_stack,
            json.dumps({**json.loads(report.to_detail_json()), "failed": report.probes + 1}),
            "malformed ConsumerConnectivityReport",
        ),
    ]
    for stack, attempt, why in attempts:
        put_on_own_bus(stack, attempt)
        [forwarded] = provider.forwarded()
        assert forwarded["account"] == stack.consumer.account_id
        answer = provider.handle(forwarded)
        assert answer["verdict"] == "ignored", (why, answer)
        assert why in answer["why"], answer

    assert provider.updates() == []
    assert {account: provider.item(account) for account in items} == items
    assert provider.item(TENANT, other_cluster) is None
    # The tenant's own report is still stored as usual.
    assert provider.handle(event)["verdict"] == "recorded"


def test_an_offboarded_tenants_report_is_refused(provider: Provider) -> None:
    flows = provider.flows
    canary_of(flows.stacks[TENANT])()
    [event] = provider.forwarded()
    result = flows.run(
        "offboarding", {"clusterArn": flows.w.cluster_arn, "consumerAccountId": TENANT}
    )
    assert result["status"] == "SUCCEEDED", result.get("cause")
    before = provider.item(TENANT)

    answer = provider.handle(event)

    assert answer == {
        "verdict": "ignored",
        "why": f"connectivity report refused: account {TENANT} of {flows.w.cluster_arn} is "
        "OFFBOARDED",
    }
    assert provider.updates() == []
    assert provider.item(TENANT) == before
