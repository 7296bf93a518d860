"""plan shows every change with its impact (MSK configuration rollouts
included), --detailed-exitcode, and apply asks before it deletes or restarts."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from msk_privatelink.kernel.naming import load_balancer_name
from tests.cli.test_cli import Run, table_rows, write_config
from tests.integration.harness import CallCounter, World, world

pytestmark = pytest.mark.integration


@pytest.fixture
def w() -> Iterator[World]:
    with world() as created:
        yield created


@pytest.fixture
def config_file(w: World, tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "orders.yaml", {"cluster_arn": w.cluster_arn, "auth_schemes": ["sasl_iam"]}
    )


class Terminal(io.StringIO):
    """A stdin that is a terminal, with the operator's answer typed in."""

    def isatty(self) -> bool:
        return True


def scale_in(w: World, cli: Callable[..., Run], config_file: Path) -> None:
    w.aws.msk.scale(w.cluster_arn, 6)
    assert cli("apply", "--config", str(config_file)).code == 0
    w.aws.msk.scale(w.cluster_arn, 3)


def test_detailed_exitcode_is_2_with_changes_and_0_without(
    w: World, cli: Callable[..., Run], config_file: Path
) -> None:
    assert cli("plan", "--config", str(config_file), "--detailed-exitcode").code == 2
    assert cli("plan", "--config", str(config_file)).code == 0
    assert cli("apply", "--config", str(config_file)).code == 0
    assert cli("plan", "--config", str(config_file), "--detailed-exitcode").code == 0
    bad = cli("plan", "--cluster-arn", "orders", "--detailed-exitcode")
    assert bad.code == 1


def test_a_scale_in_plan_names_whose_endpoints_go(
    w: World, cli: Callable[..., Run], config_file: Path
) -> None:
    scale_in(w, cli, config_file)

    run = cli("plan", "--config", str(config_file))
    document = json.loads(cli("plan", "--config", str(config_file), "--output", "json").out)

    assert "Impact:" in run.out
    for broker in (4, 5, 6):
        assert f"consumers of broker {broker} lose their endpoint" in run.out
    impacts = {
        c["key"]: c["impact"] for c in document["changes"] if c["step"] == "delete_endpoint_service"
    }
    assert impacts == {
        load_balancer_name(w.cluster_arn, b): f"consumers of broker {b} lose their endpoint "
        "(it is rejected, then deleted)"
        for b in (4, 5, 6)
    }
    assert all("impact" in c for c in document["changes"])


def test_apply_of_a_disruptive_plan_without_a_terminal_needs_auto_approve(
    w: World, cli: Callable[..., Run], config_file: Path, calls: CallCounter
) -> None:
    scale_in(w, cli, config_file)
    calls.reset()

    refused = cli("apply", "--config", str(config_file))

    assert refused.code == 1
    assert "--auto-approve" in refused.err
    assert "nothing was changed" in refused.err
    assert calls.writes == Counter()
    # The plan was shown first.
    assert table_rows(refused.out)
    done = cli("apply", "--config", str(config_file), "--auto-approve")
    assert done.code == 0, done.err
    assert w.residual_plan_size() == 0


@pytest.mark.parametrize(("answer", "applied"), [("yes\n", True), ("no\n", False), ("y\n", False)])
def test_in_a_terminal_apply_asks_and_only_yes_goes_ahead(
    w: World,
    cli: Callable[..., Run],
    config_file: Path,
    *,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    applied: bool,
) -> None:
    scale_in(w, cli, config_file)
    monkeypatch.setattr("sys.stdin", Terminal(answer))

    run = cli("apply", "--config", str(config_file))

    assert "Apply these changes? Only 'yes' is accepted:" in run.out
    assert (run.code == 0) is applied
    assert (w.residual_plan_size() == 0) is applied
    if not applied:
        assert "Apply cancelled; nothing was changed." in run.out


def test_a_plan_that_only_adds_applies_without_asking(
    w: World, cli: Callable[..., Run], config_file: Path
) -> None:
    run = cli("apply", "--config", str(config_file))
    assert run.code == 0
    assert "Apply these changes?" not in run.out


