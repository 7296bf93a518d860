"""Colour for people at a terminal, never for pipes, files or scripts.

Plain ANSI SGR codes: every terminal the CLI meets understands them, so no
library is needed. Off unless the stream is a terminal, and off whenever
NO_COLOR is set (https://no-color.org) or TERM is "dumb". Rows are painted
whole after the table is laid out, so the codes never shift its columns.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

RED = "31"
GREEN = "32"
YELLOW = "33"


def enabled(stream: TextIO) -> bool:
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, code: str | None, on: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if on and code else text


def paint_rows(rendered: str, codes: Sequence[str | None], on: bool) -> str:
    """A table from cli/render.py `table` with its data rows painted, one
    code (or None) per row, in order; the header and rule stay plain."""
    if not on:
        return rendered
    lines = rendered.split("\n")
    for i, code in enumerate(codes):
        if 2 + i < len(lines):
            lines[2 + i] = paint(lines[2 + i], code, on)
    return "\n".join(lines)


def paint_plan(rendered: str, on: bool) -> str:
    """A plan from cli/render.py `render_plan` with who-notices-what (the
    Impact section) in red and the guard's verdict in yellow."""
    if not on:
        return rendered
    out = []
    in_impacts = False
    for line in rendered.split("\n"):
        if line == "Impact:":
            in_impacts = True
        elif not line.startswith("  "):
            in_impacts = False
        code = None
        if in_impacts and line.startswith("  "):
            code = RED
        elif line.startswith("Guard: "):
            code = YELLOW
        out.append(paint(line, code, on))
    return "\n".join(out)
