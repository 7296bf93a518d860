"""The `msk-privatelink` command as a user runs it.

In-process: `cli.main([...])` on the embedded AWS, with every AWS call the
command makes counted. Over HTTP: the embedded AWS served like
`msk-privatelink local-aws`, and the command run as a separate process with
`AWS_ENDPOINT_URL`, exactly as a person would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.handlers
import pytest
import yaml

from msk_privatelink import __version__
from msk_privatelink.cli.main import EXIT_GUARDED, main
from msk_privatelink.kernel.naming import load_balancer_name, target_group_name
from msk_privatelink_dev.embedded.server import start_in_thread
from tests.integration.harness import PREFIX, CallCounter, World, world

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# The runtime and the development package, as the editable install has them.
PACKAGE_PATH = os.pathsep.join(str(REPO / d) for d in ("layers/core", "dev"))
REGION = "us-east-1"
CONSUMER = "arn:aws:iam::111122223333:root"
SUBPROCESS_TIMEOUT = 120
# Every call the CLI makes passes parameter building, even the Kafka calls the
# in-process MSK simulator answers in `before-call`.
COUNTED_EVENT = "before-parameter-build.*.*"


# --------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def table_rows(text: str) -> list[list[str]]:
    """Cells of the first table in `text`, cut at the columns of its dashed rule."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line and set(line) <= {"-", " "})
    spans: list[tuple[int, int]] = []
    start = None
    for i, ch in enumerate(lines[rule] + " "):
        if ch == "-" and start is None:
            start = i
        elif ch != "-" and start is not None:
            spans.append((start, i))
            start = None
    # The last column runs to the end of the line.
    cuts = [(a, spans[n + 1][0] if n + 1 < len(spans) else None) for n, (a, _) in enumerate(spans)]
    rows = []
    for line in lines[rule + 1 :]:
        cells = [line[a:b].strip() for a, b in cuts]
        if not cells[0].isdigit():
            break
        rows.append(cells)
    return rows


def write_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def expected_creates(cluster_arn: str, broker_ids: list[int], port: int) -> set[tuple[str, str]]:
    creates: set[tuple[str, str]] = set()
    for b in broker_ids:
        lb = load_balancer_name(cluster_arn, b)
        creates |= {
            ("target-group", target_group_name(cluster_arn, b, port)),
            ("load-balancer", lb),
            ("listener", f"{lb}:{port}"),
            ("endpoint-service", lb),
        }
    return creates


# ------------------------------------------------------------ in-process CLI


@pytest.fixture
def w() -> Iterator[World]:
    with world() as created:
        yield created


@pytest.fixture
def calls() -> Iterator[CallCounter]:
    """Counts every AWS call of every boto3 session created while it is active.

    The CLI builds its own session, so the counter goes where botocore takes
    the handlers of each new session from, and is removed afterwards.
    """
    counter = CallCounter()
    entry = (COUNTED_EVENT, counter)
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    try:
        yield counter
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    def run(*argv: str) -> Run:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


@pytest.fixture
def config_file(w: World, tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "orders.yaml",
        {"version": 1, "cluster_arn": w.cluster_arn, "auth_schemes": ["sasl_iam"]},
    )


def test_plan_prints_every_create_and_changes_nothing(
    w: World, calls: CallCounter, cli: Callable[..., Run], config_file: Path
) -> None:
    run = cli("plan", "--config", str(config_file))

    assert run.code == 0, run.err
    assert run.err == ""
    assert calls.reads["DescribeClusterV2"] >= 1
    assert calls.reads["ListNodes"] >= 1
    assert calls.writes == Counter(), f"plan made mutating calls: {dict(calls.writes)}"

    rows = table_rows(run.out)
    assert run.out.splitlines()[0].split() == ["#", "ACTION", "KIND", "BROKER", "KEY", "DETAIL"]
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    creates = {(kind, key) for _, action, kind, _, key, _ in rows if action == "create"}
    assert creates == expected_creates(w.cluster_arn, [1, 2, 3], 9098)
    registers = {
        (int(broker), detail) for _, action, _, broker, _, detail in rows if action == "register"
    }
    assert registers == {(b, f"{ip}:9098") for b, ip in w.broker_ips().items()}

    actions = Counter(r[1] for r in rows)
    summary = [line for line in run.out.splitlines() if line.startswith("Plan:")]
    assert summary == ["Plan: " + ", ".join(f"{n} {a}" for a, n in sorted(actions.items()))]
    assert actions["create"] == 12
    assert w.inventory_of_everything()["load_balancers"] == []


