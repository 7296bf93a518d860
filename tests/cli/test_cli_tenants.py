"""The CLI plans and applies what the stack's reconciler applies: the
configuration merged with the cluster's admitted tenants. Without the tenant
table, an apply of the stack's configuration would revoke every onboarded
consumer, so it is refused unless --no-tenants says that is meant."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.consumer_events import (
    BrokerConnectivity,
    ConnectivityState,
    ConsumerConnectivityReport,
)
from msk_privatelink.onboarding.aws.tenants import TenantRegistry, create_tenant_table
from msk_privatelink.onboarding.connectivity import summarise
from tests.cli.test_cli import Run, table_rows
from tests.integration.harness import PREFIX, CallCounter, World, world

pytestmark = pytest.mark.integration

TENANT_TABLE = "msk-privatelink-tenants"
CONSUMER_ACCOUNT = "111122223333"
PRINCIPAL = f"arn:aws:iam::{CONSUMER_ACCOUNT}:root"


@pytest.fixture
def w(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The cluster served to an ACTIVE tenant, as after its onboarding."""
    monkeypatch.delenv("TENANT_TABLE_NAME", raising=False)
    with world() as created:
        clients = AwsClients(created.aws.session(), region=created.aws.region)
        create_tenant_table(clients.dynamodb, TENANT_TABLE)
        registry = TenantRegistry(clients.dynamodb, TENANT_TABLE)
        registry.register(
            cluster_arn=created.cluster_arn,
            account_id=CONSUMER_ACCOUNT,
            region=created.aws.region,
            vpc_id="vpc-0123456789abcdef0",
            consumer_bus_arn=(
                f"arn:aws:events:{created.aws.region}:{CONSUMER_ACCOUNT}:event-bus/b"
            ),
            request_digest="digest",
            request="{}",
        )
        registry.transition(
            created.cluster_arn, CONSUMER_ACCOUNT, allowed_from=frozenset({"PENDING"}), to="ACTIVE"
        )
        yield created


def allowed(w: World) -> list[set[str]]:
    ec2 = w.aws.client("ec2")
    return [
        {
            p["Principal"]
            for p in ec2.describe_vpc_endpoint_service_permissions(ServiceId=s["ServiceId"])[
                "AllowedPrincipals"
            ]
        }
        for s in ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
    ]


def stack_config(*extra: str) -> tuple[str, ...]:
    return ("--parameter-prefix", PREFIX, *extra)


def test_apply_and_plan_with_the_tenant_table_keep_the_active_tenant(
    w: World, cli: Callable[..., Run]
) -> None:
    arn = w.cluster_arn

    applied = cli("apply", "--cluster-arn", arn, *stack_config("--tenant-table", TENANT_TABLE))

    assert applied.code == 0, applied.err
    services = allowed(w)
    assert len(services) == 3
    assert all(PRINCIPAL in principals for principals in services)
    # The same plan from the table named by the environment, as in the stack's Lambdas.
    for extra, env in ((("--tenant-table", TENANT_TABLE), None), ((), TENANT_TABLE)):
        with pytest.MonkeyPatch.context() as mp:
            if env:
                mp.setenv("TENANT_TABLE_NAME", env)
            plan = cli("plan", "--cluster-arn", arn, *stack_config(*extra))
        assert plan.code == 0, plan.err
        assert plan.err == ""
        assert "revoke" not in plan.out
        assert "No changes" in plan.out, plan.out
    # What the table prevents: the configuration alone revokes the tenant everywhere.
    alone = cli("plan", "--cluster-arn", arn, *stack_config("--no-tenants"))
    assert alone.code == 0, alone.err
    revokes = [r for r in table_rows(alone.out) if r[1] == "revoke" or PRINCIPAL in r[-1]]
    assert len(revokes) == 3, alone.out


def test_apply_of_the_stack_configuration_without_tenants_is_refused_with_no_write(
    w: World, cli: Callable[..., Run], calls: CallCounter
) -> None:
    arn = w.cluster_arn
    assert (
        cli("apply", "--cluster-arn", arn, *stack_config("--tenant-table", TENANT_TABLE)).code == 0
    )
    before = allowed(w)
    calls.reset()

    refused = cli("apply", "--cluster-arn", arn, *stack_config())

    assert refused.code == 1
    assert refused.err.startswith("error: refusing to apply the stack's configuration")
    assert "--tenant-table" in refused.err
    assert "--no-tenants" in refused.err
    assert calls.writes == Counter(), dict(calls.writes)
    assert allowed(w) == before
    # A plan without the table still shows, with a warning on what it leaves out.
    plan = cli("plan", "--cluster-arn", arn, *stack_config())
    assert plan.code == 0
    assert plan.err.startswith("warning: no tenant table")
    # Explicitly without tenants: applied, and the tenant is revoked.
    alone = cli("apply", "--cluster-arn", arn, *stack_config("--no-tenants"))
    # Revoking a tenant is a disruption: refused without a terminal or --auto-approve.
    assert alone.code == 1
    assert "1 principal(s) lose access" in alone.err
    assert "--auto-approve" in alone.err
    assert allowed(w) == before
    alone = cli("apply", "--cluster-arn", arn, *stack_config("--no-tenants", "--auto-approve"))
    assert alone.code == 0, alone.err
    assert not any(PRINCIPAL in principals for principals in allowed(w))


