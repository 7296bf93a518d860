"""msk-privatelink: plan, apply and inspect from a terminal, or run the demo.

Credentials, Region and endpoint come from boto3's standard resolution
(profiles, environment, ``AWS_ENDPOINT_URL``), so the same commands work
against a real account and against ``msk-privatelink local-aws``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError

from msk_privatelink import __version__
from msk_privatelink.cli.cluster_region import cluster_region
from msk_privatelink.kernel.errors import MskPrivateLinkError

if TYPE_CHECKING:
    from msk_privatelink.advertised.outcome import AdvertisedPreview
    from msk_privatelink.advertised.service import BrokerOverrideCall
    from msk_privatelink.aws.clients import AwsClients
    from msk_privatelink.onboarding.aws.tenants import Tenant
    from msk_privatelink.reconcile.config import ClusterConfig
    from msk_privatelink.reconcile.plan import Change
    from msk_privatelink.reconcile.reconciler import Assessment

EXIT_GUARDED = 3
# plan --detailed-exitcode: 0 nothing to change, 2 changes (1 stays an error).
EXIT_CHANGES = 2
# Commands that need more than the runtime package (`demo`, `local-aws` from
# the development package) register here as entry points, so this module
# never imports what the Lambda layer does not ship.
COMMAND_GROUP = "msk_privatelink.commands"
# Runtime commands in modules of their own, each exposing COMMAND (a Command);
# their heavy imports wait until they run.
BUILTIN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("check-connectivity", "msk_privatelink.cli.check_connectivity"),
    ("cost", "msk_privatelink.cli.cost"),
    ("diagram", "msk_privatelink.cli.diagram"),
    ("doctor", "msk_privatelink.cli.doctor"),
)


class Command(Protocol):
    """A subcommand registered in the ``msk_privatelink.commands`` group."""

    help: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def config_source(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", type=Path, help="cluster configuration file (YAML or JSON)")
    src.add_argument(
        "--cluster-arn", help="read the configuration of this cluster from Parameter Store"
    )
    parser.add_argument(
        "--stack-name",
        default="msk-privatelink",
        help="stack whose parameter prefix holds the configuration (default: %(default)s)",
    )
    parser.add_argument(
        "--parameter-prefix", help="explicit parameter prefix (overrides --stack-name)"
    )
    parser.add_argument("--region", help="AWS Region (default: the cluster ARN's Region)")
    parser.add_argument("--output", choices=("table", "json"), default="table")


def tenant_source(parser: argparse.ArgumentParser) -> None:
    tenants = parser.add_mutually_exclusive_group()
    tenants.add_argument(
        "--tenant-table",
        help="the stack's tenant table (default: $TENANT_TABLE_NAME): onboarded consumers' "
        "principals and Regions are merged into the configuration, as the reconciler does",
    )
    tenants.add_argument(
        "--no-tenants",
        action="store_true",
        help="use the configuration alone: every onboarded consumer's principal is revoked",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msk-privatelink", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="show what apply would change (dry run)")
    config_source(plan)
    tenant_source(plan)
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when nothing would change, 2 when something would, 1 on error",
    )
    apply = sub.add_parser("apply", help="make the NLB layer match the brokers")
    config_source(apply)
    tenant_source(apply)
    apply.add_argument(
        "--auto-approve",
        action="store_true",
        help="apply a plan that deletes, revokes or restarts without asking (for scripts)",
    )
    apply.add_argument("--event-bus", help="publish BrokerEndpointsChanged on this bus")
    apply.add_argument("--state-table", help="table holding the published generation")
    apply.add_argument(
        "--kafka-admin-function",
        help="broker-override: the stack's Kafka admin function (default: talk to the "
        "brokers from here, which needs a route to them)",
    )
    status = sub.add_parser("status", help="brokers and the resources serving each")
    config_source(status)
    tenant_source(status)

    destroy = sub.add_parser(
        "destroy", help="remove every resource this tool created for the cluster"
    )
    config_source(destroy)
    destroy.add_argument("--yes", action="store_true", help="apply; without it, only show the plan")

    from msk_privatelink.cli import migrate

    migrate.configure(
        sub.add_parser(
            "migrate-subscriptions",
            help="move consumer subscriptions made by earlier versions to the delivery function",
        )
    )

    for name, module in BUILTIN_COMMANDS:
        builtin: Command = import_module(module).COMMAND
        parser_of = sub.add_parser(name, help=builtin.help)
        builtin.configure(parser_of)
        parser_of.set_defaults(extension=builtin)

    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        command: Command = entry.load()
        extra = sub.add_parser(entry.name, help=command.help)
        command.configure(extra)
        extra.set_defaults(extension=command)
    return parser


def load_cluster(args: argparse.Namespace) -> tuple[ClusterConfig, AwsClients]:
    config, clients, _ = load_cluster_and_tenants(args)
    return config, clients


def load_cluster_and_tenants(
    args: argparse.Namespace,
) -> tuple[ClusterConfig, AwsClients, list[Tenant] | None]:
    """The configuration as the reconciler applies it, the clients, and the
    cluster's tenants as read from the tenant table (``None``: no table)."""
    from msk_privatelink.aws.clients import CLI_CONFIG, AwsClients
    from msk_privatelink.reconcile.aws.config_store import ConfigStore
    from msk_privatelink.reconcile.config import load_config_file

    arn: str = args.cluster_arn if args.config is None else ""
    if args.config is not None:
        config = load_config_file(args.config)
        arn = config.cluster_arn
    clients = AwsClients(region=cluster_region(arn, args.region), config=CLI_CONFIG)
    if args.config is None:
        prefix = args.parameter_prefix or f"/msk-privatelink/{args.stack_name}/clusters"
        config = ConfigStore(clients.ssm, prefix).get(arn)
    merged, tenants = _with_tenants(args, config, clients)
    return merged, clients, tenants


