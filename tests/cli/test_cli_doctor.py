"""`msk-privatelink doctor` against the embedded AWS: a ready account passes,
each prerequisite broken on purpose fails (or warns) with its fix, and doctor
never makes a mutating call."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.cli.doctor import COMMAND
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.config import ClusterConfig, dump_config
from msk_privatelink_dev.embedded import EmbeddedAws
from tests.integration.harness import PREFIX, STACK, CallCounter

pytestmark = pytest.mark.integration

VPC_CIDR = "10.0.0.0/16"
TRAIL = "management"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@dataclass
class Account:
    aws: EmbeddedAws
    cluster_arn: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group: str

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    def store(self, document: dict[str, Any]) -> ClusterConfig:
        config = parse(ClusterConfig, {"cluster_arn": self.cluster_arn, **document})
        ConfigStore(AwsClients(self.aws.session(), region=self.aws.region).ssm, PREFIX).put(config)
        return config


def _trail(aws: EmbeddedAws) -> None:
    aws.client("s3").create_bucket(Bucket="trail-logs")
    cloudtrail = aws.client("cloudtrail")
    cloudtrail.create_trail(Name=TRAIL, S3BucketName="trail-logs", IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name=TRAIL)


def template_parameters() -> dict[str, dict[str, str]]:
    """template.yaml's Parameters (the section holds no intrinsic function),
    each as a String with its default: what DescribeStacks reports."""
    text = TEMPLATE.read_text(encoding="utf-8")
    section = yaml.safe_load(text[text.index("\nParameters:\n") : text.index("\nRules:\n")])
    return {
        name: {"Type": "String", "Default": str(spec.get("Default", ""))}
        for name, spec in section["Parameters"].items()
    }


def deploy_stack(account: Account, document: dict[str, Any], **parameters: str) -> None:
    """A stack named as the tests' (prefix /msk-privatelink/test/clusters) with
    template.yaml's parameters, holding the document as its
    ClusterConfigParameter does."""
    config = parse(ClusterConfig, {"cluster_arn": account.cluster_arn, **document})
    values = {"ClusterArn": account.cluster_arn, **parameters}
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": template_parameters(),
        "Resources": {
            "ClusterConfigParameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": f"{PREFIX}/demo-cluster",
                    "Type": "String",
                    "Value": dump_config(config),
                },
            }
        },
        "Outputs": {"ClusterConfigParameterPrefix": {"Value": PREFIX}},
    }
    # The stack owns the document from now on, as the template's parameter does.
    account.client("ssm").delete_parameter(Name=f"{PREFIX}/demo-cluster")
    account.client("cloudformation").create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
    )


@pytest.fixture
def account() -> Iterator[Account]:
    """A ready account: a logging multi-Region trail, a cluster whose security
    group admits the VPC's CIDR on 9098, and its document in Parameter Store."""
    with EmbeddedAws() as aws:
        network = aws.create_network(cidr=VPC_CIDR, subnet_count=3)
        ec2 = aws.client("ec2")
        group = ec2.create_security_group(
            GroupName="msk-brokers", Description="brokers", VpcId=network.vpc_id
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 9098,
                    "ToPort": 9098,
                    "IpRanges": [{"CidrIp": VPC_CIDR}],
                }
            ],
        )
        arn = aws.msk.create_cluster(
            "demo-cluster", list(network.subnet_ids), broker_count=3, security_groups=[group]
        )
        _trail(aws)
        created = Account(aws, arn, network.vpc_id, tuple(network.subnet_ids), group)
        created.store({"auth_schemes": ["sasl_iam"]})
        yield created


@dataclass(frozen=True)
class Doctor:
    code: int
    out: str
    err: str
    results: dict[str, dict[str, Any]]


@pytest.fixture
def doctor(capsys: pytest.CaptureFixture[str], calls: CallCounter) -> Any:
    """Runs doctor through its own parser (JSON unless told otherwise) and
    asserts it made no mutating call."""

    def run(*argv: str, json_output: bool = True) -> Doctor:
        parser = argparse.ArgumentParser()
        COMMAND.configure(parser)
        args = parser.parse_args([*argv, *(["--output", "json"] if json_output else [])])
        capsys.readouterr()
        calls.reset()
        code = COMMAND.run(args)
        out, err = capsys.readouterr()
        assert calls.writes == Counter(), f"doctor made mutating calls: {dict(calls.writes)}"
        results = {}
        if json_output and out:
            document = json.loads(out)
            assert document["exit_code"] == code
            results = {c["check"]: c for c in document["checks"]}
        return Doctor(code, out, err, results)

    return run


def outcomes(run: Doctor) -> dict[str, str]:
    return {check: r["result"] for check, r in run.results.items()}


def config_file(tmp_path: Path, account: Account, **document: Any) -> str:
    path = tmp_path / "orders.yaml"
    body = {"version": 1, "cluster_arn": account.cluster_arn, **document}
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------- a ready account


