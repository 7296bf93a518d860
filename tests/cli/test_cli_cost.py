"""`msk-privatelink cost` as a user runs it: from figures, with a price file,
and from a cluster on the embedded AWS (its configuration file, or the
stack's parameter with the tenant table)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.cli.cost import COMMAND
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.onboarding.aws.tenants import TenantRegistry, create_tenant_table
from tests.integration.harness import PREFIX, World, count_all_calls, world

FIGURES = (
    "--brokers", "6", "--azs", "3", "--schemes", "2",
    "--consumer-accounts", "4", "--consumer-regions", "2", "--gb-per-month", "10000",
)  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    COMMAND.configure(parser)
    capsys.readouterr()
    code = COMMAND.run(parser.parse_args(list(argv)))
    return code, capsys.readouterr().out


def as_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out = run(capsys, *argv, "--output", "json")
    assert code == 0
    document: dict[str, Any] = json.loads(out)
    return document


def pattern(document: dict[str, Any], name: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(p for p in document["patterns"] if p["pattern"] == name)
    return entry


def test_the_table_sets_the_patterns_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, *FIGURES)

    assert code == 0
    assert out.startswith(
        "Monthly cost of private connectivity (us-east-1 prices read 2026-12-05, 730 h a month, USD)"
    )
    summary = {line.split("  ")[0]: line.split() for line in out.splitlines()}
    assert summary["load balancers"][-3:] == ["6", "1", "-"]
    # us-east-1 built-in prices: 6 x 730 x $0.0225 + 10,000 x $0.006.
    assert "158.55" in summary["provider"]
    assert summary["per consumer account"][-3:] == ["181.40", "71.90", "n/a"]
    for meter in ("nlb_hour", "nlcu_hour", "endpoint_az_hour", "inter_region_gb", "msk_gb"):
        assert any(line.startswith(meter) for line in out.splitlines()), meter
    assert "msk-multi-vpc: totals leave out msk_scheme_hour, msk_gb" in out
    assert "* price not confirmed on the AWS page" in out
    assert "docs/cost.md" in out


def test_json_has_every_documented_field(capsys: pytest.CaptureFixture[str]) -> None:
    document = as_json(capsys, *FIGURES)

    assert set(document) == {
        "region", "prices_read_on", "hours_per_month", "cluster_arn", "configured_pattern",
        "scenario", "patterns", "prices",
    }  # fmt: skip
    assert document["scenario"] == {
        "brokers": 6, "azs": 3, "schemes": 2, "consumer_accounts": 4, "consumer_regions": 2,
        "gb_per_month": 10000.0, "shared_nlb_load_balancers": 1, "msk_schemes": 2,
    }  # fmt: skip
    assert [p["pattern"] for p in document["patterns"]] == [
        "nlb-per-broker",
        "shared-nlb",
        "msk-multi-vpc",
    ]
    per_broker = pattern(document, "nlb-per-broker")
    assert set(per_broker) == {
        "pattern", "available", "load_balancers", "endpoints_per_account", "served_accounts",
        "provider_usd", "consumers_usd", "per_consumer_account_usd", "total_usd", "complete",
        "unpriced", "notes", "meters",
    }  # fmt: skip
    assert per_broker["total_usd"] == pytest.approx(884.15)
    assert set(per_broker["meters"][0]) == {
        "meter", "payer", "quantity", "unit", "unit_usd", "usd", "price_status", "source",
    }  # fmt: skip
    assert set(document["prices"]["nlb_hour"]) == {"usd", "unit", "status", "source", "note"}
    assert document["prices"]["msk_gb"]["status"] == "missing"


def test_a_price_file_completes_the_msk_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("us-east-1:\n  msk_scheme_hour: 0.03\n  msk_gb: 0.005\n", encoding="utf-8")

    document = as_json(capsys, *FIGURES, "--prices", str(prices))

    msk = pattern(document, "msk-multi-vpc")
    assert msk["complete"] is True
    # 2 accounts in the cluster's Region x 2 schemes x 730 h x $0.03 + 5,000 GB x $0.005
    assert msk["total_usd"] == pytest.approx(112.6)
    assert document["prices"]["msk_gb"]["status"] == "override"
    assert document["prices"]["msk_gb"]["source"] == f"--prices {prices}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (FIGURES[:-2], "give --gb-per-month N"),
        (("--brokers", "6", "--gb-per-month", "1"), "give --azs N --schemes N"),
        ((*FIGURES, "--region", "eu-west-1"), "the price table has us-east-1"),
        (("--brokers", "5", *FIGURES[2:]), "--brokers 5 is not a multiple of --azs 3"),
    ],
)
def test_errors_say_how_to_fix_them(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        run(capsys, *argv)
    assert message in str(err.value)


def test_an_unknown_meter_in_the_price_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"us-east-1": {"nlb": 0.02}}), encoding="utf-8")

    with pytest.raises(ConfigError, match="unknown meter 'nlb'; valid: nlb_hour"):
        run(capsys, *FIGURES, "--prices", str(prices))


# ------------------------------------------------------------- live state


@pytest.fixture
def w(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("TENANT_TABLE_NAME", raising=False)
    with world() as created:
        yield created


def test_from_a_configuration_file_reads_the_cluster_and_writes_nothing(
    w: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "orders.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "cluster_arn": w.cluster_arn,
                "pattern": "shared-nlb",
                "allowed_principals": [
                    "arn:aws:iam::111122223333:root",
                    "arn:aws:iam::444455556666:role/reader",
                ],
                "supported_regions": ["eu-west-1"],
            }
        ),
        encoding="utf-8",
    )

    with count_all_calls() as calls:
        document = as_json(capsys, "--config", str(config), "--gb-per-month", "3000")

    assert document["cluster_arn"] == w.cluster_arn
    assert document["configured_pattern"] == "shared-nlb"
    # The embedded cluster: 3 brokers in 3 subnets, IAM only.
    assert document["scenario"] == {
        "brokers": 3, "azs": 3, "schemes": 1, "consumer_accounts": 2, "consumer_regions": 2,
        "gb_per_month": 3000.0, "shared_nlb_load_balancers": 1, "msk_schemes": 1,
    }  # fmt: skip
    assert calls.reads["DescribeClusterV2"] >= 1
    assert calls.writes == Counter(), dict(calls.writes)
    # 3 x 730 x $0.0225 + 3,000 x $0.006
    assert pattern(document, "nlb-per-broker")["provider_usd"] == pytest.approx(67.275)


def test_from_the_stack_with_its_tenant_table(w: World, capsys: pytest.CaptureFixture[str]) -> None:
    # The stack's configuration admits nobody; one tenant is onboarded, in another Region.
    clients = AwsClients(w.aws.session(), region=w.aws.region)
    create_tenant_table(clients.dynamodb, "tenants")
    registry = TenantRegistry(clients.dynamodb, "tenants")
    registry.register(
        cluster_arn=w.cluster_arn,
        account_id="777788889999",
        region="eu-west-1",
        vpc_id="vpc-0123456789abcdef0",
        consumer_bus_arn="arn:aws:events:eu-west-1:777788889999:event-bus/b",
        request_digest="digest",
        request="{}",
    )
    stack = ("--cluster-arn", w.cluster_arn, "--parameter-prefix", PREFIX)

    with pytest.raises(ConfigError, match="admits no consumer account"):
        run(capsys, *stack, "--gb-per-month", "10")
    document = as_json(capsys, *stack, "--tenant-table", "tenants", "--gb-per-month", "10")

    assert document["configured_pattern"] == "nlb-per-broker"
    assert document["scenario"]["consumer_accounts"] == 1
    assert document["scenario"]["consumer_regions"] == 2
    # Planning ahead: more consumers than are onboarded today.
    planned = as_json(capsys, *stack, "--consumer-accounts", "5", "--gb-per-month", "10")
    assert planned["scenario"]["consumer_accounts"] == 5


def test_live_state_refuses_cluster_figures_and_another_region(
    w: World, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ("--cluster-arn", w.cluster_arn, "--parameter-prefix", PREFIX, "--gb-per-month", "1")

    with pytest.raises(ConfigError, match="--brokers: read from the cluster"):
        run(capsys, *stack, "--brokers", "6")
    with pytest.raises(ConfigError, match="drop --region or use --region us-east-1"):
        run(capsys, *stack, "--region", "eu-west-1")
