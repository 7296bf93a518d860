"""``msk-privatelink diagram``: the live topology of a cluster's connectivity
(consumer accounts and Regions, endpoint services, load balancers with their
listener ports, brokers by Availability Zone) as Mermaid or SVG. Read-only:
it reads what `status` reads, plus the brokers' subnets for their zones."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from msk_privatelink.aws.clients import AwsClients
    from msk_privatelink.topology.model import Topology


class DiagramCommand:
    help = "draw the cluster's live connectivity as Mermaid or SVG"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        from msk_privatelink.cli.main import config_source, tenant_source

        config_source(parser)
        tenant_source(parser)
        parser.add_argument(
            "--format",
            choices=("mermaid", "svg"),
            default="mermaid",
            help="the picture's format (default: %(default)s); --output json gives the "
            "topology document instead",
        )
        parser.add_argument("--out", type=Path, help="write to this file (default: stdout)")

    def run(self, args: argparse.Namespace) -> int:
        from msk_privatelink.cli.main import load_cluster
        from msk_privatelink.cli.status import status_of
        from msk_privatelink.reconcile.reconciler import Reconciler
        from msk_privatelink.topology.model import topology_of

        config, clients = load_cluster(args)
        status = status_of(Reconciler(clients), config)
        subnets = sorted({b["subnet_id"] for b in status["brokers"] if b["subnet_id"]})
        topology = topology_of(status, zones_of(clients, subnets))
        text = render(topology, "json" if args.output == "json" else args.format)
        if args.out is None:
            sys.stdout.write(text)
        else:
            args.out.write_text(text, encoding="utf-8")
            print(f"wrote {args.out}")
        return 0


def render(topology: Topology, form: str) -> str:
    if form == "json":
        return json.dumps(topology.to_dict(), indent=2) + "\n"
    if form == "svg":
        from msk_privatelink.topology.svg import render_svg

        return render_svg(topology)
    from msk_privatelink.topology.mermaid import render_mermaid

    return render_mermaid(topology)


def zones_of(clients: AwsClients, subnet_ids: list[str]) -> dict[str, str]:
    """Availability Zone by subnet id (one DescribeSubnets)."""
    if not subnet_ids:
        return {}
    from botocore.exceptions import ClientError

    from msk_privatelink.aws.errors import translate

    try:
        answer = clients.ec2.describe_subnets(SubnetIds=subnet_ids)
    except ClientError as exc:
        raise translate(exc, "DescribeSubnets") from exc
    return {s["SubnetId"]: s["AvailabilityZone"] for s in answer["Subnets"]}


COMMAND = DiagramCommand()