def test_a_ready_account_passes_every_check(
    account: Account, doctor: Any, calls: CallCounter
) -> None:
    run = doctor("--cluster-arn", account.cluster_arn, "--parameter-prefix", PREFIX)

    assert run.code == 0, run.out
    assert set(outcomes(run).values()) == {"pass"}, run.out
    assert list(run.results) == [
        "configuration",
        "cluster",
        "cloudtrail",
        "auth-schemes",
        "subnets",
        "security-groups",
        "provider-zone",
        "quota-nlbs",
        "quota-target-groups",
        "quota-listeners",
        "quota-targets",
    ]
    assert TRAIL in run.results["cloudtrail"]["detail"]
    for read in (
        "DescribeTrails",
        "GetEventSelectors",
        "GetTrailStatus",
        "DescribeSecurityGroups",
        "DescribeSubnets",
        "DescribeAccountLimits",
        "DescribeClusterV2",
        "ListNodes",
        "GetParameter",
    ):
        assert calls.reads[read] >= 1, read


def test_the_table_has_a_row_per_check_and_a_summary(account: Account, doctor: Any) -> None:
    run = doctor(
        "--cluster-arn", account.cluster_arn, "--parameter-prefix", PREFIX, json_output=False
    )

    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[1].split() == ["CHECK", "RESULT", "DETAIL", "FIX"]
    rows = {line.split()[0]: line.split()[1] for line in lines[3:-1]}
    assert rows["security-groups"] == "PASS"
    assert len(rows) == 11
    assert lines[-1] == "11 passed, 0 warned, 0 failed"


def test_after_deploy_the_stack_checks_pass(account: Account, doctor: Any) -> None:
    deploy_stack(account, {"auth_schemes": ["sasl_iam"]}, AuthSchemes="sasl_iam")

    run = doctor("--cluster-arn", account.cluster_arn, "--stack-name", STACK)

    assert run.code == 0, run.out
    assert outcomes(run)["stack"] == outcomes(run)["stack-document"] == "pass"
    assert outcomes(run)["stack-kafka-admin"] == "pass"


# ------------------------------------------------------------- broken on purpose


def test_a_trail_that_stopped_logging_warns_and_exits_0(account: Account, doctor: Any) -> None:
    account.client("cloudtrail").stop_logging(Name=TRAIL)

    run = doctor("--cluster-arn", account.cluster_arn, "--parameter-prefix", PREFIX)

    assert run.code == 0
    cloudtrail = run.results["cloudtrail"]
    assert cloudtrail["result"] == "warn"
    assert "is not logging" in cloudtrail["detail"]
    assert "KafkaApiCalls" in cloudtrail["detail"]
    assert "aws cloudtrail start-logging" in cloudtrail["fix"]


def test_no_trail_warns(account: Account, doctor: Any) -> None:
    account.client("cloudtrail").delete_trail(Name=TRAIL)

    run = doctor("--cluster-arn", account.cluster_arn, "--parameter-prefix", PREFIX)

    assert run.code == 0
    assert run.results["cloudtrail"]["result"] == "warn"
    assert "create-trail" in run.results["cloudtrail"]["fix"]


def test_a_read_only_trail_warns(account: Account, doctor: Any) -> None:
    account.client("cloudtrail").put_event_selectors(
        TrailName=TRAIL,
        AdvancedEventSelectors=[
            {
                "Name": "reads",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Management"]},
                    {"Field": "readOnly", "Equals": ["true"]},
                ],
            }
        ],
    )

    run = doctor("--cluster-arn", account.cluster_arn, "--parameter-prefix", PREFIX)

    assert run.results["cloudtrail"]["result"] == "warn"
    assert "read-only" in run.results["cloudtrail"]["detail"]


def test_a_security_group_without_the_broker_port_fails_with_the_rule_to_add(
    account: Account, doctor: Any
) -> None:
    account.client("ec2").revoke_security_group_ingress(
        GroupId=account.security_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 9098,
                "ToPort": 9098,
                "IpRanges": [{"CidrIp": VPC_CIDR}],
            }
        ],
    )

    run = doctor("--cluster-arn", account.cluster_arn, "--parameter-prefix", PREFIX)

    assert run.code == 1
    result = run.results["security-groups"]
    assert result["result"] == "fail"
    assert "TCP 9098" in result["detail"]
    assert f"--group-id {account.security_group}" in result["fix"]
    assert "FromPort=9098" in result["fix"]


def test_a_scheme_the_cluster_does_not_enable_fails(account: Account, doctor: Any) -> None:
    account.store({"auth_schemes": ["tls"]})

    run = doctor("--cluster-arn", account.cluster_arn, "--parameter-prefix", PREFIX)

    assert run.code == 1
    assert run.results["auth-schemes"]["result"] == "fail"
    assert "not enabled" in run.results["auth-schemes"]["detail"]
    # What needs a plan is not checked twice.
    assert run.results["quota-nlbs"]["result"] == "warn"
    assert run.results["quota-nlbs"]["detail"].startswith("not checked")


