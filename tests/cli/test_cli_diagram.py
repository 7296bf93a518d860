"""`msk-privatelink diagram`: the live topology as Mermaid, SVG and JSON,
drawn from what exists on the embedded AWS, with no write."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from msk_privatelink.kernel.naming import load_balancer_name, shared_load_balancer_name
from tests.cli.test_cli import CONSUMER, Run, write_config
from tests.integration.harness import CallCounter, World, world

pytestmark = pytest.mark.integration

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def w() -> Iterator[World]:
    with world() as created:
        yield created


def config_of(w: World, tmp_path: Path, **extra: object) -> Path:
    return write_config(
        tmp_path / "orders.yaml",
        {
            "version": 1,
            "cluster_arn": w.cluster_arn,
            "auth_schemes": ["sasl_iam"],
            "allowed_principals": [CONSUMER],
            **extra,
        },
    )


def zones_of(w: World) -> set[str]:
    subnets = w.aws.client("ec2").describe_subnets(SubnetIds=list(w.subnet_ids))["Subnets"]
    return {s["AvailabilityZone"] for s in subnets}


def test_mermaid_shows_consumers_services_balancers_and_brokers_by_zone(
    w: World, calls: CallCounter, cli: Callable[..., Run], tmp_path: Path
) -> None:
    config = config_of(w, tmp_path)
    assert cli("apply", "--config", str(config), "--auto-approve").code == 0
    calls.reset()

    run = cli("diagram", "--config", str(config))

    assert run.code == 0, run.err
    assert calls.writes == Counter()
    text = run.out
    assert text.startswith("flowchart LR\n")
    # The consumer account, one subgraph per zone holding its brokers.
    assert '["111122223333"]' in text
    for zone in zones_of(w):
        assert f'["{zone}"]' in text
    for broker_id, ip in w.broker_ips().items():
        assert f'["broker {broker_id}<br/>{ip}"]' in text
        lb = re.sub(r"[^A-Za-z0-9_]", "_", load_balancer_name(w.cluster_arn, broker_id))
        # The broker's listener leads to it, labelled with scheme and port.
        assert f'lb_{lb} -->|"sasl_iam 9098"| b_{broker_id}' in text
    services = w.aws.client("ec2").describe_vpc_endpoint_service_configurations()[
        "ServiceConfigurations"
    ]
    assert len(services) == 3
    for svc in services:
        node = re.sub(r"[^A-Za-z0-9_]", "_", svc["ServiceName"])
        assert f"c_arn_aws_iam__111122223333_root --> s_{node}" in text


def test_svg_is_a_standalone_picture_with_every_broker(
    w: World, cli: Callable[..., Run], tmp_path: Path
) -> None:
    config = config_of(w, tmp_path)
    assert cli("apply", "--config", str(config), "--auto-approve").code == 0
    out = tmp_path / "topology.svg"

    run = cli("diagram", "--config", str(config), "--format", "svg", "--out", str(out))

    assert run.code == 0, run.err
    assert f"wrote {out}" in run.out
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    assert root.tag == f"{SVG}svg"
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    for broker_id in w.broker_ips():
        assert f"broker {broker_id}" in texts
    assert texts.count("sasl_iam 9098") == 3
    assert "111122223333" in texts
    # Consumer -> 3 services, 3 services -> 3 balancers, 3 balancers -> 3 brokers.
    assert len(list(root.iter(f"{SVG}path"))) == 9


def test_shared_nlb_shows_the_bootstrap_listener_and_each_brokers_port(
    w: World, cli: Callable[..., Run], tmp_path: Path
) -> None:
    config = config_of(w, tmp_path, pattern="shared-nlb")
    assert cli("apply", "--config", str(config), "--auto-approve").code == 0

    run = cli("diagram", "--config", str(config), "--output", "json")

    assert run.code == 0, run.err
    topology = json.loads(run.out)
    assert topology["pattern"] == "shared-nlb"
    (lb,) = topology["load_balancers"]
    assert lb["name"] == shared_load_balancer_name(w.cluster_arn)
    assert lb["service_name"]
    listeners = {(x["broker_id"], x["port"]) for x in lb["listeners"]}
    assert listeners == {(None, 9098), (1, 9001), (2, 9002), (3, 9003)}
    assert {b["zone"] for b in topology["brokers"]} == zones_of(w)
    assert [c["principal"] for c in topology["consumers"]] == [CONSUMER]

    mermaid = cli("diagram", "--config", str(config)).out
    assert "<br/>bootstrap: sasl_iam 9098" in mermaid


def test_before_any_apply_it_shows_the_brokers_and_nothing_in_front(
    w: World, cli: Callable[..., Run], tmp_path: Path
) -> None:
    run = cli("diagram", "--config", str(config_of(w, tmp_path)))

    assert run.code == 0, run.err
    assert '["(none admitted)"]' in run.out
    assert "-->" not in run.out
    assert all(f"broker {b}<br/>" in run.out for b in w.broker_ips())