def test_plan_json_is_machine_readable(
    w: World, calls: CallCounter, cli: Callable[..., Run], config_file: Path
) -> None:
    run = cli("plan", "--config", str(config_file), "--output", "json")

    assert run.code == 0, run.err
    payload = json.loads(run.out)
    assert payload["cluster_arn"] == w.cluster_arn
    assert payload["cluster_state"] == "ACTIVE"
    assert payload["withheld"] == payload["guard_reasons"] == payload["conflicts"] == []
    changes = payload["changes"]
    assert isinstance(changes, list)
    assert changes
    for change in changes:
        assert {"action", "kind", "key", "broker_id", "detail"} <= change.keys()
        assert change["broker_id"] in (1, 2, 3)
    creates = {(c["kind"], c["key"]) for c in changes if c["action"] == "create"}
    assert creates == expected_creates(w.cluster_arn, [1, 2, 3], 9098)
    assert calls.writes == Counter()


def test_status_before_apply_shows_every_broker_pending(
    w: World, cli: Callable[..., Run], config_file: Path
) -> None:
    run = cli("status", "--config", str(config_file))

    assert run.code == 0, run.err
    rows = table_rows(run.out)
    assert [(int(r[0]), r[1], r[2], r[-1]) for r in rows] == [
        (b, ip, "-", "pending") for b, ip in sorted(w.broker_ips().items())
    ]
    assert "18 pending change(s)" in run.out


def test_apply_converges_with_progress_then_plan_and_status_are_clean(
    w: World, calls: CallCounter, cli: Callable[..., Run], config_file: Path
) -> None:
    planned = json.loads(cli("plan", "--config", str(config_file), "--output", "json").out)
    calls.reset()

    run = cli("apply", "--config", str(config_file))

    assert run.code == 0, run.err
    # The plan first, then the progress in order, then the result: one stream.
    lines = [line.strip() for line in run.out.splitlines() if line.strip()]
    progress = [line for line in lines if line.startswith("applied ")]
    assert progress == [f"applied {c['action']} {c['kind']} {c['key']}" for c in planned["changes"]]
    plan_line = next(i for i, line in enumerate(lines) if line.startswith("Plan: "))
    status_line = lines.index(f"Status: converged, {len(planned['changes'])} change(s) applied")
    assert plan_line < lines.index(progress[0])
    assert lines.index(progress[-1]) < status_line
    assert run.err == ""
    assert "Guard:" not in run.out
    assert calls.writes["CreateLoadBalancer"] == 3
    assert calls.writes["CreateVpcEndpointServiceConfiguration"] == 3
    state = w.inventory_of_everything()
    assert state["load_balancers"] == sorted(
        load_balancer_name(w.cluster_arn, b) for b in (1, 2, 3)
    )
    assert state["endpoint_service_count"] == 3

    calls.reset()
    again = cli("plan", "--config", str(config_file))
    assert again.code == 0
    assert again.out.startswith("No changes")
    assert calls.writes == Counter()

    status = cli("status", "--config", str(config_file))
    assert status.code == 0
    rows = {int(r[0]): r for r in table_rows(status.out)}
    for broker_id, ip in w.broker_ips().items():
        _, shown_ip, lb, service, targets, sync = rows[broker_id]
        assert shown_ip == ip
        assert lb == load_balancer_name(w.cluster_arn, broker_id)
        assert service.startswith("com.amazonaws.vpce.us-east-1.vpce-svc-")
        assert targets == f"{ip}:9098"
        assert sync == "in sync"
    assert "Everything in sync." in status.out
    assert "State ACTIVE, 3 brokers" in status.out


