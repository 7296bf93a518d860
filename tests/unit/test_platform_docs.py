"""The platform team's docs stay true of the code: links resolve, every
`msk-privatelink <command>` and its flags exist, every template parameter the
deployment checklist names exists, and every metric, alarm and log line the
troubleshooting tables name is one the code emits or the templates define."""

from __future__ import annotations

import argparse
import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any, get_args

import pytest

from tests.template.support import CONSUMER_TEMPLATE, PROVIDER_TEMPLATE, load_template

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
NEW_DOCS = ("patterns.md", "network-path.md", "clients.md", "deployment.md", "troubleshooting.md")

FENCE_RE = re.compile(r"^[ \t]*```.*?^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE_RE = re.compile(r"`[^`]+`")
LINK_RE = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)")
HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
COMMAND_RE = re.compile(r"\bmsk-privatelink[ \t]+([a-z][a-z-]*)")
FLAG_RE = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
CAMEL_RE = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+")


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def without_code(text: str) -> str:
    """Prose only: fenced blocks and inline code removed (links there are examples)."""
    return INLINE_CODE_RE.sub("", FENCE_RE.sub("", text))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower case,
    punctuation other than hyphens removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, title in HEADING_RE.findall(FENCE_RE.sub("", path.read_text(encoding="utf-8"))):
        slug = github_slug(title)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)


def links(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in LINK_RE.finditer(without_code(path.read_text()))]


def check_link(source: Path, target: str) -> str | None:
    """None when ``target`` resolves from ``source``, else why not."""
    if re.match(r"[a-z][a-z0-9+.-]*:", target):
        return None  # an absolute URL (https:, mailto:): not ours to check
    file_part, _, anchor = target.partition("#")
    resolved = (source.parent / file_part).resolve() if file_part else source
    relative = resolved.relative_to(REPO).as_posix() if resolved.is_relative_to(REPO) else None
    if not resolved.exists():
        return f"{target}: no file {resolved}"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"{target}: no heading with anchor #{anchor} in {relative}"
    return None


@pytest.mark.parametrize("name", NEW_DOCS)
def test_every_relative_link_resolves(name: str) -> None:
    source = DOCS / name
    found = links(source)
    assert found, f"{name} links nothing"
    problems = [p for _, target in found if (p := check_link(source, target))]
    assert not problems, problems


def test_readme_lists_the_new_docs_and_its_links_resolve() -> None:
    readme = REPO / "README.md"
    targets = {target for _, target in links(readme)}
    assert {f"docs/{name}" for name in NEW_DOCS} <= targets
    problems = [p for target in sorted(targets) if (p := check_link(readme, target))]
    assert not problems, problems


def test_the_slug_function_matches_known_github_anchors() -> None:
    # Anchors the existing docs already link to and GitHub resolves.
    assert (
        github_slug("IAM, proven per function (`tests/iam`)") == "iam-proven-per-function-testsiam"
    )
    assert github_slug("shared-nlb") == "shared-nlb"
    assert "iam-proven-per-function-testsiam" in anchors(DOCS / "architecture.md")


# -- the command line -----------------------------------------------------------


@cache
def subcommands() -> dict[str, argparse.ArgumentParser]:
    from msk_privatelink.cli.main import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("msk-privatelink has no subcommands")


def code_spans(text: str) -> list[str]:
    """Every command line a reader may copy: fenced lines (backslash
    continuations joined) and inline code spans."""
    spans: list[str] = []
    for block in FENCE_RE.findall(text):
        spans.extend(block.replace("\\\n", " ").splitlines())
    spans.extend(m.group(0).strip("`") for m in INLINE_CODE_RE.finditer(FENCE_RE.sub("", text)))
    return spans


def commands_named(text: str) -> set[str]:
    return set(COMMAND_RE.findall(text))


@pytest.mark.parametrize("name", NEW_DOCS)
def test_every_command_named_exists(name: str) -> None:
    known = set(subcommands())
    unknown = commands_named(read(name)) - known
    assert not unknown, f"{name} names msk-privatelink {sorted(unknown)}; known: {sorted(known)}"


@pytest.mark.parametrize("name", NEW_DOCS)
def test_every_flag_given_to_a_command_exists(name: str) -> None:
    problems = []
    for span in code_spans(read(name)):
        for match in COMMAND_RE.finditer(span):
            command = match.group(1)
            parser = subcommands().get(command)
            if parser is None:
                continue  # an unknown command: test_every_command_named_exists says so
            rest = COMMAND_RE.split(span[match.end() :], maxsplit=1)[0]
            options = set(parser._option_string_actions)
            problems += [f"{command} {f}" for f in FLAG_RE.findall(rest) if f not in options]
    assert not problems, f"{name}: unknown flags {problems}"


def test_the_docs_name_the_commands_a_platform_team_runs() -> None:
    named = set().union(*(commands_named(read(n)) for n in NEW_DOCS))
    assert {"status", "plan", "apply", "destroy", "doctor"} <= named


# -- the templates ----------------------------------------------------------------


@cache
def templates() -> tuple[dict[str, Any], dict[str, Any]]:
    return load_template(PROVIDER_TEMPLATE), load_template(CONSUMER_TEMPLATE)


def template_names(section: str) -> set[str]:
    return {name for t in templates() for name in t.get(section, {})}


def asl_names() -> set[str]:
    """States and the errors the state machines end with."""
    names: set[str] = set()
    for path in sorted((REPO / "statemachines").glob("*.asl.json")):
        for state_name, state in json.loads(path.read_text())["States"].items():
            names.add(state_name)
            if isinstance(state.get("Error"), str):
                names.add(state["Error"])
    return names