def _with_tenants(
    args: argparse.Namespace, config: ClusterConfig, clients: AwsClients
) -> tuple[ClusterConfig, list[Tenant] | None]:
    """The configuration the stack's reconciler applies: the document plus the
    cluster's admitted tenants (reconcile/service.py does the same). Without
    them an apply would revoke every onboarded consumer until the next
    reconcile of the stack grants them again. The tenants read come back too
    (``status`` shows them); ``None`` when no table was read."""
    from msk_privatelink.kernel.errors import ConfigError
    from msk_privatelink.onboarding.aws.tenants import TenantRegistry
    from msk_privatelink.onboarding.settings import tenant_table_from_env
    from msk_privatelink.onboarding.tenancy import with_tenants

    if args.no_tenants:
        return config, None
    table: str | None = args.tenant_table or tenant_table_from_env()
    if table is not None:
        tenants = TenantRegistry(clients.dynamodb, table).for_cluster(config.cluster_arn)
        return with_tenants(config, tenants), tenants
    if args.config is None and args.command == "apply":
        # The stack's own configuration: the stack has a tenant table.
        raise ConfigError(
            f"refusing to apply the stack's configuration of {config.cluster_arn} without its "
            "tenants: every onboarded consumer's principal would be revoked. Give the stack's "
            "tenant table (--tenant-table NAME or TENANT_TABLE_NAME), or --no-tenants to "
            "apply the configuration alone; nothing was changed"
        )
    if args.config is None:
        print(
            "warning: no tenant table (--tenant-table or TENANT_TABLE_NAME): the plan uses the "
            "configuration alone and shows onboarded consumers revoked",
            file=sys.stderr,
        )
    return config, None


def _broker_override(
    clients: AwsClients, config: ClusterConfig, function_name: str | None
) -> BrokerOverrideCall | None:
    """broker-override's admin call: the stack's function, or the same core code here."""
    if config.advertised_listeners.mode != "broker-override":
        return None
    if function_name:
        from msk_privatelink.advertised.aws.kafka_admin_invoke import LambdaBrokerOverride

        return LambdaBrokerOverride(clients.lambda_, function_name)
    from msk_privatelink.advertised.kafka_admin import in_process
    from msk_privatelink.aws.clients import BOTO_CONFIG

    secrets = clients.session.client(
        "secretsmanager", region_name=clients.region, config=BOTO_CONFIG
    )
    return in_process(secrets)


