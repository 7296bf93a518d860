"""doctor's checks: pure functions of gathered facts, each pass, warn and fail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from msk_privatelink.doctor.checks.cloudtrail import check_cloudtrail
from msk_privatelink.doctor.checks.cluster import check_cluster, check_configuration
from msk_privatelink.doctor.checks.network import check_security_groups, check_subnets
from msk_privatelink.doctor.checks.provider_zone import check_provider_zone
from msk_privatelink.doctor.checks.quotas import check_quotas
from msk_privatelink.doctor.checks.schemes import check_auth_schemes
from msk_privatelink.doctor.checks.stack import READ_PARAMETERS, check_stack
from msk_privatelink.doctor.facts import (
    ClusterFacts,
    Facts,
    IngressRule,
    ManagementEvents,
    StackFacts,
    Subnet,
    Trail,
    Unread,
)
from msk_privatelink.doctor.management_events import management_events
from msk_privatelink.doctor.result import CheckResult, Outcome, exit_code, failed, passed, warned
from msk_privatelink.kernel.models import AuthScheme, Broker, ClusterInventory
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.resources import ActualState

REPO = Path(__file__).resolve().parents[2]
ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
VPC = "vpc-0123456789abcdef0"
SUBNETS = {
    "subnet-0000000a": Subnet("subnet-0000000a", VPC, "us-east-1a", "10.0.0.0/24"),
    "subnet-0000000b": Subnet("subnet-0000000b", VPC, "us-east-1b", "10.0.1.0/24"),
    "subnet-0000000c": Subnet("subnet-0000000c", VPC, "us-east-1c", "10.0.2.0/24"),
    "subnet-0000000d": Subnet("subnet-0000000d", VPC, "us-east-1a", "10.0.3.0/24"),
    "subnet-0000000e": Subnet(
        "subnet-0000000e", "vpc-0ther0000000000", "us-east-1b", "10.9.0.0/24"
    ),
}


def config(**overrides: Any) -> ClusterConfig:
    return parse(ClusterConfig, {"cluster_arn": ARN, **overrides})


def cluster(
    brokers: int = 3,
    schemes: tuple[AuthScheme, ...] = (AuthScheme.SASL_IAM,),
    state: str = "ACTIVE",
    subnets: tuple[str, ...] = ("subnet-0000000a", "subnet-0000000b", "subnet-0000000c"),
) -> ClusterFacts:
    inventory = ClusterInventory(
        cluster_arn=ARN,
        cluster_name="orders",
        state=state,
        vpc_id=VPC,
        client_subnet_ids=subnets,
        enabled_schemes=frozenset(schemes),
        kafka_version="3.9.x",
        expected_broker_count=brokers,
        brokers=tuple(
            Broker(i, f"10.0.{(i - 1) % 3}.{10 + i}", f"eni-{i}", subnets[(i - 1) % len(subnets)])
            for i in range(1, brokers + 1)
        ),
    )
    return ClusterFacts(inventory, ("sg-00000001",))


# ------------------------------------------------------------- management events


@pytest.mark.parametrize(
    ("basic", "advanced", "expected"),
    [
        ([], [], ManagementEvents.ALL),  # a trail created without selectors
        ([{"ReadWriteType": "All", "IncludeManagementEvents": True}], [], ManagementEvents.ALL),
        ([{"ReadWriteType": "WriteOnly"}], [], ManagementEvents.WRITE_ONLY),
        ([{"ReadWriteType": "ReadOnly"}], [], ManagementEvents.READ_ONLY),
        ([{"ReadWriteType": "All", "IncludeManagementEvents": False}], [], ManagementEvents.NONE),
        (
            [{"ReadWriteType": "ReadOnly"}, {"ReadWriteType": "WriteOnly"}],
            [],
            ManagementEvents.ALL,
        ),
        (
            [{"ReadWriteType": "All", "ExcludeManagementEventSources": ["kms.amazonaws.com"]}],
            [],
            ManagementEvents.ALL,
        ),
        (
            [],
            [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}],
            ManagementEvents.ALL,
        ),
        (
            [],
            [
                {
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Management"]},
                        {"Field": "readOnly", "Equals": ["false"]},
                    ]
                }
            ],
            ManagementEvents.WRITE_ONLY,
        ),
        (
            [],
            [
                {
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Management"]},
                        {"Field": "readOnly", "Equals": ["true"]},
                    ]
                }
            ],
            ManagementEvents.READ_ONLY,
        ),
        (
            [],
            [
                {
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Data"]},
                        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                    ]
                }
            ],
            ManagementEvents.NONE,
        ),
    ],
)
def test_management_events_of_a_trail(
    basic: list[dict[str, Any]], advanced: list[dict[str, Any]], expected: ManagementEvents
) -> None:
    assert management_events(basic, advanced) is expected


# -------------------------------------------------------------------- CloudTrail


def trail(
    name: str = "main",
    home: str = "us-east-1",
    multi: bool = False,
    logging: bool | Unread = True,
    management: ManagementEvents | Unread = ManagementEvents.ALL,
) -> Trail:
    return Trail(
        name,
        f"arn:aws:cloudtrail:{home}:123456789012:trail/{name}",
        home,
        multi,
        logging,
        management,
    )


@pytest.mark.parametrize(
    ("trails", "outcome", "says"),
    [
        ((trail(),), Outcome.PASS, "main logs write management events"),
        ((trail(home="eu-west-1", multi=True),), Outcome.PASS, "is logging"),
        ((trail(management=ManagementEvents.WRITE_ONLY),), Outcome.PASS, "is logging"),
        ((), Outcome.WARN, "no trail records us-east-1"),
        ((trail(home="eu-west-1"),), Outcome.WARN, "no trail records us-east-1"),
        ((trail(logging=False),), Outcome.WARN, "is not logging"),
        ((trail(management=ManagementEvents.READ_ONLY),), Outcome.WARN, "logs read-only"),
        (
            (trail(logging=Unread("cloudtrail:GetTrailStatus", "AccessDenied")),),
            Outcome.WARN,
            "AccessDenied",
        ),
        ((trail(logging=False), trail("second")), Outcome.PASS, "second"),
        (Unread("cloudtrail:DescribeTrails", "AccessDeniedException"), Outcome.WARN, "cannot read"),
    ],
)
def test_cloudtrail_never_fails_and_names_the_consequence(
    trails: tuple[Trail, ...] | Unread, outcome: Outcome, says: str
) -> None:
    result = check_cloudtrail("us-east-1", trails)
    assert result.outcome is outcome
    assert says in result.detail
    if outcome is Outcome.WARN:
        assert "ChangeDetectorSchedule" in result.detail
        assert result.fix


def test_cloudtrail_fix_names_the_call() -> None:
    assert "start-logging" in check_cloudtrail("us-east-1", (trail(logging=False),)).fix
    assert "create-trail" in check_cloudtrail("us-east-1", ()).fix


# ----------------------------------------------------------- configuration, cluster


def facts(**overrides: Any) -> Facts:
    base: dict[str, Any] = {
        "region": "us-east-1",
        "cluster_arn": ARN,
        "config": config(),
        "config_source": "orders.yaml",
        "config_from_file": True,
        "cluster": cluster(),
        "subnets": SUBNETS,
    }
    return Facts(**{**base, **overrides})


@pytest.mark.parametrize(
    ("overrides", "outcome"),
    [
        ({}, Outcome.PASS),
        ({"config": None, "config_problem": "invalid cluster configuration"}, Outcome.FAIL),
    ],
)
def test_configuration(overrides: dict[str, Any], outcome: Outcome) -> None:
    assert check_configuration(facts(**overrides)).outcome is outcome


@pytest.mark.parametrize(
    ("fact", "outcome"),
    [
        (cluster(), Outcome.PASS),
        (cluster(state="UPDATING"), Outcome.WARN),
        (cluster(state="CREATING"), Outcome.WARN),
        (cluster(state="FAILED"), Outcome.FAIL),
        (Unread("kafka:DescribeClusterV2", "NotFoundException: no such cluster"), Outcome.FAIL),
        (None, Outcome.WARN),
    ],
)
def test_cluster(fact: ClusterFacts | Unread | None, outcome: Outcome) -> None:
    assert check_cluster(facts(cluster=fact)).outcome is outcome


# ------------------------------------------------------------------- auth schemes


@pytest.mark.parametrize(
    ("document", "enabled", "outcome"),
    [
        ({}, (AuthScheme.SASL_IAM,), Outcome.PASS),
        ({"auth_schemes": ["sasl_iam"]}, (AuthScheme.SASL_IAM, AuthScheme.TLS), Outcome.PASS),
        ({"auth_schemes": ["sasl_scram"]}, (AuthScheme.SASL_IAM,), Outcome.FAIL),
        ({}, (), Outcome.FAIL),
        (
            {
                "pattern": "shared-nlb",
                "auth_schemes": ["sasl_iam"],
                "advertised_listeners": {"mode": "broker-override", "admin_auth": "tls"},
            },
            (AuthScheme.SASL_IAM,),
            Outcome.FAIL,
        ),
    ],
)
def test_auth_schemes(
    document: dict[str, Any], enabled: tuple[AuthScheme, ...], outcome: Outcome
) -> None:
    result = check_auth_schemes(config(**document), cluster(schemes=enabled))
    assert result.outcome is outcome
    if outcome is Outcome.FAIL:
        assert result.fix


def test_auth_schemes_without_the_cluster_is_not_checked() -> None:
    result = check_auth_schemes(config(), Unread("kafka:DescribeClusterV2", "x"))
    assert result.outcome is Outcome.WARN
    assert result.detail.startswith("not checked")


# ------------------------------------------------------------------------ subnets


@pytest.mark.parametrize(
    ("document", "outcome", "says"),
    [
        ({}, Outcome.PASS, "cover every broker's zone"),
        (
            {"subnet_ids": ["subnet-0000000a", "subnet-0000000b", "subnet-0000000c"]},
            Outcome.PASS,
            "subnet_ids",
        ),
        ({"subnet_ids": ["subnet-0000000a", "subnet-0000000b"]}, Outcome.FAIL, "us-east-1c"),
        (
            {
                "subnet_ids": [
                    "subnet-0000000a",
                    "subnet-0000000d",
                    "subnet-0000000b",
                    "subnet-0000000c",
                ]
            },
            Outcome.FAIL,
            "share us-east-1a",
        ),
        (
            {"subnet_ids": ["subnet-0000000a", "subnet-0000000e", "subnet-0000000c"]},
            Outcome.FAIL,
            "not in the cluster's VPC",
        ),
        (
            {"subnet_ids": ["subnet-0000000a", "subnet-000000ff", "subnet-0000000c"]},
            Outcome.FAIL,
            "do not exist",
        ),
    ],
)
def test_subnets(document: dict[str, Any], outcome: Outcome, says: str) -> None:
    result = check_subnets(config(**document), cluster(), SUBNETS)
    assert result.outcome is outcome
    assert says in result.detail


# ---------------------------------------------------------------- security groups


def rule(
    cidrs: tuple[str, ...] = (),
    protocol: str = "tcp",
    ports: tuple[int | None, int | None] = (9098, 9098),
    prefix_lists: tuple[str, ...] = (),
) -> IngressRule:
    return IngressRule("sg-00000001", protocol, ports[0], ports[1], cidrs, prefix_lists)


@pytest.mark.parametrize(
    ("rules", "outcome"),
    [
        ((rule(("10.0.0.0/16",)),), Outcome.PASS),  # the VPC's CIDR
        ((rule(("10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24")),), Outcome.PASS),
        ((rule(("10.0.0.0/23",)), rule(("10.0.2.0/25", "10.0.2.128/25"))), Outcome.PASS),
        ((rule(("10.0.0.0/16",), protocol="-1", ports=(None, None)),), Outcome.PASS),
        ((rule(("10.0.0.0/16",), ports=(9092, 9098)),), Outcome.PASS),
        ((rule(("10.0.0.0/16",), ports=(9092, 9096)),), Outcome.FAIL),  # not 9098
        ((rule(("10.0.0.0/16",), protocol="udp"),), Outcome.FAIL),
        ((rule(("10.0.0.0/24", "10.0.1.0/24")),), Outcome.FAIL),  # one subnet missing
        ((), Outcome.FAIL),
        ((rule(("10.0.0.0/24",), prefix_lists=("pl-0123",)),), Outcome.WARN),
    ],
)
def test_security_groups(rules: tuple[IngressRule, ...], outcome: Outcome) -> None:
    result = check_security_groups(config(), cluster(), SUBNETS, rules)
    assert result.outcome is outcome
    if outcome is not Outcome.PASS:
        assert "authorize-security-group-ingress" in result.fix
        assert "FromPort=9098" in result.fix


def test_security_groups_check_the_port_of_every_exposed_scheme() -> None:
    both = cluster(schemes=(AuthScheme.SASL_IAM, AuthScheme.TLS))
    result = check_security_groups(config(), both, SUBNETS, (rule(("10.0.0.0/16",)),))
    assert result.outcome is Outcome.FAIL
    assert "TCP 9094" in result.detail
    assert "TCP 9098" not in result.detail


def test_security_groups_unread_fails() -> None:
    unread = Unread("ec2:DescribeSecurityGroups", "UnauthorizedOperation")
    assert check_security_groups(config(), cluster(), SUBNETS, unread).outcome is Outcome.FAIL


# ------------------------------------------------------------------------- quotas


def quota_outcomes(
    document: dict[str, Any], brokers: int, actual: ActualState, limits: dict[str, int]
) -> dict[str, Outcome]:
    results = check_quotas(config(**document), cluster(brokers), actual, limits)
    return {r.check: r.outcome for r in results}


@pytest.mark.parametrize(
    ("present", "limit", "outcome"),
    [
        (0, 50, Outcome.PASS),
        (37, 50, Outcome.PASS),
        (38, 50, Outcome.WARN),
        (47, 50, Outcome.WARN),
        (48, 50, Outcome.FAIL),
    ],
)
def test_nlbs_per_region_headroom(present: int, limit: int, outcome: Outcome) -> None:
    # 3 brokers, nlb-per-broker: 3 new load balancers.
    actual = ActualState(cluster_arn=ARN, region_network_load_balancers=present)
    outcomes = quota_outcomes({}, 3, actual, {"network-load-balancers": limit})
    assert outcomes["quota-nlbs"] is outcome


@pytest.mark.parametrize(
    ("limit", "outcome"), [(3000, Outcome.PASS), (3, Outcome.WARN), (2, Outcome.FAIL)]
)
def test_target_groups_per_region_headroom(limit: int, outcome: Outcome) -> None:
    actual = ActualState(cluster_arn=ARN)
    assert quota_outcomes({}, 3, actual, {"target-groups": limit})["quota-target-groups"] is outcome


@pytest.mark.parametrize(
    ("limit", "outcome"), [(500, Outcome.PASS), (110, Outcome.WARN), (98, Outcome.FAIL)]
)
def test_targets_per_nlb_headroom(limit: int, outcome: Outcome) -> None:
    # shared-nlb, one scheme, 50 brokers: the first load balancer carries
    # brokers 1..49 (a target each) and the bootstrap group (50 targets): 99.
    actual = ActualState(cluster_arn=ARN)
    document = {"pattern": "shared-nlb", "auth_schemes": ["sasl_iam"]}
    limits = {"targets-per-availability-zone-per-network-load-balancer": limit}
    result = {r.check: r for r in check_quotas(config(**document), cluster(50), actual, limits)}
    assert result["quota-targets"].outcome is outcome
    assert f"needs 99 of {limit}" in result["quota-targets"].detail


def test_a_full_shared_nlb_shard_passes_the_listener_quota() -> None:
    actual = ActualState(cluster_arn=ARN)
    document = {"pattern": "shared-nlb", "auth_schemes": ["sasl_iam"]}
    results = {r.check: r for r in check_quotas(config(**document), cluster(49), actual, {})}
    assert results["quota-listeners"].outcome is Outcome.PASS
    assert "needs 50 of 50" in results["quota-listeners"].detail


def test_quotas_without_a_plan_are_not_checked() -> None:
    results = check_quotas(
        config(auth_schemes=["tls"]), cluster(), ActualState(cluster_arn=ARN), {}
    )
    assert {r.outcome for r in results} == {Outcome.WARN}
    assert all(r.detail.startswith("not checked") for r in results)


def test_quotas_unread_fail_naming_the_permission() -> None:
    unread = Unread("elasticloadbalancing:DescribeAccountLimits", "AccessDenied")
    results = check_quotas(config(), cluster(), ActualState(cluster_arn=ARN), unread)
    assert {r.outcome for r in results} == {Outcome.FAIL}
    assert all("DescribeAccountLimits" in r.fix for r in results)


# -------------------------------------------------------------------------- stack

PARAMETERS = {
    "ClusterArn": ARN,
    "MoreClusterArns": "",
    "Pattern": "nlb-per-broker",
    "AdvertisedListenersMode": "none",
    "AuthSchemes": "",
    "AcceptanceRequired": "true",
    "AllowedPrincipals": "",
    "SupportedRegions": "",
    "MaxBrokerRemovalRatio": "0.5",
    "KafkaAdminSubnetIds": "",
    "KafkaAdminVpcId": "",
    "KafkaAdminBrokerCidr": "",
}
OVERRIDE = {
    "pattern": "shared-nlb",
    "auth_schemes": ["sasl_iam"],
    "advertised_listeners": {"mode": "broker-override"},
}
OVERRIDE_PARAMETERS = {
    "Pattern": "shared-nlb",
    "AdvertisedListenersMode": "broker-override",
    "AuthSchemes": "sasl_iam",
    "KafkaAdminSubnetIds": "subnet-0000000a,subnet-0000000b",
    "KafkaAdminVpcId": VPC,
    "KafkaAdminBrokerCidr": "10.0.0.0/16",
}


def stack_facts(
    status: str = "CREATE_COMPLETE",
    stored: ClusterConfig | Unread | None = None,
    problem: str | None = None,
    **parameters: str,
) -> StackFacts:
    return StackFacts(
        name="msk-privatelink",
        status=status,
        parameters={**PARAMETERS, **parameters},
        parameter_prefix="/msk-privatelink/msk-privatelink/clusters",
        parameter_name="/msk-privatelink/msk-privatelink/clusters/orders",
        stored=config() if stored is None and problem is None else stored,
        stored_problem=problem,
    )


def stack_outcomes(stack: StackFacts | Unread, **overrides: Any) -> dict[str, CheckResult]:
    return {r.check: r for r in check_stack(facts(stack=stack, **overrides))}


def test_stack_all_pass() -> None:
    results = stack_outcomes(stack_facts(), config_from_file=False)
    assert {c: r.outcome for c, r in results.items()} == {
        "stack": Outcome.PASS,
        "stack-document": Outcome.PASS,
        "stack-kafka-admin": Outcome.PASS,
    }


def test_no_stack_name_no_stack_checks() -> None:
    assert check_stack(facts()) == []


@pytest.mark.parametrize(
    ("stack", "outcome", "says"),
    [
        (stack_facts(), Outcome.PASS, "(ClusterArn)"),
        (
            stack_facts(ClusterArn=ARN.replace("orders", "other"), MoreClusterArns=ARN),
            Outcome.PASS,
            "MoreClusterArns",
        ),
        (stack_facts(ClusterArn=ARN.replace("orders", "other")), Outcome.FAIL, "MoreClusterArns"),
        (stack_facts(status="UPDATE_IN_PROGRESS"), Outcome.WARN, "UPDATE_IN_PROGRESS"),
        (stack_facts(status="UPDATE_ROLLBACK_COMPLETE"), Outcome.WARN, "UPDATE_ROLLBACK_COMPLETE"),
        (stack_facts(status="ROLLBACK_COMPLETE"), Outcome.FAIL, "ROLLBACK_COMPLETE"),
        (
            Unread(
                "cloudformation:DescribeStacks", "ValidationError: Stack with id x does not exist"
            ),
            Outcome.FAIL,
            "does not exist",
        ),
    ],
)
def test_stack(stack: StackFacts | Unread, outcome: Outcome, says: str) -> None:
    result = stack_outcomes(stack)["stack"]
    assert result.outcome is outcome
    assert says in result.detail + result.fix


@pytest.mark.parametrize(
    ("stack", "overrides", "outcome", "says"),
    [
        (stack_facts(), {"config_from_file": False}, Outcome.PASS, "agrees"),
        (
            stack_facts(problem="no configuration for cluster x (parameter y)"),
            {},
            Outcome.FAIL,
            "no configuration",
        ),
        (
            stack_facts(stored=Unread("ssm:GetParameter", "AccessDenied")),
            {},
            Outcome.FAIL,
            "AccessDenied",
        ),
        (
            stack_facts(AcceptanceRequired="false"),
            {"config_from_file": False},
            Outcome.WARN,
            "AcceptanceRequired",
        ),
        (
            stack_facts(AuthSchemes="sasl_iam"),
            {"config_from_file": False},
            Outcome.WARN,
            "auth_schemes",
        ),
        (
            stack_facts(MaxBrokerRemovalRatio="0.25"),
            {"config_from_file": False},
            Outcome.WARN,
            "max_broker_removal_ratio",
        ),
        # A cluster of MoreClusterArns has a document of its own: no parameter applies.
        (
            stack_facts(
                ClusterArn=ARN.replace("orders", "other"),
                MoreClusterArns=ARN,
                AcceptanceRequired="false",
            ),
            {"config_from_file": False},
            Outcome.PASS,
            "agrees",
        ),
        (
            stack_facts(),
            {"config": config(acceptance_required=False)},
            Outcome.WARN,
            "acceptance_required",
        ),
    ],
)
def test_stack_document(
    stack: StackFacts, overrides: dict[str, Any], outcome: Outcome, says: str
) -> None:
    result = stack_outcomes(stack, **overrides)["stack-document"]
    assert result.outcome is outcome
    assert says in result.detail


@pytest.mark.parametrize(
    ("parameters", "outcome", "says"),
    [
        (OVERRIDE_PARAMETERS, Outcome.PASS, "reaches every broker"),
        (
            {**OVERRIDE_PARAMETERS, "KafkaAdminSubnetIds": ""},
            Outcome.FAIL,
            "KafkaAdminSubnetIds is empty",
        ),
        (
            {**OVERRIDE_PARAMETERS, "KafkaAdminVpcId": "vpc-0ther0000000000"},
            Outcome.FAIL,
            "KafkaAdminVpcId",
        ),
        (
            {**OVERRIDE_PARAMETERS, "KafkaAdminSubnetIds": "subnet-0000000e"},
            Outcome.FAIL,
            "not subnets of",
        ),
        (
            {**OVERRIDE_PARAMETERS, "KafkaAdminBrokerCidr": "10.0.0.0/24"},
            Outcome.FAIL,
            "does not hold broker(s) 2",
        ),
    ],
)
def test_stack_kafka_admin(parameters: dict[str, str], outcome: Outcome, says: str) -> None:
    stored = config(**OVERRIDE)
    stack = stack_facts(stored=stored, **parameters)
    result = stack_outcomes(stack, config=stored)["stack-kafka-admin"]
    assert result.outcome is outcome
    assert says in result.detail


def test_every_stack_parameter_doctor_reads_is_in_the_template() -> None:
    text = (REPO / "template.yaml").read_text(encoding="utf-8")
    section = text[text.index("\nParameters:\n") : text.index("\nRules:\n")]
    declared = set(re.findall(r"^  ([A-Za-z0-9]+):$", section, re.MULTILINE))
    assert READ_PARAMETERS - declared == set()


# -------------------------------------------------------------------- exit code


@pytest.mark.parametrize(
    ("results", "code"),
    [
        ([passed("a", "ok")], 0),
        ([passed("a", "ok"), warned("b", "hm", "do")], 0),
        ([warned("b", "hm", "do"), failed("c", "no", "do")], 1),
    ],
)
def test_exit_code(results: list[CheckResult], code: int) -> None:
    assert exit_code(results) == code


@pytest.mark.parametrize(
    ("overrides", "outcome"),
    [
        ({}, Outcome.PASS),  # nlb-per-broker: no zone
        ({"pattern": "shared-nlb"}, Outcome.WARN),  # what the stack stores by default
        (
            {"pattern": "shared-nlb", "shared_nlb": {"provider_zone": False}},
            Outcome.PASS,
        ),
        (
            {"pattern": "shared-nlb", "advertised_listeners": {"mode": "msk-configuration"}},
            Outcome.PASS,
        ),
    ],
)
def test_provider_zone_goes_with_re_advertised_listeners(
    overrides: dict[str, Any], outcome: Outcome
) -> None:
    result = check_provider_zone(config(**overrides))

    assert result.outcome is outcome
    if outcome is Outcome.WARN:
        assert "bootstrap listener" in result.detail
        assert "provider_zone: false" in result.fix
    assert check_provider_zone(None).outcome is Outcome.WARN  # not checked
