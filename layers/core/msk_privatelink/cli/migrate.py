"""``msk-privatelink migrate-subscriptions``: move the consumer subscriptions
of earlier versions (one rule per cluster, account and Region on the
provider bus, one bus-policy statement per cluster and account) to the
delivery function and one statement per account (or organization).

Run once per cluster after deploying this version; until then the earlier
rules keep delivering (the stack keeps their role), so a tenant may get an
event twice, which consumers ignore by generation. Without ``--yes`` it
only lists what it would move.
"""

from __future__ import annotations

import argparse
import json

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.onboarding.settings import ORGANIZATION_ID_RE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster-arn", required=True, help="the cluster whose tenants move")
    parser.add_argument(
        "--stack-name",
        default="msk-privatelink",
        help="the provider stack (its bus is msk-privatelink-<stack>; default: %(default)s)",
    )
    parser.add_argument("--event-bus", help="the provider bus by name (overrides --stack-name)")
    parser.add_argument(
        "--organization-id",
        help="the stack's ConsumerOrganizationId, if it has one: the organization is "
        "admitted instead of each account",
    )
    parser.add_argument("--region", help="AWS Region (default: the cluster ARN's Region)")
    parser.add_argument("--output", choices=("table", "json"), default="table")
    parser.add_argument("--yes", action="store_true", help="migrate; without it, only list")


def run(args: argparse.Namespace, region: str) -> int:
    if args.organization_id and not ORGANIZATION_ID_RE.fullmatch(args.organization_id):
        raise ConfigError(f"--organization-id {args.organization_id!r} is not an o-... id")
    from msk_privatelink.aws.clients import CLI_CONFIG, AwsClients
    from msk_privatelink.onboarding.aws.subscriptions import Subscriptions

    bus = args.event_bus or f"msk-privatelink-{args.stack_name}"
    clients = AwsClients(region=region, config=CLI_CONFIG)
    subscriptions = Subscriptions(clients.events, bus, args.organization_id or None)
    if not args.yes:
        found = subscriptions.legacy_subscriptions(args.cluster_arn)
        if args.output == "json":
            print(
                json.dumps(
                    {"tenants": [{"account": a, "region": r} for a, r in found], "migrated": False}
                )
            )
        elif found:
            print(f"{len(found)} tenant(s) of {args.cluster_arn} on {bus} to migrate:")
            for account, tenant_region in found:
                print(f"  {account} {tenant_region}")
            print("Nothing was changed. Run again with --yes to migrate them.")
        else:
            print(f"No earlier subscriptions of {args.cluster_arn} on {bus}.")
        return 0
    report = subscriptions.migrate_legacy(args.cluster_arn)
    if args.output == "json":
        print(json.dumps({**report.to_dict(), "migrated": True}))
    else:
        print(
            f"Admitted {len(report.accounts_admitted)} account(s); removed "
            f"{len(report.rules_removed)} rule(s) and {len(report.statements_removed)} "
            f"statement(s) from {bus}."
        )
    return 0