def _run(args: argparse.Namespace) -> int:
    extension: Command | None = getattr(args, "extension", None)
    if extension is not None:
        return extension.run(args)

    from msk_privatelink.cli.render import render_plan
    from msk_privatelink.reconcile.aws.lease import ClusterLeases
    from msk_privatelink.reconcile.aws.publisher import EndpointsPublisher
    from msk_privatelink.reconcile.reconciler import Reconciler

    if args.command == "destroy":
        return _destroy(args)
    if args.command == "migrate-subscriptions":
        from msk_privatelink.cli import migrate

        return migrate.run(args, cluster_region(args.cluster_arn, args.region))
    config, clients, tenants = load_cluster_and_tenants(args)
    if args.command == "status":
        from msk_privatelink.cli.status import render_status_document, status_of

        document = status_of(Reconciler(clients), config, tenants)
        if args.output == "json":
            print(json.dumps(document, indent=2))
        else:
            print(render_status_document(document))
        return 0
    if args.command == "plan":
        reconciler = Reconciler(clients)
        a = reconciler.assess(config, deep=True)
        advertised = reconciler.advertised_preview(a)
        if args.output == "json":
            print(json.dumps(plan_document(a, advertised), indent=2))
        else:
            print(_coloured(render_plan(a.plan, a.decision, advertised)))
        changes = not a.plan.is_empty or bool(advertised and advertised.writes)
        return EXIT_CHANGES if args.detailed_exitcode and changes else 0

    if not _approved(args, config, clients):
        return 1
    publisher = None
    leases = None
    if args.state_table:
        # With the stack's table, a CLI apply and the Lambda never write at once.
        leases = ClusterLeases(clients.dynamodb, args.state_table)
    if args.event_bus and args.state_table:
        publisher = EndpointsPublisher(
            clients.events, clients.dynamodb, args.event_bus, args.state_table
        )

    def progress(change: Change) -> None:
        # On stdout, in order with the plan before and the result after.
        if args.output == "table":
            print(f"  applied {change.step.action} {change.step.kind} {change.key}", flush=True)

    reconciler = Reconciler(
        clients,
        publisher,
        on_change=progress,
        leases=leases,
        broker_override=_broker_override(clients, config, args.kafka_admin_function),
    )
    outcome = reconciler.reconcile(config, deep=True)
    if args.output == "json":
        print(json.dumps(outcome.to_dict(), indent=2))
    else:
        # The plan was shown before; the progress lines, then the result.
        print(f"Status: {outcome.status}, {len(outcome.applied)} change(s) applied")
        if outcome.withheld:
            print(f"Withheld by the guard: {len(outcome.withheld)} change(s)")
        if outcome.reasons:
            print("Guard: " + "; ".join(outcome.reasons))
        if outcome.advertised is not None:
            print(
                f"Advertised listeners ({outcome.advertised.mode}): "
                f"{outcome.advertised.status}: {outcome.advertised.detail}"
            )
    for change, why in outcome.blocked:
        print(f"Blocked: {change.step.action} {change.step.kind} {change.key}: {why}")
    return EXIT_GUARDED if outcome.status in ("guarded", "refused", "blocked") else 0


def plan_document(a: Assessment, advertised: AdvertisedPreview | None) -> dict[str, Any]:
    """`plan --output json` (docs/cli.md describes every field)."""
    from msk_privatelink.reconcile.impacts import change_impact

    return {
        "cluster_arn": a.config.cluster_arn,
        "cluster_state": a.inventory.state,
        "changes": [{**c.to_dict(), "impact": change_impact(c, a.plan)} for c in a.plan.changes],
        "advertised": advertised.to_dict() if advertised else None,
        "withheld": [c.to_dict() for c in a.decision.withheld],
        "guard_reasons": list(a.decision.reasons),
        "conflicts": list(a.actual.conflicts),
    }


