"""`msk-privatelink migrate-subscriptions` lists, then moves, the per-tenant
rules and statements earlier versions left on the provider bus."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from msk_privatelink.kernel.naming import ownership_tags
from msk_privatelink.onboarding.aws.subscriptions import (
    TAG_CONSUMER_ACCOUNT,
    account_statement_id,
    legacy_rule_name,
    legacy_statement_id,
)
from tests.cli.test_cli import Run
from tests.cli.test_cli_plan_impacts import documented_fields
from tests.integration.harness import BUS, STACK, World, world

pytestmark = pytest.mark.integration

ACCOUNTS = ("111122223333", "444455556666")


@pytest.fixture
def w() -> Iterator[World]:
    with world() as created:
        yield created


def legacy(w: World, account: str) -> None:
    events = w.aws.client("events")
    name = legacy_rule_name(w.cluster_arn, account, "eu-west-1")
    tags = {**ownership_tags(w.cluster_arn), TAG_CONSUMER_ACCOUNT: account}
    events.put_rule(
        Name=name,
        EventBusName=BUS,
        EventPattern=json.dumps({"detail": {"clusterArn": [w.cluster_arn]}}),
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    events.put_targets(
        Rule=name,
        EventBusName=BUS,
        Targets=[
            {
                "Id": "consumer-bus",
                "Arn": f"arn:aws:events:eu-west-1:{account}:event-bus/msk-privatelink-consumer",
            }
        ],
    )
    events.put_permission(
        EventBusName=BUS,
        StatementId=legacy_statement_id(w.cluster_arn, account),
        Action="events:PutEvents",
        Principal=account,
    )


def test_migration_lists_first_then_moves_every_tenant(w: World, cli: Callable[..., Run]) -> None:
    for account in ACCOUNTS:
        legacy(w, account)
    events = w.aws.client("events")

    as_json = cli(
        "migrate-subscriptions",
        "--cluster-arn",
        w.cluster_arn,
        "--stack-name",
        STACK,
        "--output",
        "json",
    )
    listing = json.loads(as_json.out)
    assert listing["migrated"] is False
    assert sorted(t["account"] for t in listing["tenants"]) == sorted(ACCOUNTS)
    listed = cli("migrate-subscriptions", "--cluster-arn", w.cluster_arn, "--stack-name", STACK)
    assert listed.code == 0, listed.err
    assert all(f"{a} eu-west-1" in listed.out for a in ACCOUNTS), listed.out
    assert "--yes" in listed.out
    assert len(events.list_rules(EventBusName=BUS, NamePrefix="mpl-")["Rules"]) == 2

    moved = cli(
        "migrate-subscriptions",
        "--cluster-arn",
        w.cluster_arn,
        "--stack-name",
        STACK,
        "--yes",
        "--output",
        "json",
    )
    assert moved.code == 0, moved.err
    report = json.loads(moved.out)
    # Both documents together have exactly the fields docs/cli.md lists.
    assert set(listing) | set(report) == documented_fields("migrate-subscriptions")
    assert report["migrated"] is True
    assert sorted(report["accountsAdmitted"]) == sorted(ACCOUNTS)
    assert len(report["rulesRemoved"]) == 2
    assert events.list_rules(EventBusName=BUS, NamePrefix="mpl-")["Rules"] == []
    policy = json.loads(events.describe_event_bus(Name=BUS)["Policy"])
    assert {s["Sid"] for s in policy["Statement"]} == {account_statement_id(a) for a in ACCOUNTS}

    again = cli("migrate-subscriptions", "--cluster-arn", w.cluster_arn, "--stack-name", STACK)
    assert "No earlier subscriptions" in again.out


def test_a_malformed_organization_id_is_refused_before_anything_is_read(
    w: World, cli: Callable[..., Run]
) -> None:
    run = cli(
        "migrate-subscriptions",
        "--cluster-arn",
        w.cluster_arn,
        "--organization-id",
        "org-1",
        "--yes",
    )
    assert run.code == 1
    assert "not an o-... id" in run.err
