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

        serve(host=args.host, port=args.port)
        return 0


demo = DemoCommand()
local_aws = LocalAwsCommand()