def table_first_cells(text: str, header: str) -> list[str]:
    """First-column cells of every table whose first header cell is ``header``."""
    cells: list[str] = []
    in_table = wanted = False
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        first = line.strip().strip("|").split("|")[0].strip()
        if not in_table:
            in_table, wanted = True, first == header
        elif wanted and not set(first) <= set("-: "):
            cells.append(first)
    return cells


def backticked(cell: str) -> list[str]:
    return [m.strip("`") for m in re.findall(r"`[^`]+`", cell)]


def test_every_parameter_in_the_deployment_checklist_exists() -> None:
    text = read("deployment.md")
    parameters = template_names("Parameters")
    named = [n for cell in table_first_cells(text, "parameter") for n in backticked(cell)]
    for line in text.splitlines():
        if "parameter_overrides" in line:
            named += re.findall(r"(?:^|[\s\"])([A-Z][A-Za-z]+)=", line)
    assert len(named) > 20, named
    unknown = sorted(set(named) - parameters)
    assert not unknown, f"not parameters of template.yaml or consumer/template.yaml: {unknown}"


def test_every_stack_name_in_the_deployment_checklist_exists() -> None:
    """Parameters, outputs, resources, workflow states and errors: every
    backticked CamelCase name the checklist gives is one of them."""
    known = (
        template_names("Parameters")
        | template_names("Outputs")
        | template_names("Resources")
        | template_names("Rules")
        | asl_names()
    )
    text = read("deployment.md")
    named = {
        span
        for span in (m.strip("`") for m in INLINE_CODE_RE.findall(text))
        if CAMEL_RE.fullmatch(span)
    }
    unknown = sorted(named - known)
    assert not unknown, unknown


@pytest.mark.parametrize("name", NEW_DOCS)
def test_every_alarm_named_exists(name: str) -> None:
    resources = template_names("Resources")
    alarms = {
        s for s in (m.strip("`") for m in INLINE_CODE_RE.findall(read(name))) if s.endswith("Alarm")
    }
    assert not sorted(alarms - resources)


# -- metrics and log lines ----------------------------------------------------------


def python_sources() -> list[Path]:
    return sorted((REPO / "functions").glob("*/app.py")) + sorted(
        (REPO / "layers" / "core" / "msk_privatelink").rglob("*.py")
    )


def emitted_metrics() -> tuple[set[str], dict[str, set[str] | None]]:
    """Names passed to ``add_metric``: literals, and for f-strings their
    prefix with the suffixes the code can put there (None: any)."""
    literal: set[str] = set()
    prefixes: dict[str, set[str] | None] = {}
    for path in sorted((REPO / "functions").glob("*/app.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_metric"
                and node.args
            ):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                literal.add(first.value)
            elif isinstance(first, ast.JoinedStr) and isinstance(first.values[0], ast.Constant):
                prefixes[str(first.values[0].value)] = None
    return literal, {**prefixes, **dynamic_suffixes(set(prefixes))}


def dynamic_suffixes(prefixes: set[str]) -> dict[str, set[str] | None]:
    from msk_privatelink.advertised.outcome import AdvertisedStatus
    from msk_privatelink.onboarding.callback import Verdict

    tasks = ast.parse((REPO / "functions" / "onboarding_tasks" / "app.py").read_text())
    steps = next(
        {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
        for node in ast.walk(tasks)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "STEPS"
        and isinstance(node.value, ast.Dict)
    )
    known: dict[str, set[str] | None] = {
        "Callback_": set(get_args(Verdict)),
        "BrokerOverride_": {s.value for s in AdvertisedStatus},
        "Step_": {str(s) for s in steps},
    }
    return {p: known[p] for p in prefixes if p in known}


def metrics_named_in_troubleshooting() -> set[str]:
    text = read("troubleshooting.md")
    section = text[text.index("\n## Metrics") :]
    named = {n for cell in table_first_cells(section, "metric") for n in backticked(cell)}
    named |= set(re.findall(r"\bmetrics? `([\w-]+)`", text))
    return {n for n in named if "<" not in n}


def test_every_metric_in_troubleshooting_is_emitted_by_the_code() -> None:
    literal, prefixes = emitted_metrics()
    named = metrics_named_in_troubleshooting()
    assert len(named) > 20, named

    def emitted(name: str) -> bool:
        if name in literal:
            return True
        for prefix, suffixes in prefixes.items():
            if name.startswith(prefix):
                rest = name[len(prefix) :]
                return (suffixes is None and bool(rest)) or (
                    suffixes is not None and rest in suffixes
                )
        return False

    assert not sorted(n for n in named if not emitted(n))


def test_every_metric_the_code_emits_is_in_the_metrics_table() -> None:
    literal, _ = emitted_metrics()
    assert not sorted(literal - metrics_named_in_troubleshooting())


def string_patterns() -> tuple[set[str], list[re.Pattern[str]]]:
    """Every string constant in the code, and every f-string as a pattern."""
    constants: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for path in python_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                constants.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                fixed = [str(v.value) for v in node.values if isinstance(v, ast.Constant)]
                if sum(map(len, fixed)) < 5:
                    continue  # too little fixed text to say anything
                parts = [
                    re.escape(str(v.value)) if isinstance(v, ast.Constant) else ".+"
                    for v in node.values
                ]
                patterns.append(re.compile("".join(parts), re.DOTALL))
    return constants, patterns


def test_every_log_line_quoted_in_troubleshooting_is_written_by_the_code() -> None:
    quoted = set(re.findall(r"\blog `([^`]+)`", read("troubleshooting.md")))
    assert len(quoted) > 10, quoted
    constants, patterns = string_patterns()
    missing = sorted(
        q for q in quoted if q not in constants and not any(p.fullmatch(q) for p in patterns)
    )
    assert not missing, missing