def _approved(args: argparse.Namespace, config: ClusterConfig, clients: AwsClients) -> bool:
    """apply's plan, shown first; a plan that deletes, revokes or restarts
    needs a "yes" in a terminal, or --auto-approve."""
    from msk_privatelink.cli.render import disruptions, render_plan
    from msk_privatelink.reconcile.reconciler import Reconciler

    reconciler = Reconciler(clients)
    a = reconciler.assess(config, deep=True)
    advertised = reconciler.advertised_preview(a)
    if args.output == "table":
        print(_coloured(render_plan(a.plan, a.decision, advertised)), flush=True)
    disruptive = disruptions(a.decision.allowed, advertised)
    if not disruptive or args.auto_approve:
        return True
    if not sys.stdin.isatty():
        print(
            f"error: the plan deletes, revokes or restarts ({len(disruptive)} change(s), "
            f"first: {disruptive[0]}); nothing was changed. Run apply in a terminal to "
            "confirm, or pass --auto-approve",
            file=sys.stderr,
        )
        return False
    answer = input("Apply these changes? Only 'yes' is accepted: ").strip()
    if answer != "yes":
        print("Apply cancelled; nothing was changed.")
        return False
    return True


def _destroy(args: argparse.Namespace) -> int:
    from msk_privatelink.advertised.aws.msk_configuration import MskConfigurationAdvertiser
    from msk_privatelink.aws.clients import CLI_CONFIG, AwsClients
    from msk_privatelink.cli.render import render_plan
    from msk_privatelink.reconcile.config import load_config_file
    from msk_privatelink.reconcile.reconciler import Reconciler

    # No configuration store is needed: the cluster may be gone already.
    arn: str = load_config_file(args.config).cluster_arn if args.config else args.cluster_arn
    clients = AwsClients(region=cluster_region(arn, args.region), config=CLI_CONFIG)

    def progress(change: Change) -> None:
        if args.output == "table":
            print(f"  applied {change.step.action} {change.step.kind} {change.key}", flush=True)

    reconciler = Reconciler(clients, on_change=progress)
    outcome = None
    if args.output == "table":
        outcome = reconciler.teardown(arn, dry_run=True)
        print(_coloured(render_plan(outcome.plan)), flush=True)
    if outcome is None or args.yes:
        outcome = reconciler.teardown(arn, dry_run=not args.yes)
    # Our MSK configuration (shared-nlb, msk-configuration mode) goes too.
    configuration = MskConfigurationAdvertiser(clients.kafka).remove_ours(arn, dry_run=not args.yes)
    if args.output == "json":
        print(json.dumps({**outcome.to_dict(), "msk_configuration": configuration}, indent=2))
    else:
        print(f"MSK configuration: {configuration}")
        if not args.yes:
            if not outcome.plan.is_empty or configuration != "none":
                print("Nothing was changed. Run again with --yes to remove these resources.")
        else:
            print(f"Status: {outcome.status}, {len(outcome.applied)} change(s) applied")
        for change, why in outcome.blocked:
            print(f"Blocked: {change.step.action} {change.step.kind} {change.key}: {why}")
    return EXIT_GUARDED if outcome.status == "blocked" else 0


def _coloured(plan_text: str) -> str:
    """The plan with its impacts in colour, at a terminal only."""
    from msk_privatelink.cli.colour import enabled, paint_plan

    return paint_plan(plan_text, enabled(sys.stdout))


def _hint(exc: BotoCoreError) -> str:
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return (
            "\nhint: give AWS credentials the usual way (AWS_PROFILE, `aws sso login`, "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); for the embedded AWS, "
            "start `msk-privatelink local-aws` and export what it prints"
        )
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return (
            "\nhint: the endpoint did not answer; check AWS_ENDPOINT_URL (is "
            "`msk-privatelink local-aws` running?), the Region and the network"
        )
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:
        # The shell asks for completions (register-python-argcomplete): only
        # then is argcomplete loaded; without it installed, no completion.
        try:
            import argcomplete
        except ImportError:
            pass
        else:
            argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except MskPrivateLinkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        # No credentials, endpoint unreachable, ...: a message and what to do.
        print(f"error: {exc}{_hint(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
