"""Colour only at a terminal (and never with NO_COLOR), and shell
completion through argcomplete's protocol, as a shell would ask for it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from msk_privatelink.cli.colour import RED, enabled, paint_plan, paint_rows
from msk_privatelink.cli.render import table

REPO = Path(__file__).resolve().parents[2]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_for_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert enabled(Terminal())
    assert not enabled(io.StringIO())  # a pipe or a file
    monkeypatch.setenv("NO_COLOR", "1")
    assert not enabled(Terminal())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not enabled(Terminal())


def test_painted_rows_keep_their_columns() -> None:
    rendered = table(("CHECK", "RESULT"), [("cloudtrail", "WARN"), ("subnets", "FAIL")])

    painted = paint_rows(rendered, [None, RED], on=True)

    lines = painted.split("\n")
    assert lines[:3] == rendered.split("\n")[:3]
    assert lines[3] == f"\033[31m{rendered.split(chr(10))[3]}\033[0m"
    assert paint_rows(rendered, [RED, RED], on=False) == rendered


def test_only_the_plans_impacts_and_guard_are_painted() -> None:
    plan = "\n".join(
        [
            "#  ACTION  KIND",
            "-  ------  ----",
            "1  delete  endpoint-service",
            "Impact:",
            "  #1: consumers of broker 4 lose their endpoint",
            "Plan: 1 delete",
            "Guard: withheld 1 delete",
        ]
    )

    painted = paint_plan(plan, on=True).split("\n")

    assert painted[2] == "1  delete  endpoint-service"
    assert painted[4] == "\033[31m  #1: consumers of broker 4 lose their endpoint\033[0m"
    assert painted[5] == "Plan: 1 delete"
    assert painted[6].startswith("\033[33mGuard:")


def complete(line: str, tmp_path: Path) -> list[str]:
    """What the shell gets back for ``line`` (argcomplete's protocol)."""
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(REPO / d) for d in ("layers/core", "dev")),
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    subprocess.run(
        [sys.executable, "-m", "msk_privatelink", *line.split()[1:]],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    return out.read_text(encoding="utf-8").split()


def test_the_shell_completes_commands_and_options(tmp_path: Path) -> None:
    assert complete("msk-privatelink do", tmp_path) == ["doctor"]
    assert "check-connectivity" in complete("msk-privatelink ", tmp_path)
    assert complete("msk-privatelink plan --detailed", tmp_path) == ["--detailed-exitcode"]
