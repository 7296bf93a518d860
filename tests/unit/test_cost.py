"""The cost model: every meter's quantity and price checked against figures
worked out by hand, the price overrides, and the refusals with their fixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msk_privatelink.cost.live import live_scenario
from msk_privatelink.cost.model import Scenario, estimate, scenario, tiered_gb
from msk_privatelink.cost.overrides import load_overrides, parse_overrides, price_table
from msk_privatelink.cost.prices import BUILTIN, GB_PER_PB, METERS, Price, PriceTable
from msk_privatelink.cost.report import cost_document
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.models import AuthScheme, Broker, ClusterInventory
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.config import ClusterConfig

ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"

# Round numbers so every expected value below is a hand sum.
PRICES = PriceTable(
    "us-east-1",
    "2026-12-05",
    {
        "nlb_hour": Price(0.02, "confirmed", "elb"),
        "nlcu_hour": Price(0.005, "confirmed", "elb"),
        "endpoint_az_hour": Price(0.01, "confirmed", "privatelink"),
        "privatelink_gb_first_1pb": Price(0.01, "confirmed", "privatelink"),
        "privatelink_gb_next_4pb": Price(0.006, "confirmed", "privatelink"),
        "privatelink_gb_over_5pb": Price(0.004, "confirmed", "privatelink"),
        "inter_region_gb": Price(0.02, "confirmed", "ec2"),
        "msk_scheme_hour": Price(0.03, "confirmed", "msk"),
        "msk_gb": Price(0.005, "confirmed", "msk"),
    },
)


def six_brokers(**overrides: int | float) -> Scenario:
    figures: dict[str, int | float] = {
        "brokers": 6,
        "azs": 3,
        "schemes": 2,
        "consumer_accounts": 4,
        "consumer_regions": 2,
        "gb_per_month": 10_000,
    }
    figures.update(overrides)
    return scenario(**figures)  # type: ignore[arg-type]


def meters(cost: object) -> dict[str, tuple[float, float | None]]:
    return {line.meter: (line.quantity, line.usd) for line in cost.lines}  # type: ignore[attr-defined]


def test_nlb_per_broker_every_meter_by_hand() -> None:
    # Given 6 brokers in 3 AZs, 4 consumer accounts in 2 Regions, 10,000 GB a month
    per_broker, _, _ = estimate(six_brokers(), PRICES)

    lines = meters(per_broker)
    # 6 load balancers x 730 h x $0.02
    assert lines["nlb_hour"] == pytest.approx((4380, 87.6))
    # 10,000 GB over 4,380 LB-hours is 10,000 NLCU-hours x $0.005
    assert lines["nlcu_hour"] == pytest.approx((10_000, 50.0))
    # 4 accounts x 6 endpoints x 3 AZs x 730 h x $0.01
    assert lines["endpoint_az_hour"] == pytest.approx((52_560, 525.6))
    assert lines["privatelink_gb_first_1pb"] == pytest.approx((10_000, 100.0))
    assert lines["privatelink_gb_next_4pb"] == pytest.approx((0, 0))
    assert lines["privatelink_gb_over_5pb"] == pytest.approx((0, 0))
    # Half the consumers are in the other Region: 5,000 GB x $0.02
    assert lines["inter_region_gb"] == pytest.approx((5_000, 100.0))
    assert per_broker.provider_usd == pytest.approx(137.6)
    assert per_broker.consumers_usd == pytest.approx(725.6)
    assert per_broker.per_consumer_account_usd == pytest.approx(181.4)
    assert per_broker.total_usd == pytest.approx(863.2)
    assert {line.meter: line.payer for line in per_broker.lines} == {
        "nlb_hour": "provider",
        "nlcu_hour": "provider",
        "endpoint_az_hour": "consumer",
        "privatelink_gb_first_1pb": "consumer",
        "privatelink_gb_next_4pb": "consumer",
        "privatelink_gb_over_5pb": "consumer",
        "inter_region_gb": "consumer",
    }


def test_shared_nlb_pays_per_shard_not_per_broker() -> None:
    _, shared, _ = estimate(six_brokers(), PRICES)

    # 2 schemes: (50 - 2) / 2 = 24 brokers per shard, so one load balancer.
    assert shared.load_balancers == shared.endpoints_per_account == 1
    lines = meters(shared)
    assert lines["nlb_hour"] == pytest.approx((730, 14.6))
    assert lines["nlcu_hour"] == pytest.approx((10_000, 50.0))
    assert lines["endpoint_az_hour"] == pytest.approx((8_760, 87.6))
    assert shared.provider_usd == pytest.approx(64.6)
    assert shared.consumers_usd == pytest.approx(287.6)
    assert shared.per_consumer_account_usd == pytest.approx(71.9)
    assert shared.total_usd == pytest.approx(352.2)


@pytest.mark.parametrize(
    ("brokers", "schemes", "shards"),
    [(6, 1, 1), (60, 1, 2), (30, 4, 3), (33, 4, 3), (36, 4, 4), (180, 4, 17)],
)
def test_shards_follow_the_listener_limit(brokers: int, schemes: int, shards: int) -> None:
    # 1 scheme: 49 brokers a shard; 4 schemes: 11 (docs/scale.md).
    assert six_brokers(brokers=brokers, schemes=schemes).shards == shards


def test_msk_multi_vpc_serves_the_cluster_region_only() -> None:
    _, _, msk = estimate(six_brokers(), PRICES)

    lines = meters(msk)
    # The 2 accounts of the cluster's Region x 2 schemes x 730 h x $0.03
    assert lines["msk_scheme_hour"] == pytest.approx((2_920, 87.6))
    assert lines["msk_gb"] == pytest.approx((5_000, 25.0))
    assert msk.provider_usd == 0
    assert msk.consumers_usd == pytest.approx(112.6)
    assert msk.per_consumer_account_usd == pytest.approx(56.3)
    assert msk.load_balancers == 0
    assert any("Region only" in note and "5,000 GB" in note for note in msk.notes)


def test_msk_multi_vpc_is_unavailable_without_an_authenticated_scheme() -> None:
    s = Scenario(6, 3, 1, 2, 1, 100.0, shards=1, msk_schemes=0)

    _, _, msk = estimate(s, PRICES)

    assert not msk.available
    assert any("plaintext" in note for note in msk.notes)


def test_privatelink_tiers_per_account() -> None:
    assert tiered_gb(500) == (500, 0, 0)
    assert tiered_gb(6 * GB_PER_PB) == (GB_PER_PB, 4 * GB_PER_PB, GB_PER_PB)
    # One account moving 6 PB a month: 1 PB at $0.01, 4 PB at $0.006, 1 PB at $0.004.
    s = six_brokers(consumer_accounts=1, consumer_regions=1, gb_per_month=6 * GB_PER_PB)
    per_broker, _, _ = estimate(s, PRICES)
    lines = meters(per_broker)
    assert lines["privatelink_gb_first_1pb"][1] == pytest.approx(GB_PER_PB * 0.01)
    assert lines["privatelink_gb_next_4pb"][1] == pytest.approx(4 * GB_PER_PB * 0.006)
    assert lines["privatelink_gb_over_5pb"][1] == pytest.approx(GB_PER_PB * 0.004)


def test_builtin_table_names_a_source_and_status_for_every_meter() -> None:
    table = BUILTIN["us-east-1"]
    assert table.read_on == "2026-12-05"
    for meter in METERS:
        price = table.price(meter)
        assert price.source.startswith("https://aws.amazon.com/"), meter
        assert price.status in ("confirmed", "unconfirmed", "missing"), meter
        # A price not confirmed on its page says so, and why.
        assert price.status == "confirmed" or price.note, meter
        assert (price.usd is None) == (price.status == "missing"), meter


def test_unpriced_meters_make_the_totals_unknown_not_zero() -> None:
    builtin = BUILTIN["us-east-1"]
    _, _, msk = estimate(six_brokers(), builtin)

    assert msk.unpriced == ("msk_scheme_hour", "msk_gb")
    assert msk.consumers_usd is None
    assert msk.total_usd is None
    assert msk.provider_usd == 0
    doc = cost_document(six_brokers(), builtin, estimate(six_brokers(), builtin))
    entry = doc["patterns"][2]
    assert entry["complete"] is False
    assert entry["total_usd"] is None
    json.dumps(doc)


def test_overrides_replace_the_builtin_price_and_say_so() -> None:
    overrides = parse_overrides({"us-east-1": {"msk_gb": 0.006, "nlb_hour": 1}}, "prices.yaml")

    table = price_table("us-east-1", overrides, "--prices prices.yaml")

    assert table.price("msk_gb") == Price(0.006, "override", "--prices prices.yaml")
    assert table.price("nlb_hour").usd == 1.0
    assert table.price("nlcu_hour") == BUILTIN["us-east-1"].price("nlcu_hour")


def test_a_region_only_the_file_names_leaves_the_rest_unpriced() -> None:
    table = price_table("eu-west-1", {"eu-west-1": {"nlb_hour": 0.0252}}, "--prices p.json")

    assert table.read_on is None
    assert table.price("nlb_hour").usd == 0.0252
    assert table.price("nlcu_hour").usd is None
    per_broker, _, _ = estimate(six_brokers(), table)
    assert "nlcu_hour" in per_broker.unpriced


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_price_files_in_yaml_and_json(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"prices{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"us-east-1": {"msk_scheme_hour": 0.0225}}), encoding="utf-8")
    else:
        path.write_text("us-east-1:\n  msk_scheme_hour: 0.0225\n", encoding="utf-8")

    assert load_overrides(path) == {"us-east-1": {"msk_scheme_hour": 0.0225}}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"us-east-1": {"nlb_hours": 0.1}},
            "unknown meter 'nlb_hours'; valid: nlb_hour, nlcu_hour",
        ),
        ({"us-east-1": {"nlb_hour": -1}}, "us-east-1.nlb_hour must be a non-negative number"),
        ({"us-east-1": {"nlb_hour": True}}, "must be a non-negative number"),
        ({"us-east-1": {"nlb_hour": "0.02"}}, "must be a non-negative number"),
        ({"Virginia": {"nlb_hour": 0.02}}, "'Virginia' is not an AWS Region name"),
        ({"us-east-1": 0.02}, "us-east-1 must map meter names to USD prices"),
    ],
)
def test_bad_price_files_are_refused(document: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=r"prices\.yaml") as err:
        parse_overrides(document, "prices.yaml")
    assert message in str(err.value)


def test_unknown_meter_message_names_every_valid_meter() -> None:
    with pytest.raises(ConfigError) as err:
        parse_overrides({"us-east-1": {"gb": 1}}, "p.yaml")
    assert all(meter in str(err.value) for meter in METERS)


def test_unreadable_price_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read price file"):
        load_overrides(tmp_path / "absent.yaml")


def test_a_region_without_prices_names_the_regions_there_are() -> None:
    with pytest.raises(ConfigError) as err:
        price_table("eu-west-1", {"ap-south-1": {"nlb_hour": 0.02}})
    assert "no prices for Region eu-west-1" in str(err.value)
    assert "ap-south-1, us-east-1" in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"brokers": 0}, "--brokers must be a positive integer"),
        ({"consumer_accounts": -1}, "--consumer-accounts must be a positive integer"),
        ({"azs": 1, "brokers": 2}, "--azs must be 2 or 3"),
        ({"azs": 4, "brokers": 8}, "--azs must be 2 or 3"),
        ({"brokers": 7}, "--brokers 7 is not a multiple of --azs 3"),
        ({"brokers": 7}, "use 6 or 9"),
        ({"schemes": 5}, "--schemes must be 1..4"),
        ({"schemes": 0}, "--schemes must be a positive integer"),
        ({"consumer_regions": 5}, "every consumer Region holds at least one account"),
        ({"gb_per_month": -1}, "--gb-per-month must be a number of GB >= 0"),
        ({"gb_per_month": float("nan")}, "--gb-per-month must be a number of GB >= 0"),
    ],
)
def test_figures_are_checked_against_what_msk_allows(
    overrides: dict[str, int | float], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        six_brokers(**overrides)
    assert message in str(err.value)


def inventory(broker_ids: list[int], schemes: frozenset[AuthScheme]) -> ClusterInventory:
    subnets = ("subnet-0000000a", "subnet-0000000b", "subnet-0000000c")
    return ClusterInventory(
        cluster_arn=ARN,
        cluster_name="orders",
        state="ACTIVE",
        vpc_id="vpc-1",
        client_subnet_ids=subnets,
        enabled_schemes=schemes,
        kafka_version="3.6.0",
        expected_broker_count=len(broker_ids),
        brokers=tuple(
            Broker(b, f"10.0.0.{b}", f"eni-{b:08x}", subnets[(b - 1) % 3]) for b in broker_ids
        ),
    )


def test_live_scenario_counts_accounts_regions_schemes_and_shards() -> None:
    config = parse(
        ClusterConfig,
        {
            "cluster_arn": ARN,
            "pattern": "shared-nlb",
            "allowed_principals": [
                "arn:aws:iam::111122223333:root",
                "arn:aws:iam::111122223333:role/reader",
                "arn:aws:iam::444455556666:root",
            ],
            "supported_regions": ["us-east-1", "eu-west-1"],
        },
    )
    brokers = inventory(list(range(1, 13)), frozenset({AuthScheme.PLAINTEXT, AuthScheme.SASL_IAM}))

    s = live_scenario(config, brokers, gb_per_month=100)

    # Two principals of one account share its endpoints; us-east-1 is the cluster's own.
    assert (s.consumer_accounts, s.consumer_regions) == (2, 2)
    assert (s.brokers, s.azs, s.schemes, s.msk_schemes) == (12, 3, 2, 1)
    # auth_schemes unset: shards sized for all 4 schemes, 11 brokers each.
    assert s.shards == 2
    assert (
        live_scenario(config, brokers, gb_per_month=1, consumer_accounts=9).consumer_accounts == 9
    )


def test_live_scenario_without_consumers_asks_for_them() -> None:
    config = parse(ClusterConfig, {"cluster_arn": ARN})
    brokers = inventory([1, 2, 3], frozenset({AuthScheme.TLS}))

    with pytest.raises(ConfigError, match="give --consumer-accounts N"):
        live_scenario(config, brokers, gb_per_month=1)
    with pytest.raises(ConfigError, match="lists no brokers yet"):
        live_scenario(config, inventory([], frozenset({AuthScheme.TLS})), gb_per_month=1)