def test_apply_json_output_reports_the_outcome_and_no_progress_lines(
    w: World, cli: Callable[..., Run], config_file: Path
) -> None:
    run = cli("apply", "--config", str(config_file), "--output", "json")

    assert run.code == 0, run.err
    assert run.err == ""
    outcome = json.loads(run.out)
    assert outcome["status"] == "converged"
    assert outcome["applied"] == len(outcome["planned"]) == 18
    assert outcome["published_generation"] is None


def test_apply_reads_the_configuration_from_parameter_store(
    w: World, calls: CallCounter, cli: Callable[..., Run]
) -> None:
    arn = w.cluster_arn

    # No tenant table here: --no-tenants says so (tests/cli/test_cli_tenants.py).
    run = cli("apply", "--cluster-arn", arn, "--parameter-prefix", PREFIX, "--no-tenants")

    assert run.code == 0, run.err
    assert calls.reads["GetParameter"] == 1
    assert "Status: converged, 18 change(s) applied" in run.out
    assert w.residual_plan_size() == 0
    # --stack-name builds the same prefix: /msk-privatelink/<stack>/clusters.
    again = cli("apply", "--cluster-arn", arn, "--stack-name", "test", "--no-tenants")
    assert again.code == 0, again.err
    assert again.out.splitlines() == [
        "No changes: the NLB layer matches the brokers.",
        "Status: unchanged, 0 change(s) applied",
    ]
    missing = cli("plan", "--cluster-arn", arn, "--stack-name", "other")
    assert missing.code == 1
    assert missing.err.startswith("error: no configuration for cluster ")
    assert "/msk-privatelink/other/clusters/demo-cluster" in missing.err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cluster_arn: {arn}\nguard:\n  max_broker_removal_ratio: 2\n",
            "guard.max_broker_removal_ratio: Expected `float` <= 1.0",
        ),
        (
            "cluster_arn: {arn}\nauth_schemes: [kerberos]\n",
            "auth_schemes[0]: Invalid enum value 'kerberos'",
        ),
        ("cluster_arn: {arn}\nacceptance: false\n", "Object contains unknown field `acceptance`"),
        ("cluster_arn: not-an-arn\n", "cluster_arn: not an MSK cluster ARN"),
        ("pattern: nlb-per-broker\n", "Object missing required field `cluster_arn`"),
        ("cluster_arn: [unclosed\n", "is not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
    ],
)
def test_invalid_config_exits_1_naming_the_file_and_the_field(
    tmp_path: Path, cli: Callable[..., Run], text: str, expected: str
) -> None:
    arn = (
        "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
    )
    path = tmp_path / "broken.yaml"
    path.write_text(text.format(arn=arn), encoding="utf-8")

    run = cli("plan", "--config", str(path))

    assert run.code == 1
    assert run.out == ""
    assert run.err.startswith("error: ")
    assert str(path) in run.err
    assert expected in run.err
    assert "Traceback" not in run.err