def test_tenant_table_and_no_tenants_exclude_each_other(cli: Callable[..., Run]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("apply", "--cluster-arn", "arn", "--tenant-table", "t", "--no-tenants")
    assert exit_info.value.code == 2


def consumers_table(out: str) -> list[list[str]]:
    return table_rows(out.split("\nConsumers:\n", 1)[1])


def store_report(w: World, report: ConsumerConnectivityReport) -> None:
    """What the task callback stores for an accepted report."""
    registry = TenantRegistry(w.aws.client("dynamodb"), TENANT_TABLE)
    tenant = registry.require(w.cluster_arn, CONSUMER_ACCOUNT)
    assert registry.record_connectivity(
        w.cluster_arn,
        CONSUMER_ACCOUNT,
        region=tenant.region,
        vpc_id=tenant.vpc_id,
        connectivity=summarise(report, datetime.now(UTC)),
    )


def test_status_shows_each_consumer_and_its_last_connectivity_report(
    w: World, cli: Callable[..., Run]
) -> None:
    status = ("status", "--cluster-arn", w.cluster_arn, *stack_config())
    # Without the table: no consumers section, and null in the document.
    alone = cli(*status, "--no-tenants", "--output", "json")
    assert alone.code == 0, alone.err
    assert json.loads(alone.out)["consumers"] is None
    assert "Consumers" not in cli(*status, "--no-tenants").out

    # A tenant without a report yet.
    run = cli(*status, "--tenant-table", TENANT_TABLE)
    assert run.code == 0, run.err
    assert consumers_table(run.out) == [
        [
            CONSUMER_ACCOUNT,
            w.aws.region,
            "vpc-0123456789abcdef0",
            "ACTIVE",
            "no report",
            "-",
            "-",
            "-",
        ]
    ]

    failures = tuple(
        BrokerConnectivity(
            broker=str(b), scheme="sasl_iam", port=9098, step="tcp", detail="x" * 200
        )
        for b in (2, 3, 1, 4, 5, 6, 7)
    )
    report = ConsumerConnectivityReport(
        cluster_arn=w.cluster_arn,
        consumer_account_id=CONSUMER_ACCOUNT,
        consumer_region=w.aws.region,
        vpc_id="vpc-0123456789abcdef0",
        generation=4,
        checked_at="2026-12-05T19:10:00+01:00",
        state="unreachable",
        probes=9,
        failed=7,
        failures=failures,
    )
    store_report(w, report)

    table = cli(*status, "--tenant-table", TENANT_TABLE)
    document = json.loads(cli(*status, "--tenant-table", TENANT_TABLE, "--output", "json").out)

    [row] = consumers_table(table.out)
    assert row[3:7] == ["ACTIVE", "unreachable", "2026-12-05 18:10:00 UTC", "7/9"]
    # The first failure the report lists, cut to one line.
    assert row[7].startswith("broker 2 sasl_iam:9098 at tcp: xxx")
    assert row[7].endswith("...")
    assert len(row[7]) == 80
    [consumer] = document["consumers"]
    assert consumer == {
        "account_id": CONSUMER_ACCOUNT,
        "region": w.aws.region,
        "vpc_id": "vpc-0123456789abcdef0",
        "state": "ACTIVE",
        "connectivity": {
            "state": "unreachable",
            "generation": 4,
            "checkedAt": "2026-12-05T18:10:00.000+00:00",
            "probes": 9,
            "failed": 7,
            "pending": [],
            # The first five, in the report's order.
            "failures": [
                {
                    "broker": f.broker,
                    "scheme": "sasl_iam",
                    "port": 9098,
                    "step": "tcp",
                    "detail": f.detail,
                }
                for f in failures[:5]
            ],
            "problems": [],
        },
    }


@pytest.mark.parametrize(
    ("state", "extra", "shown"),
    [
        ("pending", {"pending": ("1", "2")}, "pending: broker 1, 2"),
        ("unchecked", {"problems": ("prober p is starting", "second")}, "prober p is starting"),
        ("reachable", {"probes": 3}, "-"),
    ],
)
def test_status_names_what_to_look_at_first_for_every_state(
    w: World, cli: Callable[..., Run], state: ConnectivityState, extra: dict[str, Any], shown: str
) -> None:
    store_report(
        w,
        ConsumerConnectivityReport(
            cluster_arn=w.cluster_arn,
            consumer_account_id=CONSUMER_ACCOUNT,
            consumer_region=w.aws.region,
            vpc_id="vpc-0123456789abcdef0",
            generation=2,
            checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
            state=state,
            failed=0,
            **{"probes": 0, **extra},
        ),
    )

    run = cli(
        "status", "--cluster-arn", w.cluster_arn, *stack_config("--tenant-table", TENANT_TABLE)
    )

    assert run.code == 0, run.err
    [row] = consumers_table(run.out)
    assert (row[4], row[6], row[7]) == (state, f"0/{extra.get('probes', 0)}", shown)