def test_shared_nlb_plan_shows_the_msk_configuration_rollout_and_its_restart(
    w: World, cli: Callable[..., Run], tmp_path: Path, calls: CallCounter
) -> None:
    config = write_config(
        tmp_path / "shared.yaml",
        {
            "cluster_arn": w.cluster_arn,
            "pattern": "shared-nlb",
            "auth_schemes": ["sasl_iam"],
            "advertised_listeners": {"mode": "msk-configuration"},
        },
    )
    calls.reset()

    run = cli("plan", "--config", str(config))
    document = json.loads(cli("plan", "--config", str(config), "--output", "json").out)

    assert run.code == 0, run.err
    assert "Advertised listeners (msk-configuration):" in run.out
    assert "create msk-configuration" in run.out
    assert "update msk-cluster-configuration" in run.out
    assert "rolling restart of 3 brokers" in run.out
    assert "a rolling restart" in run.out.splitlines()[-1]
    writes = document["advertised"]["writes"]
    assert [(x["action"], x["kind"]) for x in writes] == [
        ("create", "msk-configuration"),
        ("update", "msk-cluster-configuration"),
    ]
    assert calls.writes == Counter()
    # apply asks for it (a restart), then the next plan shows the rollout done.
    assert cli("apply", "--config", str(config)).code == 1
    assert cli("apply", "--config", str(config), "--auto-approve").code == 0
    again = cli("plan", "--config", str(config), "--detailed-exitcode")
    assert again.code == 0, again.out
    assert "the configuration in force advertises the mapping" in again.out


DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")


def documented_fields(command: str) -> set[str]:
    """The first column of the table under `### <command>` in docs/cli.md."""
    section = DOC.split(f"### {command}\n", 1)[1].split("\n### ", 1)[0]
    return {
        line.split("|")[1].strip().strip("`")
        for line in section.splitlines()
        if line.startswith("| `")
    }


def test_every_json_document_has_exactly_the_documented_fields(
    w: World, cli: Callable[..., Run], config_file: Path
) -> None:
    documents = {
        "plan": cli("plan", "--config", str(config_file), "--output", "json"),
        "apply": cli("apply", "--config", str(config_file), "--output", "json"),
        "status": cli("status", "--config", str(config_file), "--output", "json"),
        "destroy": cli("destroy", "--config", str(config_file), "--output", "json"),
        "diagram": cli("diagram", "--config", str(config_file), "--output", "json"),
    }
    for command, run in documents.items():
        assert run.code == 0, (command, run.err)
        keys = set(json.loads(run.out))
        assert keys == documented_fields(command), command


def test_destroy_shows_its_removals_as_it_goes_and_deletes_our_msk_configuration(
    w: World, cli: Callable[..., Run], tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "shared.yaml",
        {
            "cluster_arn": w.cluster_arn,
            "pattern": "shared-nlb",
            "auth_schemes": ["sasl_iam"],
            "advertised_listeners": {"mode": "msk-configuration"},
        },
    )
    assert cli("apply", "--config", str(config), "--auto-approve").code == 0
    kafka = w.aws.client("kafka")
    [ours] = kafka.list_configurations()["Configurations"]

    shown = cli("destroy", "--config", str(config))
    assert "would be deleted" in shown.out
    assert "Run again with --yes" in shown.out

    # The cluster still uses it: the NLB layer goes, the configuration stays.
    run = cli("destroy", "--config", str(config), "--yes")
    assert run.code == 0, run.err
    lines = [x.strip() for x in run.out.splitlines()]
    assert any(x.startswith("applied delete load-balancer ") for x in lines)
    assert f"MSK configuration: {ours['Arn']}: left, a cluster still uses it" in run.out
    assert w.aws.client("elbv2").describe_load_balancers()["LoadBalancers"] == []

    # Once the cluster is gone, destroy removes it.
    kafka.delete_cluster(ClusterArn=w.cluster_arn)
    again = cli("destroy", "--config", str(config), "--yes")
    assert f"MSK configuration: {ours['Arn']}: deleted" in again.out
    assert kafka.list_configurations()["Configurations"] == []
