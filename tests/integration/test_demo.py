"""`make demo` runs the whole story and verifies it; it must keep doing so.

The demo checks every step itself (run_demo returns 1 and prints DEMO FAILED
when a check does not hold); here the steps are also counted, so a step that
silently stopped running fails too. The demo's own checks are also shown to
reject states they must not accept.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from msk_privatelink.kernel.naming import target_group_name
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.reconciler import Reconciler
from msk_privatelink_dev.demo.common import PER_BROKER_VERIFIED
from msk_privatelink_dev.demo.onboarding import CONSUMERS_VERIFIED
from msk_privatelink_dev.demo.shared_nlb import SHARED_VERIFIED, SharedView, check
from msk_privatelink_dev.demo.story import run_demo, verify
from tests.integration.harness import world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def diagrams(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("diagrams")


@pytest.fixture(scope="module")
def story(diagrams: Path) -> tuple[int, str]:
    lines: list[str] = []
    code = run_demo(lines.append, diagrams)
    return code, "\n".join(lines)


def test_the_demo_prices_the_connectivity_it_built(story: tuple[int, str]) -> None:
    _, text = story

    section = text.split("Monthly cost at 10,000 GB a month (msk-privatelink cost):", 1)[1]
    # The nlb-per-broker cluster as it stands: 6 brokers in 3 zones, one
    # scheme, the document's consumer and the two onboarded accounts.
    assert "6 brokers in 3 AZs, 1 scheme(s), 3 consumer account(s)" in section
    header = next(line for line in section.splitlines() if line.startswith("METER"))
    assert header.split()[:4] == ["METER", "PAYER", "USD/UNIT", "UNIT"]
    assert "nlb_hour" in section
    assert "endpoint_az_hour" in section


def test_each_act_writes_its_topology_as_mermaid_and_svg(
    story: tuple[int, str], diagrams: Path
) -> None:
    _, text = story
    acts = ("1-nlb-per-broker", "2-shared-nlb", "3-two-consumers")
    assert sorted(p.name for p in diagrams.iterdir()) == sorted(
        f"{act}.{suffix}" for act in acts for suffix in ("mmd", "svg")
    )
    for act in acts:
        assert f"Topology diagram (Mermaid): {diagrams / act}.mmd" in text
        assert f"Topology diagram (SVG): {diagrams / act}.svg" in text
        ET.fromstring((diagrams / f"{act}.svg").read_text(encoding="utf-8"))
    # Act 3: both onboarded consumers reach each of the six brokers' services.
    picture = (diagrams / "3-two-consumers.mmd").read_text(encoding="utf-8")
    assert picture.count("broker ") == 6
    consumers = {
        line.split(" --> ")[0].strip() for line in picture.splitlines() if " --> s_" in line
    }
    assert len(consumers) == 3  # the document's principal and the two tenants


def test_the_demo_succeeds(story: tuple[int, str]) -> None:
    code, text = story

    assert code == 0, text[-3000:]
    assert "DEMO FAILED" not in text
    assert "Demo complete" in text


def test_the_demo_shows_its_configurations_and_stays_readable(story: tuple[int, str]) -> None:
    _, text = story

    # The document behind principal 210987654321, and the shared cluster's.
    assert '  allowed_principals: ["arn:aws:iam::210987654321:root"]' in text
    assert '  pattern: "shared-nlb"' in text
    assert "PUBLISHED GENERATION" in text
    assert max(len(line) for line in text.splitlines()) <= 120


def test_nlb_per_broker_steps_are_each_verified(story: tuple[int, str]) -> None:
    _, text = story

    # Six steps of act 1, and the scale-out the consumers follow in act 3.
    assert text.count(PER_BROKER_VERIFIED) == 7
    assert "MSK refuses 4 brokers in 3 AZs" in text
    assert "Published BrokerEndpointsChanged generation 2: brokers [1, 2, 3, 4, 5, 6]" in text
    assert "Published BrokerEndpointsChanged generation 3: brokers [1, 2, 3]" in text
    # A broker healed with no event is found by the change detector's tick.
    assert "no event reaches the router" in text
    assert "Change detector: 1 cluster(s) listed, brokers changed in 1" in text


def test_shared_nlb_steps_are_each_verified(story: tuple[int, str]) -> None:
    _, text = story

    # Created, broker replaced, scale-out held open, scale-out done.
    assert text.count(SHARED_VERIFIED) == 4
    assert "UpdateBrokerCount to 6 in progress (cluster UPDATING)" in text
    assert "Cluster UPDATING, 6 brokers listed, growing to 6" in text
    # The prepared brokers: listeners and empty target groups, no address yet.
    assert text.count("(no IP yet)") == 6
    assert text.count("(empty)") == 6
    assert "custom.advertised.listeners in force (configuration " in text
    # One advertised listener per line.
    assert ".amazonaws.com:8440+{broker_id}\n  CLIENT_IAM://b-{broker_id}." in text
    assert "UPDATE_CLUSTER_CONFIGURATION UPDATE_COMPLETE" in text


def test_consumer_steps_are_each_verified(story: tuple[int, str]) -> None:
    _, text = story

    # Two onboardings and the scale-out both consumers follow.
    assert text.count(CONSUMERS_VERIFIED) == 3
    assert "Execution demo-onboarding-111122223333-1: SUCCEEDED" in text
    assert "Execution demo-onboarding-444455556666-2: SUCCEEDED" in text
    assert "Execution demo-offboarding-444455556666-3: SUCCEEDED" in text
    assert "Published BrokerEndpointsChanged generation 4: brokers [1, 2, 3, 4, 5, 6]" in text
    assert (
        "Verified: nothing of 444455556666 is left on either side; "
        "111122223333 still reaches every broker." in text
    )


ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/shared-cluster/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b-2"
DOMAIN = "shared-cluster.abc123.c2.kafka.us-east-1.amazonaws.com"
LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/x/1"
LB_DNS = "x-1.us-east-1.elb.amazonaws.com"


def converged(**changes: Any) -> SharedView:
    """Two brokers behind a shared NLB exactly as the document requires."""
    brokers = {
        1: {"ip": "10.1.0.11", "host": f"b-1.{DOMAIN}"},
        2: {"ip": "10.1.0.12", "host": f"b-2.{DOMAIN}"},
    }
    view = SharedView(
        brokers=brokers,
        target_count=None,
        state="ACTIVE",
        load_balancers=[{"LoadBalancerArn": LB_ARN, "DNSName": LB_DNS}],
        listeners={
            8441: ["10.1.0.11:9094"],
            8442: ["10.1.0.12:9094"],
            9001: ["10.1.0.11:9098"],
            9002: ["10.1.0.12:9098"],
            9094: ["10.1.0.11:9094", "10.1.0.12:9094"],
            9098: ["10.1.0.11:9098", "10.1.0.12:9098"],
        },
        services=[{"NetworkLoadBalancerArns": [LB_ARN]}],
        zone={
            "private": True,
            "vpcs": ["vpc-1"],
            "records": {f"b-{b}.{DOMAIN}": ("A", LB_DNS) for b in (1, 2)},
        },
        advertised=(
            f"CLIENT_SECURE://b-{{broker_id}}.{DOMAIN}:8440+{{broker_id}},"
            f"CLIENT_IAM://b-{{broker_id}}.{DOMAIN}:9000+{{broker_id}}"
        ),
    )
    for name, value in changes.items():
        setattr(view, name, value)
    return view


CONFIG = parse(
    ClusterConfig,
    {
        "cluster_arn": ARN,
        "pattern": "shared-nlb",
        "advertised_listeners": {"mode": "msk-configuration"},
    },
)


def test_the_shared_check_accepts_the_converged_state() -> None:
    assert check(converged(), CONFIG, "vpc-1") == []


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ({"listeners": {**converged().listeners, 8442: ["10.1.0.11:9094"]}}, "port 8442"),
        ({"listeners": {**converged().listeners, 9094: ["10.1.0.11:9094"]}}, "port 9094"),
        ({"target_count": 3}, "port 8443"),
        ({"services": []}, "endpoint services"),
        ({"zone": None}, "no provider hosted zone"),
        ({"advertised": None}, "custom.advertised.listeners"),
        (
            {"advertised": f"CLIENT_IAM://b-{{broker_id}}.{DOMAIN}:9000+{{broker_id}}"},
            "custom.advertised.listeners",
        ),
    ],
)
def test_the_shared_check_rejects_what_is_not_converged(
    broken: dict[str, Any], problem: str
) -> None:
    problems = check(converged(**broken), CONFIG, "vpc-1")

    assert any(problem in p for p in problems), problems


def test_the_per_broker_check_rejects_a_broker_that_lost_its_target() -> None:
    with world() as w:
        w.reconcile()
        clients = w.clients()
        reconciler = Reconciler(clients)
        assert verify(clients, w.config, reconciler) == []
        ip = w.broker_ips()[2]
        group = clients.elbv2.describe_target_groups(
            Names=[target_group_name(w.cluster_arn, 2, 9098)]
        )["TargetGroups"][0]["TargetGroupArn"]

        # Someone removes broker 2's address by hand.
        clients.elbv2.deregister_targets(TargetGroupArn=group, Targets=[{"Id": ip, "Port": 9098}])

        problems = verify(clients, w.config, reconciler)
        assert any(p.startswith("broker 2: targets []") for p in problems), problems
        assert any("re-plan is not empty" in p for p in problems), problems
