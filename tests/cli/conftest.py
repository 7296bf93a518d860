"""Fixtures of tests/cli/test_cli.py shared with the other CLI suites."""

from tests.cli.test_cli import calls, cli

__all__ = ["calls", "cli"]
