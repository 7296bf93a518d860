"""`msk-privatelink check-connectivity`: can a client here reach every broker?

Run it where the clients run (a consumer VPC, a bastion, a container): for
every broker name and scheme it resolves the name, connects, completes the
TLS handshake and asks the broker for its API versions, then prints which
step failed, per broker and scheme. No credentials, no AWS calls, no data
produced or consumed (docs/connectivity.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

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
        parser.add_argument("--output", choices=("table", "json"), default="table")

    def run(self, args: argparse.Namespace) -> int:
        targets = self._targets(args)
        settings = ProbeSettings(
            timeout=args.timeout,
            deadline=args.deadline,
            workers=args.parallel,
            ca_file=args.ca_file,
            client_cert=args.client_cert,
            client_key=args.client_key,
        )
        report = check(targets, settings)
        if args.output == "json":
            print(json.dumps(report.to_dict(), indent=2))
        else:
            from msk_privatelink.cli.colour import enabled

            print(render_report(report, colour=enabled(sys.stdout)))
        return EXIT_OK if report.ok else EXIT_FAILED

    def _targets(self, args: argparse.Namespace) -> list[ProbeTarget]:
        expectations = parse_expectations(args.expect_addresses, args.cluster_addresses)
        if args.view is not None:
            try:
                document = args.view.read_text(encoding="utf-8")
            except (OSError, UnicodeError) as exc:
                raise ConfigError(f"cannot read the view {args.view}: {exc}") from exc
            schemes = [args.scheme] if args.scheme else None
            return targets_from_view(read_view(document), expectations, schemes)
        endpoints = args.brokers or [e for e in args.bootstrap.split(",") if e.strip()]
        return targets_from_endpoints(endpoints, args.scheme, expectations)


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
