"""The CLI's development commands, registered as entry points of the
``msk_privatelink.commands`` group (pyproject.toml), so the runtime CLI never
names this package. Importing this module loads neither moto nor the demo:
each command imports what it runs only when it runs."""

from __future__ import annotations

import argparse


class DemoCommand:
    help = "run the whole story on the embedded AWS (no account needed)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        del parser  # no options

    def run(self, args: argparse.Namespace) -> int:
        del args
        from msk_privatelink_dev.demo.story import run_demo

        return run_demo()


class LocalAwsCommand:
    help = "serve the embedded AWS over HTTP"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=4566)

    def run(self, args: argparse.Namespace) -> int:
        from msk_privatelink_dev.embedded.server import serve

        serve(host=args.host, port=args.port, on_listening=announce)
        return 0


def announce(url: str) -> None:
    """What a newcomer needs to point the AWS CLI, boto3 or this CLI at it."""
    print(
        f"Embedded AWS (moto and the MSK simulator) listening on {url}; Ctrl-C stops it.\n"
        "In another shell:\n"
        f"  export AWS_ENDPOINT_URL={url} AWS_DEFAULT_REGION=us-east-1 \\\n"
        "         AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing\n"
        "  aws kafka list-clusters-v2\n"
        "Replace a broker (new ENI and address), as MSK does when it heals one, or scale:\n"
        f"  curl -X POST {url}/_msk_sim/replace-broker "
        """-d '{"cluster_arn": "ARN", "broker_id": 2}'\n"""
        f"  curl -X POST {url}/_msk_sim/scale "
        """-d '{"cluster_arn": "ARN", "count": 6}'""",
        flush=True,
    )


demo = DemoCommand()
local_aws = LocalAwsCommand()
