"""``msk-privatelink cost``: what a cluster's private connectivity costs a
month, for nlb-per-broker, shared-nlb and Amazon MSK multi-VPC private
connectivity side by side, per payer and per consumer account.

From figures (``--brokers 6 --azs 3 --schemes 1 --consumer-accounts 4
--consumer-regions 1 --gb-per-month 5000``) or from the cluster itself
(``--config FILE`` or ``--cluster-arn ARN``, as ``plan`` and ``status``
take them): its brokers, client subnets and enabled schemes from MSK, its
consumer accounts and Regions from the configuration (and ``--tenant-table``).
Prices come from ``cost/prices.py`` and ``--prices FILE``; docs/cost.md
gives every meter's source, the model's assumptions and the JSON fields.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msk_privatelink.cli.cluster_region import cluster_region
from msk_privatelink.kernel.errors import ConfigError

if TYPE_CHECKING:
    from msk_privatelink.cost.model import Scenario

# Figures the cluster answers in live mode; the consumer ones may be given
# anyway (planning for more consumers than are onboarded today).
CLUSTER_FIGURES = ("brokers", "azs", "schemes")
CONSUMER_FIGURES = ("consumer_accounts", "consumer_regions")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class CostCommand:
    help = "monthly cost of private connectivity per pattern, payer and consumer account"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        live = parser.add_argument_group(
            "from the cluster (optional; the same options as plan and status)"
        )
        source = live.add_mutually_exclusive_group()
        source.add_argument("--config", type=Path, help="cluster configuration file (YAML or JSON)")
        source.add_argument(
            "--cluster-arn", help="read the configuration of this cluster from Parameter Store"
        )
        live.add_argument(
            "--stack-name",
            default="msk-privatelink",
            help="stack whose parameter prefix holds the configuration (default: %(default)s)",
        )
        live.add_argument(
            "--parameter-prefix", help="explicit parameter prefix (overrides --stack-name)"
        )
        live.add_argument(
            "--tenant-table",
            help="the stack's tenant table: onboarded consumers count with the configuration's",
        )
        figures = parser.add_argument_group("figures (without --config or --cluster-arn)")
        figures.add_argument("--brokers", type=int, help="brokers in the cluster")
        figures.add_argument("--azs", type=int, help="Availability Zones of the cluster (2 or 3)")
        figures.add_argument("--schemes", type=int, help="client authentication schemes (1..4)")
        figures.add_argument(
            "--consumer-accounts", type=int, help="consumer accounts (each makes its endpoints)"
        )
        figures.add_argument(
            "--consumer-regions",
            type=int,
            help="Regions the consumer accounts are in, the cluster's own counted (1: none remote)",
        )
        parser.add_argument(
            "--gb-per-month",
            type=float,
            help="GB a month through the connectivity, both directions, all consumers (required)",
        )
        parser.add_argument(
            "--region",
            help="price table Region (default: us-east-1, or the cluster's Region from its ARN)",
        )
        parser.add_argument(
            "--prices", type=Path, help="YAML or JSON file of prices per Region and meter"
        )
        parser.add_argument("--output", choices=("table", "json"), default="table")

    def run(self, args: argparse.Namespace) -> int:
        from msk_privatelink.cost.model import estimate, scenario
        from msk_privatelink.cost.overrides import load_overrides, price_table
        from msk_privatelink.cost.prices import DEFAULT_REGION
        from msk_privatelink.cost.report import cost_document

        if args.gb_per_month is None:
            raise ConfigError(
                "give --gb-per-month N: the GB a month the consumers move through the "
                "connectivity (it cannot be read from the cluster)"
            )
        overrides = load_overrides(args.prices) if args.prices else None
        arn = configured = None
        if args.config is not None or args.cluster_arn:
            s, region, arn, configured = _from_cluster(args)
        else:
            missing = [
                _flag(n) for n in (*CLUSTER_FIGURES, *CONSUMER_FIGURES) if getattr(args, n) is None
            ]
            if missing:
                raise ConfigError(
                    f"give {' '.join(f'{m} N' for m in missing)}, or read the cluster's figures "
                    "with --config FILE or --cluster-arn ARN"
                )
            s = scenario(
                brokers=args.brokers,
                azs=args.azs,
                schemes=args.schemes,
                consumer_accounts=args.consumer_accounts,
                consumer_regions=args.consumer_regions,
                gb_per_month=args.gb_per_month,
            )
            region = args.region or DEFAULT_REGION
        prices = price_table(region, overrides, f"--prices {args.prices}" if args.prices else "")
        document = cost_document(
            s, prices, estimate(s, prices), cluster_arn=arn, configured_pattern=configured
        )
        if args.output == "json":
            print(json.dumps(document, indent=2))
        else:
            print(render_cost_document(document))
        return 0


def _from_cluster(args: argparse.Namespace) -> tuple[Scenario, str, str, str]:
    """The scenario as the cluster and its configuration stand: (scenario,
    Region, cluster ARN, configured pattern). Reads MSK, and Parameter Store
    and the tenant table when named; writes nothing."""
    from msk_privatelink.aws.clients import CLI_CONFIG, AwsClients
    from msk_privatelink.cost.live import live_scenario
    from msk_privatelink.reconcile.aws.config_store import ConfigStore
    from msk_privatelink.reconcile.aws.msk import MskInventoryReader
    from msk_privatelink.reconcile.config import load_config_file

    given = [_flag(n) for n in CLUSTER_FIGURES if getattr(args, n) is not None]
    if given:
        raise ConfigError(
            f"{', '.join(given)}: read from the cluster with --config/--cluster-arn; drop "
            "them, or drop --config/--cluster-arn to price figures of your own"
        )
    config = load_config_file(args.config) if args.config is not None else None
    arn: str = config.cluster_arn if config is not None else args.cluster_arn
    region = cluster_region(arn, args.region)
    clients = AwsClients(region=region, config=CLI_CONFIG)
    if config is None:
        prefix = args.parameter_prefix or f"/msk-privatelink/{args.stack_name}/clusters"
        config = ConfigStore(clients.ssm, prefix).get(arn)
    if args.tenant_table:
        from msk_privatelink.onboarding.aws.tenants import TenantRegistry
        from msk_privatelink.onboarding.tenancy import with_tenants

        config = with_tenants(
            config, TenantRegistry(clients.dynamodb, args.tenant_table).for_cluster(arn)
        )
    inventory = MskInventoryReader(clients.kafka, clients.ec2).read(arn)
    s = live_scenario(
        config,
        inventory,
        gb_per_month=args.gb_per_month,
        consumer_accounts=args.consumer_accounts,
        consumer_regions=args.consumer_regions,
    )
    return s, region, arn, config.pattern


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def render_cost_document(doc: dict[str, Any]) -> str:
    """The table: a summary per pattern, then every meter's cost (and
    quantity) per pattern, then what the totals leave out."""
    # The plan renderer's module pulls in the planner: only when drawing.
    from msk_privatelink.cli.render import table

    s = doc["scenario"]
    patterns = doc["patterns"]
    names = [p["pattern"] for p in patterns]
    read = f"read {doc['prices_read_on']}" if doc["prices_read_on"] else "from --prices"
    head = [
        f"Monthly cost of private connectivity ({doc['region']} prices {read}, "
        f"{doc['hours_per_month']} h a month, USD)",
        f"Cluster {doc['cluster_arn']} (configured: {doc['configured_pattern']})"
        if doc["cluster_arn"]
        else "",
        f"{s['brokers']} brokers in {s['azs']} AZs, {s['schemes']} scheme(s), "
        f"{s['consumer_accounts']} consumer account(s) in {s['consumer_regions']} Region(s), "
        f"{_quantity(s['gb_per_month'])} GB a month",
    ]
    summary_rows = [
        ["load balancers", *[str(p["load_balancers"] or "-") for p in patterns]],
        ["endpoints per account", *[str(p["endpoints_per_account"] or "-") for p in patterns]],
        ["provider", *[_money(p["provider_usd"]) for p in patterns]],
        ["all consumers", *[_money(p["consumers_usd"]) for p in patterns]],
        ["per consumer account", *[_money(p["per_consumer_account_usd"]) for p in patterns]],
        ["total", *[_money(p["total_usd"]) for p in patterns]],
    ]
    by_meter: dict[str, dict[str, dict[str, Any]]] = {}
    for p in patterns:
        for m in p["meters"]:
            by_meter.setdefault(m["meter"], {})[p["pattern"]] = m
    meter_rows = []
    for meter, cells in by_meter.items():
        first = next(iter(cells.values()))
        price = doc["prices"][meter]
        mark = {"unconfirmed": " *", "missing": " !", "override": " (file)"}.get(
            price["status"], ""
        )
        meter_rows.append(
            [
                meter,
                first["payer"],
                f"{_money(price['usd']) if price['usd'] is None else price['usd']}{mark}",
                first["unit"],
                *[
                    f"{_money(cells[n]['usd'])} ({_quantity(cells[n]['quantity'])})"
                    if n in cells
                    else "-"
                    for n in names
                ],
            ]
        )
    out = [line for line in head if line]
    out += ["", table(["", *names], summary_rows), ""]
    out += [table(["METER", "PAYER", "USD/UNIT", "UNIT", *names], meter_rows), ""]
    for p in patterns:
        for note in p["notes"]:
            out.append(f"{p['pattern']}: {note}")
        if p["unpriced"]:
            out.append(
                f"{p['pattern']}: totals leave out {', '.join(p['unpriced'])} (no price: "
                "give it with --prices FILE)"
            )
    unconfirmed = [m for m, price in doc["prices"].items() if price["status"] == "unconfirmed"]
    if unconfirmed:
        out.append(
            f"* price not confirmed on the AWS page (check it there): {', '.join(unconfirmed)}"
        )
    missing = [m for m, price in doc["prices"].items() if price["status"] == "missing"]
    if missing:
        out.append(f"! no confirmed price: {', '.join(missing)}")
    out.append("Sources, assumptions and every field: docs/cost.md")
    return "\n".join(out)


COMMAND = CostCommand()
