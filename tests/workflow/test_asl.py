"""The state machine definitions: asl-validator (npm, pinned in
package-lock.json, installed into ./node_modules) and a graph check.

Graph rules: every Next/Default/Catch target exists, every state is
reachable, every Task retries throttling, and every Task after registration
catches everything into the compensation (onboarding) or into a failure
state (offboarding).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
DEFINITIONS = sorted((REPO / "statemachines").glob("*.asl.json"))
VALIDATOR = REPO / "node_modules" / ".bin" / "asl-validator"
THROTTLING = {"Lambda.TooManyRequestsException", "ThrottledError"}
# Onboarding states that run before anything is written, and the compensation itself.
BEFORE_REGISTRATION = {"Validate", "Register"}
COMPENSATION = "Compensate"


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def targets(state: dict[str, Any]) -> list[str]:
    found = [state[k] for k in ("Next", "Default") if k in state]
    found += [c["Next"] for c in state.get("Choices", [])]
    found += [c["Next"] for c in state.get("Catch", [])]
    return found


def graph_problems(definition: dict[str, Any], *, compensation: str | None) -> list[str]:
    states: dict[str, dict[str, Any]] = definition["States"]
    problems = []
    if definition["StartAt"] not in states:
        problems.append(f"StartAt {definition['StartAt']} does not exist")
    for name, state in states.items():
        problems += [f"{name} -> {t}: no such state" for t in targets(state) if t not in states]
        terminal = state["Type"] in ("Succeed", "Fail") or state.get("End") is True
        if not terminal and not targets(state):
            problems.append(f"{name} leads nowhere")
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        todo += targets(states[name])
    problems += [f"{name} is unreachable" for name in states if name not in seen]
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
        if not retried >= THROTTLING:
            problems.append(f"{name} does not retry throttling")
        catch_all = [c for c in state.get("Catch", []) if "States.ALL" in c["ErrorEquals"]]
        if not catch_all:
            problems.append(f"{name} has no Catch for States.ALL")
        elif (
            compensation is not None
            and name not in BEFORE_REGISTRATION
            and name != compensation
            and catch_all[0]["Next"] != compensation
        ):
            problems.append(f"{name} does not compensate (Catch -> {catch_all[0]['Next']})")
    return problems


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_graph(path: Path) -> None:
    compensation = COMPENSATION if path.name.startswith("onboarding") else None
    assert graph_problems(load(path), compensation=compensation) == []


def test_registration_failures_compensate_unless_nothing_is_ours() -> None:
    states = load(REPO / "statemachines" / "onboarding.asl.json")["States"]
    # Validation wrote nothing; a conflicting tenant is not ours to undo.
    assert states["Validate"]["Catch"][0]["Next"] == "Rejected"
    assert states["Register"]["Catch"][0]["Next"] == "RegistrationFailed"
    choice = states["RegistrationFailed"]
    assert choice["Default"] == COMPENSATION
    assert choice["Choices"][0]["Next"] == "Rejected"
    # The callback wait and the poll take their limits from the input.
    wait = states["RequestConsumerEndpoints"]
    assert wait["Resource"].endswith(".waitForTaskToken")
    assert wait["TimeoutSecondsPath"] == "$.request.callbackTimeoutSeconds"
    assert wait["HeartbeatSecondsPath"] == "$.request.heartbeatSeconds"
    assert states["WaitForConnections"]["SecondsPath"] == "$.request.pollSeconds"
    # An answer about an older view is asked again (bounded in check_answer).
    assert wait["Next"] == "CheckAnswer"
    assert states["AnswerCurrent"]["Choices"][0]["Next"] == "AcceptanceRequired"
    assert states["AnswerCurrent"]["Default"] == "RequestConsumerEndpoints"


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda s: s["AllowConsumer"].update(Next="Nowhere"), "AllowConsumer -> Nowhere"),
        (lambda s: s.update(Orphan={"Type": "Succeed"}), "Orphan is unreachable"),
        (lambda s: s["SubscribeConsumerBus"].pop("Retry"), "does not retry throttling"),
        (lambda s: s["MarkActive"]["Catch"][0].update(Next="Rejected"), "does not compensate"),
        (lambda s: s["MarkActive"].pop("Catch"), "no Catch for States.ALL"),
    ],
)
def test_the_graph_check_finds_broken_definitions(mutate: Any, problem: str) -> None:
    definition = load(REPO / "statemachines" / "onboarding.asl.json")
    mutate(definition["States"])
    assert any(problem in p for p in graph_problems(definition, compensation=COMPENSATION))


def validator() -> Path:
    """./node_modules/.bin/asl-validator, installed from package-lock.json if needed."""
    if VALIDATOR.is_file():
        return VALIDATOR
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        message = "node and npm are needed for asl-validator (package.json)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return VALIDATOR


def run_validator(*paths: Path) -> subprocess.CompletedProcess[str]:
    args = [str(validator())]
    for path in paths:
        args += ["--json-path", str(path)]
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def test_asl_validator_is_pinned() -> None:
    package = json.loads((REPO / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    pinned = package["devDependencies"]["asl-validator"]
    assert pinned[0].isdigit(), "an exact version, no range"
    assert lock["packages"]["node_modules/asl-validator"]["version"] == pinned


def test_every_definition_passes_asl_validator() -> None:
    result = run_validator(*DEFINITIONS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("is valid") == len(DEFINITIONS) == 2


def test_asl_validator_rejects_a_broken_definition(tmp_path: Path) -> None:
    definition = load(REPO / "statemachines" / "offboarding.asl.json")
    definition["States"]["Unsubscribe"]["Type"] = "Teleport"
    broken = tmp_path / "broken.asl.json"
    broken.write_text(json.dumps(definition), encoding="utf-8")

    result = run_validator(broken)

    assert result.returncode != 0
