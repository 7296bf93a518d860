"""`msk-privatelink check-connectivity`: can a client here reach every broker?

Run it where the clients run (a consumer VPC, a bastion, a container): for
every broker name and scheme it resolves the name, connects, completes the
TLS handshake and asks the broker for its API versions, then prints which
step failed, per broker and scheme. No credentials, no AWS calls, no data
produced or consumed (docs/connectivity.md).

With credentials and a view (``--scram-secret``, ``--scram-user`` or
``--iam``) it also fetches the cluster's metadata through the bootstrap and
names every broker advertised at another name or port than the view holds,
as the consumer stack's canary does.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from msk_privatelink.connectivity.kafka_metadata import OAuthBearer, Scram
from msk_privatelink.connectivity.metadata_check import (
    Expected,
    MetadataOutcome,
    MetadataRequest,
    differences,
    request_for_view,
    run_request,
)
from msk_privatelink.connectivity.probe import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    MAX_DEADLINE,
    MAX_TIMEOUT,
    MAX_WORKERS,
    ProbeSettings,
    check,
)
from msk_privatelink.connectivity.results import CheckReport, ProbeTarget, Step
from msk_privatelink.connectivity.targets import (
    WELL_KNOWN_PORTS,
    parse_expectations,
    read_view,
    targets_from_endpoints,
    targets_from_view,
)
from msk_privatelink.kernel.errors import ConfigError

EXIT_OK = 0
EXIT_FAILED = 1
SCHEMES = ("plaintext", "tls", "sasl_scram", "sasl_iam")
PASSWORD_VARIABLE = "MSK_PRIVATELINK_SCRAM_PASSWORD"


def _bounded(
    kind: type[float] | type[int], low: float, high: float
) -> Callable[[str], float | int]:
    """An argparse type: a number in (low, high], refused at parse time."""

    def convert(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
        if not low < value <= high:
            raise argparse.ArgumentTypeError(f"{text}: give more than {low:g}, at most {high:g}")
        return value

    return convert


class CheckConnectivityCommand:
    help = "probe every broker name and port from here: DNS, TCP, TLS, Kafka ApiVersions"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.description = __doc__.splitlines()[0] if __doc__ else None
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--view",
            type=Path,
            metavar="FILE",
            help="a BrokerEndpointsChanged event as published (the EventBridge event, or "
            "its detail): every broker name on every port of its schemes",
        )
        source.add_argument(
            "--bootstrap",
            metavar="HOST:PORT,...",
            help="a bootstrap string (as MSK's GetBootstrapBrokers gives it): each entry",
        )
        source.add_argument(
            "--brokers", nargs="+", metavar="HOST:PORT", help="these endpoints, each one"
        )
        parser.add_argument(
            "--scheme",
            choices=SCHEMES,
            help="with --view: only this scheme; with --bootstrap or --brokers: the scheme "
            "of every endpoint (default: the one MSK serves on the port, "
            + ", ".join(f"{p} {s}" for p, s in sorted(WELL_KNOWN_PORTS.items()))
            + ")",
        )
        parser.add_argument(
            "--ca-file",
            type=Path,
            help="trust this CA bundle instead of the system's (MSK's certificates "
            "chain to public CAs, so it is rarely needed)",
        )
        parser.add_argument(
            "--client-cert", type=Path, help="client certificate (PEM) for mutual TLS listeners"
        )
        parser.add_argument(
            "--client-key", type=Path, help="its private key (PEM), unless in --client-cert"
        )
        parser.add_argument(
            "--timeout",
            type=_bounded(float, 0, MAX_TIMEOUT),
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help=f"per step (default: %(default)s, at most {MAX_TIMEOUT:g})",
        )
        parser.add_argument(
            "--deadline",
            type=_bounded(float, 0, MAX_DEADLINE),
            default=DEFAULT_DEADLINE,
            metavar="SECONDS",
            help=f"for the whole check (default: %(default)s, at most {MAX_DEADLINE:g})",
        )
        parser.add_argument(
            "--parallel",
            type=_bounded(int, 0, MAX_WORKERS),
            default=DEFAULT_WORKERS,
            metavar="N",
            help="endpoints probed at once (default: %(default)s)",
        )
        parser.add_argument(
            "--expect-addresses",
            action="append",
            default=[],
            metavar="[NAME=]ADDR,...",
            help="the addresses names must resolve to (the consumer's interface endpoint "
            "IPs): for every name, or NAME= for one; repeatable",
        )
        parser.add_argument(
            "--cluster-addresses",
            action="append",
            default=[],
            metavar="ADDR,...",
            help="the brokers' own IPs: a name resolving to one bypasses PrivateLink (a DNS "
            "failure); repeatable",
        )
        credentials = parser.add_mutually_exclusive_group()
        credentials.add_argument(
            "--scram-secret",
            metavar="SECRET",
            help="with --view: also fetch the metadata through the bootstrap on sasl_scram as "
            "this MSK SCRAM secret's user (ARN or name; read with your AWS credentials) and "
            "compare the brokers it lists with the view",
        )
        credentials.add_argument(
            "--scram-user",
            metavar="USER",
            help=f"as --scram-secret, as USER; the password from {PASSWORD_VARIABLE}, "
            "else asked for at a terminal",
        )
        credentials.add_argument(
            "--iam",
            action="store_true",
            help="as --scram-secret, on sasl_iam with an MSK IAM token signed with your AWS "
            "credentials (no AWS call is made)",
        )
        parser.add_argument("--output", choices=("table", "json"), default="table")

    def run(self, args: argparse.Namespace) -> int:
        targets = self._targets(args)
        metadata = self._metadata(args, targets)
        settings = ProbeSettings(
            timeout=args.timeout,
            deadline=args.deadline,
            workers=args.parallel,
            ca_file=args.ca_file,
            client_cert=args.client_cert,
            client_key=args.client_key,
        )
        deadline_at = time.monotonic() + settings.deadline
        report = check(targets, settings)
        outcome = None
        if metadata is not None:
            # After the probes, in what is left of the same deadline.
            outcome = run_request(metadata[0], settings, deadline_at)
        found = {} if metadata is None or outcome is None else _differences(metadata, outcome)
        if args.output == "json":
            document: dict[str, Any] = report.to_dict()
            if metadata is not None and outcome is not None:
                document["metadata"] = {
                    **outcome.to_dict(),
                    "through": f"{metadata[0].host}:{metadata[0].port}",
                    "scheme": metadata[0].scheme,
                    "differences": {str(k): v for k, v in found.items()},
                }
            print(json.dumps(document, indent=2))
        else:
            from msk_privatelink.cli.colour import enabled

            print(render_report(report, colour=enabled(sys.stdout)))
            if metadata is not None and outcome is not None:
                print(render_metadata(metadata[0], outcome, found))
        metadata_ok = outcome is None or (outcome.ok and not found)
        return EXIT_OK if report.ok and metadata_ok else EXIT_FAILED

    def _metadata(
        self, args: argparse.Namespace, targets: list[ProbeTarget]
    ) -> tuple[MetadataRequest, Expected] | None:
        if args.scram_secret is None and args.scram_user is None and not args.iam:
            return None
        if args.view is None:
            raise ConfigError(
                "--scram-secret, --scram-user and --iam need --view: the metadata is "
                "compared with the brokers a view holds"
            )
        view = read_view(_read(args.view))
        scheme = "sasl_iam" if args.iam else "sasl_scram"
        # Where to fetch through first: no prompt or AWS call for nothing.
        if request_for_view(view, targets, scheme, None) is None:
            raise ConfigError(
                f"the view has no {scheme} port to fetch the metadata through"
                + (" (--scheme leaves it out)" if args.scheme and args.scheme != scheme else "")
            )
        auth: Scram | OAuthBearer
        try:
            if args.iam:
                auth = OAuthBearer(_iam_token(view.region))
            elif args.scram_secret is not None:
                auth = _scram_secret(args.scram_secret)
            else:
                auth = Scram(args.scram_user, _password(), "SCRAM-SHA-512")
        except ValueError as exc:
            raise ConfigError(f"the metadata check's credentials: {exc}") from None
        found = request_for_view(view, targets, scheme, auth)
        assert found is not None
        return found

    def _targets(self, args: argparse.Namespace) -> list[ProbeTarget]:
        expectations = parse_expectations(args.expect_addresses, args.cluster_addresses)
        if args.view is not None:
            schemes = [args.scheme] if args.scheme else None
            return targets_from_view(read_view(_read(args.view)), expectations, schemes)
        endpoints = args.brokers or [e for e in args.bootstrap.split(",") if e.strip()]
        return targets_from_endpoints(endpoints, args.scheme, expectations)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"cannot read the view {path}: {exc}") from exc


def _password() -> str:
    password = os.environ.get(PASSWORD_VARIABLE)
    if password:
        return password
    if sys.stdin.isatty():
        return getpass.getpass("SCRAM password: ")
    raise ConfigError(f"--scram-user needs the password in {PASSWORD_VARIABLE} (or a terminal)")


def _scram_secret(secret: str) -> Scram:
    """The user of an MSK SCRAM secret, read in the Region its ARN names
    (else the session's own: where the consumer stack keeps the canary's)."""
    import boto3
    from botocore.exceptions import BotoCoreError

    from msk_privatelink.aws.clients import CLI_CONFIG
    from msk_privatelink.canary.credentials import read_scram_secret

    region = secret.split(":")[3] if secret.startswith("arn:") and secret.count(":") >= 6 else None
    try:
        client = boto3.client("secretsmanager", region_name=region, config=CLI_CONFIG)
    except BotoCoreError as exc:
        raise ConfigError(
            f"--scram-secret {secret}: {exc} (give the secret's ARN, or set AWS_REGION)"
        ) from None
    found = read_scram_secret(client, secret)
    if found.scram is None:
        raise ConfigError(str(found.problem).removeprefix("metadata check: "))
    return found.scram


def _iam_token(region: str) -> str:
    import boto3

    from msk_privatelink.canary.iam_token import msk_iam_token

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise ConfigError(
            "--iam signs a token with your AWS credentials, and none were found "
            "(AWS_PROFILE, environment variables or an instance role)"
        )
    return msk_iam_token(credentials.get_frozen_credentials(), region)


def _differences(
    metadata: tuple[MetadataRequest, Expected], outcome: MetadataOutcome
) -> dict[int, str]:
    return differences(metadata[1], outcome.brokers) if outcome.ok else {}


def render_metadata(
    request: MetadataRequest, outcome: MetadataOutcome, found: dict[int, str]
) -> str:
    """The metadata check's lines, after the probes' table."""
    where = f"Metadata through {request.host}:{request.port} ({request.scheme})"
    if not outcome.ok:
        refused = " (the credentials were refused)" if outcome.authentication else ""
        return (
            f"{where}: failed at {outcome.step.value.upper()} ({outcome.stage}){refused}: "
            f"{outcome.detail}"
        )
    if not found:
        return f"{where}: {len(outcome.brokers)} brokers advertised, each as the view holds."
    from msk_privatelink.cli.render import table

    rows = [(str(broker), text) for broker, text in found.items()]
    return "\n".join(
        [
            f"{where}: {len(found)} brokers differ from the view:",
            table(("BROKER", "METADATA"), rows),
        ]
    )


def render_report(report: CheckReport, colour: bool = False) -> str:
    """A row per broker name and scheme: where it stopped and why, then the summary."""
    from msk_privatelink.cli.colour import GREEN, RED, paint_rows
    from msk_privatelink.cli.render import table

    rows = [
        (
            r.target.broker,
            r.target.scheme,
            r.target.endpoint,
            "OK" if r.ok else r.step.value.upper(),
            r.elapsed_ms,
            r.detail,
        )
        for r in report.results
    ]
    codes = [GREEN if r.ok else RED for r in report.results]
    rendered = table(("BROKER", "SCHEME", "ENDPOINT", "RESULT", "MS", "DETAIL"), rows)
    lines = [paint_rows(rendered, codes, colour)]
    total = len(report.results)
    if report.ok:
        lines.append(f"All {total} checks passed in {report.elapsed_ms} ms.")
    else:
        by_step = ", ".join(
            f"{count} at {Step(step).value.upper()}"
            for step, count in report.failures_by_step().items()
        )
        lines.append(
            f"{len(report.failed)} of {total} checks failed ({by_step}) in {report.elapsed_ms} ms."
        )
    if report.deadline_reached:
        lines.append("The overall deadline ended some checks early (--deadline).")
    return "\n".join(lines)


COMMAND = CheckConnectivityCommand()
