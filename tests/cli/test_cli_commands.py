"""The runtime commands kept in modules of their own (doctor, cost,
check-connectivity, diagram) are reached through `msk-privatelink` itself,
with its error handling: a bad input is one `error:` line and exit 1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from msk_privatelink.cli.main import BUILTIN_COMMANDS, build_parser
from tests.cli.test_cli import Run, write_config
from tests.integration.harness import World, world

pytestmark = pytest.mark.integration


@pytest.fixture
def w() -> Iterator[World]:
    with world() as created:
        yield created


def test_every_runtime_command_is_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert {name for name, _ in BUILTIN_COMMANDS} == {
        "check-connectivity",
        "cost",
        "diagram",
        "doctor",
    }
    for name, _ in BUILTIN_COMMANDS:
        with pytest.raises(SystemExit) as shown:
            build_parser().parse_args([name, "--help"])
        assert shown.value.code == 0
        assert f"usage: msk-privatelink {name}" in capsys.readouterr().out


def test_cost_from_figures_through_the_main_command(cli: Callable[..., Run]) -> None:
    run = cli(
        "cost",
        "--brokers", "6", "--azs", "3", "--schemes", "1",
        "--consumer-accounts", "2", "--consumer-regions", "1",
        "--gb-per-month", "100", "--output", "json",
    )  # fmt: skip

    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert document["region"] == "us-east-1"


def test_a_bad_input_is_one_error_line_and_exit_1(cli: Callable[..., Run]) -> None:
    run = cli("cost", "--gb-per-month", "1")

    assert run.code == 1
    assert run.err.startswith("error: give --brokers N")


def test_check_connectivity_names_the_failing_step(cli: Callable[..., Run]) -> None:
    run = cli("check-connectivity", "--brokers", "b-1.nothing.invalid:9098", "--output", "json")

    assert run.code == 1
    (result,) = json.loads(run.out)["results"]
    assert result["step"] == "dns"


def test_doctor_runs_against_the_embedded_account(
    w: World, cli: Callable[..., Run], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "orders.yaml", {"version": 1, "cluster_arn": w.cluster_arn})

    run = cli("doctor", "--config", str(config), "--output", "json")

    # The embedded cluster's security group admits nothing yet (a failure),
    # and the account has no trail (a warning): each with its fix.
    assert run.code == 1, run.out
    checks = {c["check"]: c for c in json.loads(run.out)["checks"]}
    assert checks["security-groups"]["result"] == "fail"
    assert checks["cloudtrail"]["result"] == "warn"
    assert checks["security-groups"]["fix"]
    assert checks["cloudtrail"]["fix"]