def test_invalid_json_config_and_missing_file_exit_1(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    path = tmp_path / "orders.json"
    path.write_text(json.dumps({"cluster_arn": "arn:aws:kafka:x", "pattern": "magic"}))

    run = cli("apply", "--config", str(path))

    assert run.code == 1
    assert f"invalid cluster configuration in {path}" in run.err
    # Validation stops at the first problem, in document order: the pattern
    # is decoded before the ARN's own check runs.
    assert "pattern: Invalid enum value 'magic'" in run.err

    gone = tmp_path / "missing.yaml"
    run = cli("status", "--config", str(gone))
    assert run.code == 1
    assert (
        run.err.strip()
        == f"error: cannot read configuration file {gone}: No such file or directory"
    )


def test_unknown_cluster_exits_1_without_writing(
    w: World, calls: CallCounter, cli: Callable[..., Run], tmp_path: Path
) -> None:
    name, _uuid = w.cluster_arn.rsplit("/", 1)
    unknown = f"{name}/00000000-0000-0000-0000-000000000000-1"
    path = write_config(tmp_path / "unknown.yaml", {"cluster_arn": unknown})

    for command in ("plan", "apply", "status"):
        run = cli(command, "--config", str(path))
        assert run.code == 1, command
        assert run.err.strip() == f"error: MSK cluster {unknown} does not exist"
        assert run.out == ""
    assert calls.writes == Counter()


def test_guard_refusal_exits_3_with_the_reason_and_writes_nothing(
    w: World, calls: CallCounter, cli: Callable[..., Run], config_file: Path
) -> None:
    w.aws.msk.set_state(w.cluster_arn, "CREATING")

    plan = cli("plan", "--config", str(config_file))
    assert plan.code == 0
    assert {r[1] for r in table_rows(plan.out)} == {
        "create (withheld)",
        "register (withheld)",
        "update (withheld)",
    }
    assert "Guard: cluster state is CREATING: refusing to change anything" in plan.out

    run = cli("apply", "--config", str(config_file))

    assert run.code == EXIT_GUARDED == 3
    assert run.err == ""
    # The plan first (every change withheld), then the result.
    assert {r[1] for r in table_rows(run.out)} == {r[1] for r in table_rows(plan.out)}
    assert run.out.splitlines()[-3:] == [
        "Status: refused, 0 change(s) applied",
        "Withheld by the guard: 18 change(s)",
        "Guard: cluster state is CREATING: refusing to change anything",
    ]
    assert calls.writes == Counter()
    assert w.inventory_of_everything()["load_balancers"] == []


def test_guard_withholding_a_removal_exits_3_and_marks_it(
    w: World, cli: Callable[..., Run], config_file: Path
) -> None:
    assert cli("apply", "--config", str(config_file)).code == 0
    old_ip = w.broker_ips()[2]
    w.aws.msk.set_state(w.cluster_arn, "HEALING")
    w.aws.msk.replace_broker(w.cluster_arn, 2)
    new_ip = w.broker_ips()[2]
    key = target_group_name(w.cluster_arn, 2, 9098)

    run = cli("apply", "--config", str(config_file))

    assert run.code == EXIT_GUARDED
    assert run.err == ""
    assert f"applied register targets {key}" in [x.strip() for x in run.out.splitlines()]
    assert [(r[1], r[4], r[5]) for r in table_rows(run.out)] == [
        ("register", key, f"{new_ip}:9098"),
        ("deregister (withheld)", key, f"{old_ip}:9098"),
    ]
    assert "Status: guarded, 1 change(s) applied" in run.out
    assert "Guard: cluster state is HEALING: removals wait until it is ACTIVE" in run.out

    w.aws.msk.set_state(w.cluster_arn, "ACTIVE")
    finish = cli("apply", "--config", str(config_file))
    assert finish.code == 0, finish.err
    assert f"applied deregister targets {key}" in [x.strip() for x in finish.out.splitlines()]
    assert w.inventory_of_everything()["target_groups"][key] == [(new_ip, 9098)]


# ----------------------------------------------------------- argument parsing


def test_plan_without_a_configuration_source_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["plan"])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: msk-privatelink plan ")
    assert "one of the arguments --config --cluster-arn is required" in err

    with pytest.raises(SystemExit) as both:
        main(["apply", "--config", "a.yaml", "--cluster-arn", "arn"])
    assert both.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def cli_env(endpoint_url: str | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": PACKAGE_PATH,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        env.pop(name, None)
    env.pop("AWS_ENDPOINT_URL", None)
    if endpoint_url is not None:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def run_module(*argv: str, endpoint_url: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "msk_privatelink", *argv],
        env=cli_env(endpoint_url),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def test_version_and_help_as_a_process() -> None:
    version = run_module("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"msk-privatelink {__version__}"

    helped = run_module("--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: msk-privatelink ")
    for command in ("plan", "apply", "status", "demo", "local-aws"):
        assert command in helped.stdout

    usage = run_module("plan")
    assert usage.returncode == 2
    assert usage.stdout == ""
    assert "usage: msk-privatelink plan" in usage.stderr
    assert "Traceback" not in usage.stderr


def test_missing_credentials_is_an_error_message_not_a_traceback(tmp_path: Path) -> None:
    arn = (
        "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
    )
    path = write_config(tmp_path / "orders.yaml", {"cluster_arn": arn})
    env = cli_env()
    # No credential source at all, so the call fails at signing, before any
    # request: no instance or container metadata, no network.
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        env.pop(name, None)
    env["AWS_EC2_METADATA_DISABLED"] = "true"

    run = subprocess.run(
        [sys.executable, "-m", "msk_privatelink", "plan", "--config", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )

    assert run.returncode == 1
    first, hint = run.stderr.strip().splitlines()
    assert first == "error: Unable to locate credentials"
    assert hint.startswith("hint: give AWS credentials the usual way")
    assert run.stdout == ""


# ------------------------------------------------------------------ over HTTP


def post_json(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        raw = response.read()
    return json.loads(raw) if raw.strip().startswith(b"{") else {}


@dataclass(frozen=True)
class HttpWorld:
    url: str
    cluster_arn: str
    config_path: Path

    def client(self, service: str) -> Any:
        return boto3.Session(region_name=REGION).client(service, endpoint_url=self.url)  # type: ignore[call-overload]

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return run_module(*argv, endpoint_url=self.url)

    def broker_ips(self) -> dict[int, str]:
        nodes = self.client("kafka").list_nodes(ClusterArn=self.cluster_arn)["NodeInfoList"]
        return {
            int(n["BrokerNodeInfo"]["BrokerId"]): n["BrokerNodeInfo"]["ClientVpcIpAddress"]
            for n in nodes
        }


@pytest.fixture
def local_aws() -> Iterator[str]:
    """The embedded AWS over HTTP in a thread, starting and ending with an empty moto."""
    url, stop = start_in_thread(port=0)
    try:
        # The thread's moto shares this process's backends: start from nothing,
        # and leave nothing behind for the next test.
        post_json(f"{url}/moto-api/reset")
        yield url
    finally:
        try:
            post_json(f"{url}/moto-api/reset")
        finally:
            stop()


@pytest.fixture
def http_world(local_aws: str, tmp_path: Path) -> HttpWorld:
    session = boto3.Session(region_name=REGION)
    ec2 = session.client("ec2", endpoint_url=local_aws)
    kafka = session.client("kafka", endpoint_url=local_aws)
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.9.{16 * i}.0/20", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate(("us-east-1a", "us-east-1b", "us-east-1c"))
    ]
    arn = kafka.create_cluster_v2(
        ClusterName="orders",
        Provisioned={
            "BrokerNodeGroupInfo": {"ClientSubnets": subnets, "InstanceType": "kafka.m5.large"},
            "KafkaVersion": "3.9.x",
            "NumberOfBrokerNodes": 3,
            "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}},
        },
    )["ClusterArn"]
    path = write_config(
        tmp_path / "orders.yaml",
        {"version": 1, "cluster_arn": arn, "allowed_principals": [CONSUMER]},
    )
    return HttpWorld(local_aws, arn, path)


def test_cli_process_against_the_http_embedded_aws(http_world: HttpWorld) -> None:
    hw = http_world
    arn = hw.cluster_arn
    elbv2 = hw.client("elbv2")

    planned = hw.cli("plan", "--config", str(hw.config_path), "--output", "json")
    assert planned.returncode == 0, planned.stderr
    creates = {
        (c["kind"], c["key"])
        for c in json.loads(planned.stdout)["changes"]
        if c["action"] == "create"
    }
    assert creates == expected_creates(arn, [1, 2, 3], 9098)
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []

    applied = hw.cli("apply", "--config", str(hw.config_path))
    assert applied.returncode == 0, applied.stderr
    assert "Status: converged" in applied.stdout
    assert applied.stdout.count("  applied create load-balancer ") == 3

    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    assert sorted(lb["LoadBalancerName"] for lb in lbs) == [
        load_balancer_name(arn, b) for b in (1, 2, 3)
    ]
    assert {lb["Type"] for lb in lbs} == {"network"}
    assert {lb["Scheme"] for lb in lbs} == {"internal"}
    services = hw.client("ec2").describe_vpc_endpoint_service_configurations()[
        "ServiceConfigurations"
    ]
    assert len(services) == 3
    for service in services:
        allowed = hw.client("ec2").describe_vpc_endpoint_service_permissions(
            ServiceId=service["ServiceId"]
        )["AllowedPrincipals"]
        assert [p["Principal"] for p in allowed] == [CONSUMER]

    # MSK heals broker 2: same id, new ENI and IP.
    old_ip = hw.broker_ips()[2]
    answer = post_json(f"{hw.url}/_msk_sim/replace-broker", {"cluster_arn": arn, "broker_id": 2})
    new_ip = answer["ip_address"]
    assert new_ip != old_ip

    replan = hw.cli("plan", "--config", str(hw.config_path), "--output", "json")
    assert replan.returncode == 0, replan.stderr
    key = target_group_name(arn, 2, 9098)
    assert [
        (c["action"], c["kind"], c["key"], c["broker_id"], c["detail"])
        for c in json.loads(replan.stdout)["changes"]
    ] == [
        ("register", "targets", key, 2, f"{new_ip}:9098"),
        ("deregister", "targets", key, 2, f"{old_ip}:9098"),
    ]

    follow = hw.cli("apply", "--config", str(hw.config_path))
    assert follow.returncode == 0, follow.stderr
    assert "Status: converged, 2 change(s) applied" in follow.stdout
    tg_arn = elbv2.describe_target_groups(Names=[key])["TargetGroups"][0]["TargetGroupArn"]
    health = elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    assert [(d["Target"]["Id"], d["Target"]["Port"]) for d in health] == [(new_ip, 9098)]

    settled = hw.cli("plan", "--config", str(hw.config_path))
    assert settled.returncode == 0, settled.stderr
    assert settled.stdout.startswith("No changes")

    status = hw.cli("status", "--config", str(hw.config_path))
    assert status.returncode == 0, status.stderr
    rows = {int(r[0]): (r[1], r[-1]) for r in table_rows(status.stdout)}
    assert rows == {b: (ip, "in sync") for b, ip in hw.broker_ips().items()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"local-aws exited with {process.returncode}: {log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"local-aws did not listen on {port} within 60 s: {log.read_text()}")
            time.sleep(0.05)


AS_FROM_A_SHELL = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from msk_privatelink.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.fixture
def local_aws_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    log = tmp_path / "local-aws.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            # `msk-privatelink local-aws` with Ctrl-C raising KeyboardInterrupt as
            # from a shell, whatever the test runner's worker did with SIGINT
            # (a child inherits "ignored").
            [sys.executable, "-c", AS_FROM_A_SHELL, "local-aws", "--port", str(port)],
            env=cli_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(process, port, log)
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_local_aws_command_serves_until_interrupted(
    local_aws_process: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, url, log = local_aws_process
    session = boto3.Session(region_name=REGION)

    kafka = session.client("kafka", endpoint_url=url)
    ec2 = session.client("ec2", endpoint_url=url)
    assert kafka.list_clusters_v2()["ClusterInfoList"] == []
    assert ec2.describe_vpcs()["Vpcs"]  # moto's default VPC
    # The clients let go of their kept-alive connections, as a finished
    # command's would, before Ctrl-C.
    kafka.close()
    ec2.close()

    process.send_signal(signal.SIGINT)  # Ctrl-C
    # A bound, not a timing check: a busy machine may take a while to exit.
    assert process.wait(timeout=60) == 0, log.read_text()
    printed = log.read_text()
    assert "Traceback" not in printed
    # It says where it listens, how to point clients at it and how to act as MSK.
    assert f"listening on {url}" in printed
    assert f"export AWS_ENDPOINT_URL={url}" in printed
    assert f"{url}/_msk_sim/replace-broker" in printed


def test_status_json_is_the_status_not_the_plan(
    w: World, cli: Callable[..., Run], config_file: Path
) -> None:
    assert cli("apply", "--config", str(config_file)).code == 0

    run = cli("status", "--config", str(config_file), "--output", "json")

    assert run.code == 0, run.err
    status = json.loads(run.out)
    assert "changes" not in status
    assert status["pattern"] == "nlb-per-broker"
    assert status["pending_changes"] == 0
    brokers = {b["broker_id"]: b for b in status["brokers"]}
    assert {b: x["ip"] for b, x in brokers.items()} == w.broker_ips()
    for broker_id, broker in brokers.items():
        assert broker["load_balancers"] == [load_balancer_name(w.cluster_arn, broker_id)]
        assert broker["listeners"] == [
            {
                "scheme": "sasl_iam",
                "load_balancer": load_balancer_name(w.cluster_arn, broker_id),
                "port": 9098,
            }
        ]
        assert broker["targets"] == [f"{broker['ip']}:9098"]
        assert broker["sync"] == "in sync"
        assert len(broker["endpoint_services"]) == 1
    assert len(status["load_balancers"]) == len(status["endpoint_services"]) == 3
    assert status["bootstrap"] == []


def test_shared_nlb_status_shows_ports_and_bootstrap_listeners(
    w: World, cli: Callable[..., Run], tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "shared.yaml",
        {
            "version": 1,
            "cluster_arn": w.cluster_arn,
            "pattern": "shared-nlb",
            "auth_schemes": ["sasl_iam"],
        },
    )
    assert cli("apply", "--config", str(config)).code == 0

    run = cli("status", "--config", str(config))

    assert run.code == 0, run.err
    assert "(shared-nlb)" in run.out
    header = next(line for line in run.out.splitlines() if line.startswith("BROKER"))
    assert header.split()[:6] == ["BROKER", "IP", "LOAD", "BALANCER", "ENDPOINT", "SERVICE"]
    assert "PORTS" in header
    rows = {int(r[0]): r for r in table_rows(run.out)}
    for broker_id in w.broker_ips():
        assert rows[broker_id][4] == f"sasl_iam:{9000 + broker_id}"
    assert "Bootstrap listeners: sasl_iam 9098" in run.out


def test_status_works_when_no_plan_can_be_made(
    w: World, cli: Callable[..., Run], tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "shared.yaml",
        {
            "version": 1,
            "cluster_arn": w.cluster_arn,
            "pattern": "shared-nlb",
            "auth_schemes": ["sasl_iam"],
            "shared_nlb": {"listener_quota": 4},
        },
    )
    w.aws.msk.scale(w.cluster_arn, 6)
    assert cli("apply", "--config", str(config)).code == 0  # 3 brokers per load balancer
    # Dropping listener_quota would move brokers 4-6 to the first load
    # balancer: plan and apply refuse, status still shows.
    config.write_text(config.read_text().replace("listener_quota: 4", "max_brokers: 60"))
    assert cli("plan", "--config", str(config)).code != 0

    run = cli("status", "--config", str(config), "--output", "json")

    assert run.code == 0, run.err
    status = json.loads(run.out)
    assert len(status["brokers"]) == 6
    assert "would move 3 broker(s)" in status["plan_error"]
    assert status["pending_changes"] is None
    assert {len(b["load_balancers"]) for b in status["brokers"]} == {1}
    assert len({lb["name"] for lb in status["load_balancers"]}) == 2
    table = cli("status", "--config", str(config))
    assert "No plan can be made: " in table.out


def test_a_region_other_than_the_clusters_is_refused_naming_both(
    w: World, calls: CallCounter, cli: Callable[..., Run], config_file: Path
) -> None:
    run = cli("plan", "--config", str(config_file), "--region", "eu-west-1")

    assert run.code == 1
    assert "is in us-east-1, not in --region eu-west-1" in run.err
    assert "use --region us-east-1" in run.err
    assert sum(calls.reads.values()) + sum(calls.writes.values()) == 0


def test_a_malformed_cluster_arn_is_an_error_not_a_traceback(cli: Callable[..., Run]) -> None:
    run = cli("status", "--cluster-arn", "orders")

    assert run.code == 1
    assert "'orders' is not an MSK cluster ARN" in run.err


def run_cli_process(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "msk_privatelink", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"


def test_an_unreachable_endpoint_fails_with_a_hint() -> None:
    result = run_cli_process(
        cli_env(endpoint_url=f"http://127.0.0.1:{free_port()}"), "status", "--cluster-arn", ARN
    )

    assert result.returncode == 1, result.stderr
    assert "hint: the endpoint did not answer" in result.stderr
    assert "Traceback" not in result.stderr