def test_subnets_that_miss_a_broker_zone_fail(
    account: Account, doctor: Any, tmp_path: Path
) -> None:
    path = config_file(tmp_path, account, subnet_ids=list(account.subnet_ids[:2]))

    run = doctor("--config", path)

    assert run.code == 1
    assert run.results["subnets"]["result"] == "fail"
    assert "no NLB subnet is in" in run.results["subnets"]["detail"]


def test_a_quota_the_plan_would_pass_fails(account: Account, doctor: Any) -> None:
    account.aws.set_elb_limit("network-load-balancers", 2)

    run = doctor("--cluster-arn", account.cluster_arn, "--parameter-prefix", PREFIX)

    assert run.code == 1
    assert run.results["quota-nlbs"]["result"] == "fail"
    assert "needs 3 of 2" in run.results["quota-nlbs"]["detail"]
    assert "Service Quotas" in run.results["quota-nlbs"]["fix"]


def test_a_quota_near_its_limit_warns(account: Account, doctor: Any) -> None:
    account.aws.set_elb_limit("network-load-balancers", 3)

    run = doctor("--cluster-arn", account.cluster_arn, "--parameter-prefix", PREFIX)

    assert run.code == 0
    assert run.results["quota-nlbs"]["result"] == "warn"


def test_a_missing_cluster_fails(account: Account, doctor: Any, tmp_path: Path) -> None:
    other = account.cluster_arn.replace("demo-cluster", "gone-cluster")
    path = tmp_path / "gone.yaml"
    path.write_text(yaml.safe_dump({"cluster_arn": other}), encoding="utf-8")

    run = doctor("--config", str(path))

    assert run.code == 1
    assert run.results["cluster"]["result"] == "fail"
    assert run.results["security-groups"]["detail"].startswith("not checked")


def test_an_invalid_configuration_file_fails_alone(doctor: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cluster_arn: nope\n", encoding="utf-8")

    run = doctor("--config", str(path))

    assert run.code == 1
    assert run.results["configuration"]["result"] == "fail"
    assert "cluster_arn" in run.results["configuration"]["detail"]


def test_another_region_is_refused(account: Account, doctor: Any) -> None:
    run = doctor("--cluster-arn", account.cluster_arn, "--region", "eu-west-1")

    assert run.code == 1
    assert "--region us-east-1" in run.err


def test_a_stack_that_does_not_exist_fails(account: Account, doctor: Any) -> None:
    run = doctor("--cluster-arn", account.cluster_arn, "--stack-name", STACK)

    assert run.code == 1
    assert run.results["stack"]["result"] == "fail"
    assert "sam deploy" in run.results["stack"]["fix"]


def test_a_stack_serving_another_cluster_fails(account: Account, doctor: Any) -> None:
    other = account.cluster_arn.replace("demo-cluster", "other")
    deploy_stack(account, {"auth_schemes": ["sasl_iam"]}, ClusterArn=other)

    run = doctor("--cluster-arn", account.cluster_arn, "--stack-name", STACK)

    assert run.code == 1
    assert run.results["stack"]["result"] == "fail"
    assert "MoreClusterArns" in run.results["stack"]["fix"]


def test_broker_override_without_the_kafka_admin_function_fails(
    account: Account, doctor: Any
) -> None:
    document = {
        "pattern": "shared-nlb",
        "auth_schemes": ["sasl_iam"],
        "advertised_listeners": {"mode": "broker-override"},
    }
    deploy_stack(account, document, Pattern="shared-nlb", AuthSchemes="sasl_iam")

    run = doctor("--cluster-arn", account.cluster_arn, "--stack-name", STACK)

    assert run.code == 1
    result = run.results["stack-kafka-admin"]
    assert result["result"] == "fail"
    assert "KafkaAdminSubnetIds is empty" in result["detail"]
    # The document says broker-override, the parameter none: CloudFormation
    # would rewrite the document on the next update that changes it.
    assert run.results["stack-document"]["result"] == "warn"
    assert "AdvertisedListenersMode" in run.results["stack-document"]["detail"]


def test_a_file_that_differs_from_the_stored_document_warns(
    account: Account, doctor: Any, tmp_path: Path
) -> None:
    deploy_stack(account, {"auth_schemes": ["sasl_iam"]}, AuthSchemes="sasl_iam")
    path = config_file(tmp_path, account, auth_schemes=["sasl_iam"], acceptance_required=False)

    run = doctor("--config", path, "--stack-name", STACK)

    assert run.code == 0
    result = run.results["stack-document"]
    assert result["result"] == "warn"
    assert "acceptance_required" in result["detail"]
    assert "put-parameter" in result["fix"]
