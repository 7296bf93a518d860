"""``msk-privatelink doctor``: a read-only pre-flight of the account, before
``sam deploy`` and after. Each check passes, warns or fails and names the
fix (docs/doctor.md). Exit 0 when nothing failed (warnings alone: 0), 1 when
a check failed or doctor could not start."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from msk_privatelink.cli.cluster_region import cluster_region
from msk_privatelink.kernel.errors import ConfigError, MskPrivateLinkError

if TYPE_CHECKING:
    from msk_privatelink.doctor.facts import Facts
    from msk_privatelink.doctor.result import CheckResult

HELP = "check the account's prerequisites (read-only): trail, security groups, subnets, quotas"


class DoctorCommand:
    help = HELP

    def configure(self, parser: argparse.ArgumentParser) -> None:
        # Like plan's options, except that --stack-name has no default: it
        # also asks for the stack checks, which a pre-flight before the
        # first deploy cannot pass.
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--config", type=Path, help="cluster configuration file (YAML or JSON)")
        source.add_argument(
            "--cluster-arn",
            help="read the configuration of this cluster from Parameter Store "
            "(the prefix of --stack-name, else of the stack msk-privatelink)",
        )
        parser.add_argument(
            "--stack-name",
            help="the deployed stack: also check it serves the cluster with this configuration",
        )
        parser.add_argument(
            "--parameter-prefix",
            help="explicit parameter prefix of the configuration (overrides --stack-name's)",
        )
        parser.add_argument("--region", help="AWS Region (default: the cluster ARN's Region)")
        parser.add_argument("--output", choices=("table", "json"), default="table")

    def run(self, args: argparse.Namespace) -> int:
        from msk_privatelink.doctor.checks import run_checks
        from msk_privatelink.doctor.result import doctor_document, exit_code

        try:
            facts = _gather(args)
        except MskPrivateLinkError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        results = run_checks(facts)
        if args.output == "json":
            document = doctor_document(facts.cluster_arn, facts.region, args.stack_name, results)
            print(json.dumps(document, indent=2))
        else:
            from msk_privatelink.cli.colour import enabled

            print(_render(facts.cluster_arn, results, colour=enabled(sys.stdout)))
        return exit_code(results)


def _gather(args: argparse.Namespace) -> Facts:
    from msk_privatelink.aws.clients import CLI_CONFIG, AwsClients
    from msk_privatelink.doctor.aws.facts import FactReader, Request
    from msk_privatelink.doctor.facts import Facts
    from msk_privatelink.reconcile.config import load_config_file

    request = Request(args.config, args.cluster_arn, args.stack_name, args.parameter_prefix)
    if args.config is not None:
        try:
            arn = load_config_file(args.config).cluster_arn
        except ConfigError as exc:
            # Nothing else can be checked without the cluster's ARN.
            return Facts(
                region=None,
                cluster_arn=None,
                config=None,
                config_source=str(args.config),
                config_problem=str(exc),
                config_from_file=True,
            )
    else:
        arn = args.cluster_arn
    region = cluster_region(arn, args.region)
    clients = AwsClients(region=region, config=CLI_CONFIG)
    cloudtrail = clients.session.client("cloudtrail", region_name=region, config=CLI_CONFIG)
    cloudformation = clients.session.client("cloudformation", region_name=region, config=CLI_CONFIG)
    return FactReader(clients, cloudtrail, cloudformation).gather(request, arn, region)


def _render(cluster_arn: str | None, results: list[CheckResult], colour: bool = False) -> str:
    from collections import Counter

    from msk_privatelink.cli.colour import GREEN, RED, YELLOW, paint_rows
    from msk_privatelink.cli.render import table

    rows = [(r.check, r.outcome.value.upper(), r.detail, r.fix or "-") for r in results]
    codes = [{"pass": GREEN, "warn": YELLOW, "fail": RED}.get(r.outcome.value) for r in results]
    counts = Counter(r.outcome.value for r in results)
    summary = f"{counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed" + (
        ": fix the failures before relying on the stack" if counts["fail"] else ""
    )
    head = f"Doctor for {cluster_arn or '(no cluster)'}"
    rendered = paint_rows(table(("CHECK", "RESULT", "DETAIL", "FIX"), rows), codes, colour)
    return "\n".join([head, rendered, summary])


COMMAND = DoctorCommand()
