"""template.yaml: validated, linted and built with the real SAM tooling, then checked for shape.

`sam build` downloads the layer's wheels from PyPI (network needed) and is
slow, so it runs once per session; every other check reads the template.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from msk_privatelink_dev.local.stack import Stack
from tests.template.support import (
    LAMBDA_VPC_ENI_ACTIONS,
    OWNER_TAG,
    OWNER_VALUE,
    PROVIDER_TEMPLATE,
    REPO,
    SUB_VAR,
    VPC_ENI_STATEMENT,
    Renderer,
    Statement,
    as_list,
    assert_arm64_msgspec_without_pydantic,
    assert_cfn_lint_passes,
    assert_runtime_package_only,
    assert_sam_validate_lint_passes,
    grants_everyone,
    iam_action_catalogue,
    iam_statements,
    is_lambda_vpc_eni_grant,
    is_mutating,
    principals,
    resource_types,
    resources_of_type,
    run_sam_build,
)

pytestmark = pytest.mark.template

TEMPLATE = PROVIDER_TEMPLATE

EXAMPLE_CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/"
    "7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)


# ---------------------------------------------------------------------------
# Real tools
# ---------------------------------------------------------------------------
def test_sam_validate_lint_passes(tmp_path: Path) -> None:
    assert_sam_validate_lint_passes(TEMPLATE, tmp_path)


def test_cfn_lint_passes() -> None:
    assert_cfn_lint_passes(TEMPLATE)


@dataclass(frozen=True)
class Build:
    root: Path
    output: str

    @property
    def layer(self) -> Path:
        return self.root / "CoreLayer" / "python"


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    work = tmp_path_factory.mktemp("sam-build")
    result = run_sam_build(TEMPLATE, work, "--base-dir", str(REPO), "--parallel")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    yield Build(root=work / "build", output=output)
    shutil.rmtree(work, ignore_errors=True)


def test_sam_build_produces_functions_and_an_arm64_layer(sam_build: Build) -> None:
    layer = sam_build.layer

    # The functions: just their handler module.
    for function in ("EventRouterFunction", "ReconcilerFunction"):
        assert (sam_build.root / function / "app.py").is_file(), function
    assert (sam_build.root / "template.yaml").is_file()

    # The layer: the core package and its pinned dependencies.
    assert (layer / "msk_privatelink" / "__init__.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir()
    # Tracing is Lambda's own (Tracing: Active); the X-Ray SDK would cost
    # about 80 ms of cold start for subsegments nobody asked for.
    assert not (layer / "aws_xray_sdk").exists()
    assert (layer / "boto3").is_dir()
    assert_arm64_msgspec_without_pydantic(layer)

    # Development-only code (moto-based) never ships.
    assert_runtime_package_only(layer)
    # Bytecode only for the runtime's CPython (3.13), never the build machine's:
    # /opt is read-only in Lambda, so a layer without it compiles at every cold start.
    caches = list(layer.rglob("*.pyc"))
    assert all(".cpython-313." in c.name for c in caches), {c.name for c in caches}
    if python313_available():
        for module in (layer / "msk_privatelink").rglob("*.py"):
            cached = module.parent / "__pycache__" / f"{module.stem}.cpython-313.pyc"
            assert cached.is_file(), module
            # PEP 552 flags 0b01: hash-based and unchecked, so the unzipped
            # files' times can never invalidate it.
            assert int.from_bytes(cached.read_bytes()[4:8], "little") == 0b01, module
    # pyyaml reads YAML configuration documents; its extension is the arm64 build.
    assert (layer / "yaml" / "__init__.py").is_file()
    for extension in (layer / "yaml").glob("*.so"):
        assert extension.name.endswith("cpython-313-aarch64-linux-gnu.so"), extension.name


# ---------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------
def test_sections_read_in_the_house_order() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    order = [
        text.index(marker)
        for marker in (
            "\nParameters:",
            "\nConditions:",
            "\nGlobals:",
            "\n  CoreLayer:",
            "\n  EventRouterFunction:",
            "\n  ReconcileQueue:",
            "\n  ReconcileDeadLetterQueueAlarm:",
            "\n  Dashboard:",
            "\nOutputs:",
        )
    ]
    assert order == sorted(order)


def test_every_function_is_arm64_python313_through_globals(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["Tracing"] == "Active"
    assert globals_["Timeout"] == 120
    assert globals_["MemorySize"] == 512
    assert globals_["Layers"] == [{"Ref": "CoreLayer"}]
    env = globals_["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "msk-privatelink"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "MskPrivateLink"
    assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    # Only the functions that read the configuration documents get their prefix.
    assert "CONFIG_PARAMETER_PREFIX" not in env

    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert set(functions) == {
        "EventRouterFunction",
        "ChangeDetectorFunction",
        "ReconcilerFunction",
        "OnboardingTasksFunction",
        "TaskCallbackFunction",
        "ConsumerDeliveryFunction",
        "KafkaAdminFunction",
    }
    for name, function in functions.items():
        props = function["Properties"]
        # Nothing overrides the globals.
        for key in ("Runtime", "Architectures", "Layers", "Tracing"):
            assert key not in props, f"{name} overrides {key}"
        assert props["Handler"] == "app.lambda_handler"


def test_function_environments(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    router = resources["EventRouterFunction"]["Properties"]["Environment"]["Variables"]
    reconciler = resources["ReconcilerFunction"]["Properties"]["Environment"]["Variables"]

    prefix = {"Fn::Sub": "/msk-privatelink/${AWS::StackName}/clusters"}
    assert router == {
        "CONFIG_PARAMETER_PREFIX": prefix,
        "QUEUE_URL": {"Ref": "ReconcileQueue"},
        "STATE_TABLE_NAME": {"Ref": "StateTable"},
        "SWEEP_CLUSTERS_PER_TICK": {"Ref": "SweepClustersPerTick"},
    }
    admin = {"Fn::If": ["HasKafkaAdmin", {"Ref": "KafkaAdminFunction"}, {"Ref": "AWS::NoValue"}]}
    assert reconciler == {
        "CONFIG_PARAMETER_PREFIX": prefix,
        "EVENT_BUS_NAME": {"Ref": "ProviderEventBus"},
        "STATE_TABLE_NAME": {"Ref": "StateTable"},
        # Longer than the reconciler's 300 s timeout.
        "LEASE_SECONDS": "600",
        "TENANT_TABLE_NAME": {"Ref": "TenantTable"},
        "KAFKA_ADMIN_FUNCTION_NAME": admin,
        # Two paced sweeps at once: half of ELB's 10 and EC2's 20 Describe/s.
        "ELB_DESCRIBE_CALLS_PER_MINUTE": "150",
        "EC2_DESCRIBE_CALLS_PER_MINUTE": "300",
    }
    [source] = resources["ReconcilerFunction"]["Properties"]["Events"].values()
    assert source["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 2}
    # The onboarding tasks run the same reconcile, advertised listeners included.
    onboarding = resources["OnboardingTasksFunction"]["Properties"]["Environment"]["Variables"]
    assert onboarding["KAFKA_ADMIN_FUNCTION_NAME"] == admin


def test_everything_builds_with_a_makefile(template: dict[str, Any]) -> None:
    layer = template["Resources"]["CoreLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]

    targets = {"CoreLayer": layer["Properties"]["ContentUri"]}
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        assert function["Metadata"]["BuildMethod"] == "makefile", name
        targets[name] = function["Properties"]["CodeUri"]
    for name, source in targets.items():
        makefile = (REPO / source / "Makefile").read_text(encoding="utf-8")
        assert re.search(rf"^build-{name}:", makefile, re.MULTILINE), f"{source}/Makefile"


def test_layer_requirements_are_exact_pins() -> None:
    lines = [
        line.split("#", 1)[0].strip()
        for line in (REPO / "layers/core/requirements.txt").read_text().splitlines()
    ]
    pins = dict(line.split("==", 1) for line in lines if line)
    assert pins["aws-lambda-powertools"] == "3.37.0"
    assert pins["msgspec"] == "0.22.0"
    assert "pydantic" not in pins
    assert pins["boto3"] == "1.43.108"
    assert "botocore" in pins
    assert not {"moto", "aws-xray-sdk"} & {name.lower() for name in pins}
    # The same pyyaml the project and its tests use (YAML documents).
    dev = dict(
        line.split("==", 1)
        for line in (REPO / "requirements/dev.txt").read_text().splitlines()
        if "==" in line
    )
    assert pins["pyyaml"] == dev["PyYAML"]


def test_the_reconcilers_lease_outlives_its_timeout(template: dict[str, Any]) -> None:
    from msk_privatelink.reconcile.budget import APPLY_RESERVE_SECONDS, RECORD_START_SECONDS

    function = template["Resources"]["ReconcilerFunction"]["Properties"]
    lease = int(function["Environment"]["Variables"]["LEASE_SECONDS"])

    # A live run never loses its cluster's lease, and a record is started
    # only with time for its reads and the reserve after its last change.
    assert lease > function["Timeout"]
    assert function["Timeout"] > RECORD_START_SECONDS > APPLY_RESERVE_SECONDS


def test_reconcile_queue_is_fifo_with_a_fifo_dead_letter_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    queue = resources["ReconcileQueue"]["Properties"]
    timeout = resources["ReconcilerFunction"]["Properties"]["Timeout"]

    assert queue["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False
    assert queue["DeduplicationScope"] == "messageGroup"
    assert queue["FifoThroughputLimit"] == "perMessageGroupId"
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] >= 6 * timeout
    redrive = queue["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 5
    [dlq_name, _] = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
    dlq = resources[dlq_name]["Properties"]
    assert dlq["FifoQueue"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_reconciler_consumes_the_queue_with_partial_batch_failures(
    template: dict[str, Any],
) -> None:
    props = template["Resources"]["ReconcilerFunction"]["Properties"]
    [source] = props["Events"].values()

    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["ReconcileQueue", "Arn"]}
    assert source["Properties"]["BatchSize"] == 10
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "ReservedConcurrentExecutions" not in props


def test_router_rules_have_retry_and_dead_letter(template: dict[str, Any]) -> None:
    events = template["Resources"]["EventRouterFunction"]["Properties"]["Events"]

    assert {spec["Type"] for spec in events.values()} == {"EventBridgeRule", "Schedule"}
    for name, spec in events.items():
        props = spec["Properties"]
        assert props["DeadLetterConfig"]["Arn"] == {
            "Fn::GetAtt": ["EventDeliveryDeadLetterQueue", "Arn"]
        }, name
        assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1, name
    policy = template["Resources"]["EventDeliveryDeadLetterQueuePolicy"]["Properties"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    allowed = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert allowed == [{"Fn::GetAtt": [f"EventRouterFunction{n}", "Arn"]} for n in events] + [
        {"Fn::GetAtt": ["ChangeDetectorFunctionDetectorSchedule", "Arn"]},
        {"Fn::GetAtt": ["TaskCallbackFunctionConsumerReplies", "Arn"]},
        {"Fn::GetAtt": ["ConsumerDeliveryRule", "Arn"]},
    ]


def test_state_table_is_recoverable_and_retained(template: dict[str, Any]) -> None:
    table = template["Resources"]["StateTable"]
    props = table["Properties"]

    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]


def test_no_iam_statement_allows_every_action(template: dict[str, Any]) -> None:
    statements = iam_statements(template)
    assert statements  # the check must see the inline policies

    for statement in statements:
        for action in statement.actions:
            assert action != "*", statement
            assert not action.endswith(":*"), statement


def test_mutations_on_every_resource_need_a_tag_condition(template: dict[str, Any]) -> None:
    catalogue = iam_action_catalogue()
    for statement in iam_statements(template):
        # Writes IAM cannot scope to any resource can only be granted on "*".
        mutating = [
            a for a in statement.actions if is_mutating(a) and resource_types(catalogue, a) != []
        ]
        if is_lambda_vpc_eni_grant(statement.owner, statement.sid, statement.actions):
            continue  # test_only_the_vpc_function_manages_network_interfaces_on_star
        if mutating and "*" in statement.resources:
            assert any(
                key.startswith(("aws:ResourceTag/", "aws:RequestTag/"))
                for key in statement.condition_keys
            ), f"{statement.owner}/{statement.sid} mutates {mutating} on '*' without a tag"


def test_load_balancing_and_endpoint_service_changes_are_tag_scoped(
    template: dict[str, Any],
) -> None:
    # Every write to ELB or endpoint services is tied to the ownership tag:
    # in the request (create), in the create action (tag-on-create) or on the
    # resource (everything later).
    scoping = {
        f"aws:RequestTag/{OWNER_TAG}",
        f"aws:ResourceTag/{OWNER_TAG}",
        "ec2:CreateAction",
        "elasticloadbalancing:CreateAction",
    }
    seen = set()
    for statement in iam_statements(template):
        if is_lambda_vpc_eni_grant(statement.owner, statement.sid, statement.actions):
            continue  # test_only_the_vpc_function_manages_network_interfaces_on_star
        for action in statement.actions:
            if action.startswith(("elasticloadbalancing:", "ec2:")) and is_mutating(action):
                seen.add(action)
                assert statement.condition_keys & scoping, f"{statement.sid}: {action}"
                for block in statement.body["Condition"].values():
                    for key, value in block.items():
                        if key.endswith(OWNER_TAG):
                            assert value == OWNER_VALUE
    assert {
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:DeleteLoadBalancer",
        "ec2:CreateVpcEndpointServiceConfiguration",
        "ec2:DeleteVpcEndpointServiceConfigurations",
    } <= seen


def test_only_read_only_actions_run_on_star(template: dict[str, Any]) -> None:
    catalogue = iam_action_catalogue()
    for statement in iam_statements(template):
        if is_lambda_vpc_eni_grant(statement.owner, statement.sid, statement.actions):
            continue  # test_only_the_vpc_function_manages_network_interfaces_on_star
        if "*" in statement.resources:
            # A write IAM cannot scope to a resource ([] resource types) can
            # only ever be granted on "*"; every other write must be scoped.
            unscoped = [
                a
                for a in statement.actions
                if is_mutating(a) and resource_types(catalogue, a) != []
            ]
            assert not unscoped, statement.sid


def python313_available() -> bool:
    """What layers/core/Makefile looks for to compile the layer's bytecode."""
    candidates = sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))
    found = shutil.which("python3.13")
    for candidate in [*map(str, candidates), *([found] if found else [])]:
        check = subprocess.run(
            [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"],
            capture_output=True,
            check=False,
        )
        if check.returncode == 0:
            return True
    return False


def test_every_action_exists_and_its_grant_can_apply(template: dict[str, Any]) -> None:
    catalogue = iam_action_catalogue()
    for statement in iam_statements(template):
        for action in statement.actions:
            service, name = action.lower().split(":", 1)
            known = catalogue.get(service, {}).get("Actions", {})
            assert any(fnmatch.fnmatchcase(k, name) for k in known), f"unknown action {action}"
            types = resource_types(catalogue, action)
            if types == []:
                # No resource-level permissions: anything but "*" grants nothing.
                assert statement.resources == ["*"], f"{statement.sid}: {action} needs '*'"


def test_kafka_actions_are_scoped_to_the_cluster_and_our_configuration(
    template: dict[str, Any],
) -> None:
    catalogue = iam_action_catalogue()
    kafka = [
        (statement, action)
        for statement in iam_statements(template)
        for action in statement.actions
        if action.startswith(("kafka:", "kafka-cluster:"))
    ]
    configurations = "arn:aws:kafka:us-east-1:123456789012:configuration/*"
    ours = "arn:aws:kafka:us-east-1:123456789012:configuration/mpl-*"

    assert {action for _, action in kafka} == {
        "kafka:DescribeClusterV2",
        "kafka:ListNodes",
        "kafka:ListClusterOperationsV2",
        "kafka:GetBootstrapBrokers",
        "kafka:DescribeClusterOperationV2",
        "kafka:ListConfigurations",
        "kafka:DescribeConfiguration",
        "kafka:DescribeConfigurationRevision",
        "kafka:CreateConfiguration",
        "kafka:UpdateConfiguration",
        "kafka:UpdateClusterConfiguration",
        "kafka-cluster:Connect",
        "kafka-cluster:DescribeClusterDynamicConfiguration",
        "kafka-cluster:AlterClusterDynamicConfiguration",
    }
    for statement, action in kafka:
        types = resource_types(catalogue, action)
        alone, with_more = cluster_resources(statement, ""), cluster_resources(statement, OTHER)
        if not types:
            assert statement.resources == ["*"], action
            assert not is_mutating(action), f"{action} would write on '*'"
        elif action == "kafka:UpdateClusterConfiguration":
            # Only the configured clusters, only to a configuration of ours.
            assert alone == sorted([CLUSTER, ours]), action
            assert with_more == sorted([CLUSTER, OTHER, ours]), action
        elif types == ["configuration"] and is_mutating(action):
            assert alone == with_more == [ours], action
        elif types == ["configuration"]:
            # Reads: the configuration in force may be the operator's.
            assert alone == with_more == [configurations], action
        else:
            assert alone == [CLUSTER], action
            assert with_more == sorted([CLUSTER, OTHER]), action


CLUSTER = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
OTHER = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/payments/0a1b2c3d-2b4a-4f7e-9a51-6c0e2d8b1a47-1"
)


def cluster_resources(statement: Statement, more: str) -> list[str]:
    """The statement's resources for a stack of CLUSTER plus ``more`` (MoreClusterArns)."""
    stack = Stack(
        PROVIDER_TEMPLATE,
        "msk-privatelink",
        "123456789012",
        "us-east-1",
        parameters={"ClusterArn": CLUSTER, "MoreClusterArns": more},
    )
    return sorted(as_list(stack.resolve(statement.body["Resource"])))


def statements_with(template: dict[str, Any], action: str) -> list[Statement]:
    return [s for s in iam_statements(template) if action in s.actions]


def test_route53_writes_are_limited_to_private_zones_and_broker_records(
    template: dict[str, Any],
) -> None:
    zones = {"Fn::Sub": "arn:${AWS::Partition}:route53:::hostedzone/*"}
    [create] = statements_with(template, "route53:CreateHostedZone")
    assert create.owner == "ReconcilePolicy"
    assert create.actions == ["route53:CreateHostedZone"]
    assert create.resources == ["*"]
    # Private zones only (the VPCs key must be present), in this Region's VPCs.
    assert create.body["Condition"]["Null"] == {"route53:VPCs": "false"}
    assert create.body["Condition"]["ForAllValues:StringLike"] == {
        "route53:VPCs": {"Fn::Sub": "VPCId=vpc-*,VPCRegion=${AWS::Region}"}
    }

    [records] = statements_with(template, "route53:ChangeResourceRecordSets")
    assert records.owner == "ReconcilePolicy"
    assert records.actions == ["route53:ChangeResourceRecordSets"]
    assert records.resources == [zones]
    condition = records.body["Condition"]
    assert condition["ForAllValues:StringEquals"] == {
        "route53:ChangeResourceRecordSetsRecordTypes": ["A"]
    }
    assert condition["ForAllValues:StringLike"] == {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": {
            "Fn::Sub": "b-*.kafka.${AWS::Region}.amazonaws.com"
        }
    }
    for statement in iam_statements(template):
        for action in statement.actions:
            if action.startswith("route53:") and action not in (
                "route53:CreateHostedZone",
                "route53:ListHostedZonesByVPC",
            ):
                assert statement.resources == [zones], f"{statement.sid}: {action}"


def test_the_kafka_admin_function_is_invoked_by_the_reconcile_only(
    template: dict[str, Any],
) -> None:
    invokes = [
        s
        for s in iam_statements(template)
        if "lambda:InvokeFunction" in s.actions
        and s.resources
        != [
            {"Fn::GetAtt": ["OnboardingTasksFunction", "Arn"]},
            {"Fn::Sub": "${OnboardingTasksFunction.Arn}:*"},
        ]
    ]
    [invoke] = invokes
    assert invoke.owner == "InvokeKafkaAdminPolicy"
    assert invoke.actions == ["lambda:InvokeFunction"]
    assert invoke.resources == [{"Fn::GetAtt": ["KafkaAdminFunction", "Arn"]}]
    policy = template["Resources"]["InvokeKafkaAdminPolicy"]
    assert policy["Condition"] == "HasKafkaAdmin"
    assert policy["Properties"]["Roles"] == [
        {"Ref": "ReconcilerFunctionRole"},
        {"Ref": "OnboardingTasksFunctionRole"},
    ]


def test_the_kafka_admin_function_exists_only_with_subnets_and_reaches_only_brokers(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    conditioned = {name for name, r in resources.items() if r.get("Condition") == "HasKafkaAdmin"}
    assert conditioned == {
        "KafkaAdminFunction",
        "KafkaAdminSecurityGroup",
        "KafkaAdminFunctionRole",
        "KafkaAdminLogGroup",
        "InvokeKafkaAdminPolicy",
    }
    rendered = Renderer(template, {})
    assert rendered.condition("HasKafkaAdmin") is False
    # Subnets without their VPC and the brokers' CIDR are refused before deploying.
    rule = template["Rules"]["KafkaAdminNetwork"]
    assert rule["RuleCondition"] == template["Conditions"]["HasKafkaAdmin"]
    assert [a["Assert"] for a in rule["Assertions"]] == [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": name}, ""]}]}
        for name in ("KafkaAdminVpcId", "KafkaAdminBrokerCidr")
    ]
    with_subnets = Renderer(template, {"KafkaAdminSubnetIds": "subnet-0123456789abcdef0"})
    assert with_subnets.condition("HasKafkaAdmin") is True

    function = resources["KafkaAdminFunction"]["Properties"]
    assert function["VpcConfig"] == {
        "SubnetIds": {"Ref": "KafkaAdminSubnetIds"},
        "SecurityGroupIds": [{"Ref": "KafkaAdminSecurityGroup"}],
    }
    # The reconciler waits for it.
    assert function["Timeout"] < resources["ReconcilerFunction"]["Properties"]["Timeout"]

    group = resources["KafkaAdminSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert group["VpcId"] == {"Ref": "KafkaAdminVpcId"}
    egress = [
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["CidrIp"])
        for rule in group["SecurityGroupEgress"]
    ]
    assert egress == [
        ("tcp", 9092, 9098, {"Ref": "KafkaAdminBrokerCidr"}),
        ("tcp", 443, 443, "0.0.0.0/0"),
    ]


def test_the_kafka_admin_role_reads_msk_secrets_and_alters_only_the_cluster(
    template: dict[str, Any],
) -> None:
    role = [s for s in iam_statements(template) if s.owner == "KafkaAdminFunctionRole"]
    by_action = {a: s for s in role for a in s.actions}

    assert set(by_action) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        *LAMBDA_VPC_ENI_ACTIONS,
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "kafka-cluster:Connect",
        "kafka-cluster:DescribeClusterDynamicConfiguration",
        "kafka-cluster:AlterClusterDynamicConfiguration",
    }
    assert by_action["secretsmanager:GetSecretValue"].resources == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
            "${AWS::AccountId}:secret:AmazonMSK_*"
        }
    ]
    decrypt = by_action["kms:Decrypt"]
    assert decrypt.body["Condition"] == {
        "StringEquals": {
            "kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}
        }
    }
    altering = by_action["kafka-cluster:AlterClusterDynamicConfiguration"]
    assert cluster_resources(altering, "") == [CLUSTER]
    assert cluster_resources(altering, OTHER) == sorted([CLUSTER, OTHER])
    assert by_action["logs:PutLogEvents"].resources == [
        {"Fn::GetAtt": ["KafkaAdminLogGroup", "Arn"]}
    ]


def test_only_the_vpc_function_manages_network_interfaces_on_star(
    template: dict[str, Any],
) -> None:
    eni_writes = {a for a in LAMBDA_VPC_ENI_ACTIONS if is_mutating(a)}
    holders = [s for s in iam_statements(template) if eni_writes & set(s.actions)]
    [statement] = holders
    assert (statement.owner, statement.sid) == VPC_ENI_STATEMENT
    assert set(statement.actions) == LAMBDA_VPC_ENI_ACTIONS
    assert statement.resources == ["*"]
    # ... and that role belongs to the one function attached to a VPC.
    functions = resources_of_type(template, "AWS::Serverless::Function")
    in_vpc = [n for n, f in functions.items() if "VpcConfig" in f["Properties"]]
    assert in_vpc == ["KafkaAdminFunction"]
    assert functions["KafkaAdminFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": [VPC_ENI_STATEMENT[0], "Arn"]
    }


def test_no_resource_policy_grants_everyone(template: dict[str, Any]) -> None:
    found = list(principals(template["Resources"]))
    assert found
    for principal in found:
        assert not grants_everyone(principal), principal


def test_config_parameter_name_uses_the_cluster_name(template: dict[str, Any]) -> None:
    props = template["Resources"]["ClusterConfigParameter"]["Properties"]
    rendered = Renderer(template, {"ClusterArn": EXAMPLE_CLUSTER_ARN}).eval(props["Name"])

    assert props["Type"] == "String"
    assert rendered == "/msk-privatelink/msk-privatelink/clusters/demo-cluster"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {},
            {
                "auth_schemes": None,
                "acceptance_required": True,
                "allowed_principals": [],
                "supported_regions": [],
                "guard": {"max_broker_removal_ratio": 0.5},
            },
            id="defaults",
        ),
        pytest.param(
            {"AuthSchemes": "sasl_iam"},
            {"auth_schemes": ["sasl_iam"]},
            id="one-scheme",
        ),
        pytest.param(
            {
                "AuthSchemes": "tls,sasl_scram,sasl_iam",
                "AcceptanceRequired": "false",
                "AllowedPrincipals": "arn:aws:iam::210987654321:root,"
                "arn:aws:iam::109876543210:role/kafka-clients",
                "SupportedRegions": "us-west-2,eu-west-1",
                "MaxBrokerRemovalRatio": "0.34",
            },
            {
                "auth_schemes": ["tls", "sasl_scram", "sasl_iam"],
                "acceptance_required": False,
                "allowed_principals": [
                    "arn:aws:iam::210987654321:root",
                    "arn:aws:iam::109876543210:role/kafka-clients",
                ],
                "supported_regions": ["us-west-2", "eu-west-1"],
                "guard": {"max_broker_removal_ratio": 0.34},
            },
            id="everything",
        ),
        pytest.param(
            {"Pattern": "shared-nlb", "AdvertisedListenersMode": "msk-configuration"},
            {"pattern": "shared-nlb", "advertised_listeners": {"mode": "msk-configuration"}},
            id="shared-nlb",
        ),
    ],
)
def test_config_parameter_renders_valid_json(
    template: dict[str, Any], overrides: dict[str, str], expected: dict[str, Any]
) -> None:
    # Given the stack parameters as CloudFormation would pass them
    params = {"ClusterArn": EXAMPLE_CLUSTER_ARN, **overrides}
    value = template["Resources"]["ClusterConfigParameter"]["Properties"]["Value"]

    # When the intrinsics are resolved
    document = json.loads(Renderer(template, params).eval(value))

    # Then the JSON has the promised shape and the core accepts it
    assert document["version"] == 1
    assert document["cluster_arn"] == EXAMPLE_CLUSTER_ARN
    assert document["pattern"] == overrides.get("Pattern", "nlb-per-broker")
    assert document["advertised_listeners"]["mode"] == overrides.get(
        "AdvertisedListenersMode", "none"
    )
    for key, wanted in expected.items():
        assert document[key] == wanted, key
    from msk_privatelink.reconcile.config import parse_config

    config = parse_config(json.dumps(document), "template.yaml")
    assert config.cluster_arn == EXAMPLE_CLUSTER_ARN


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [
        ("ClusterArn", EXAMPLE_CLUSTER_ARN, True),
        ("ClusterArn", "arn:aws:kafka:us-east-1:123456789012:topic/demo-cluster/x/t", False),
        ("AuthSchemes", "", True),
        ("AuthSchemes", "sasl_iam", True),
        ("AuthSchemes", "kerberos", False),
        ("AuthSchemes", " tls", False),
        ("AllowedPrincipals", "", True),
        ("AllowedPrincipals", "arn:aws:iam::210987654321:root", True),
        ("AllowedPrincipals", "arn:aws:iam::210987654321:role/path/app", True),
        ("AllowedPrincipals", "*", False),
        ("AllowedPrincipals", "arn:aws:iam::*:root", False),
        ("AllowedPrincipals", "210987654321", False),
        ("SupportedRegions", "", True),
        ("SupportedRegions", "ap-southeast-2", True),
        ("SupportedRegions", "mars-1", False),
        ("ReconcileSchedule", "rate(5 minutes)", True),
        ("ReconcileSchedule", "every 5 minutes", False),
        ("AlarmTopicArn", "", True),
        ("AlarmTopicArn", "arn:aws:sns:us-east-1:123456789012:ops", True),
        ("KafkaAdminSubnetIds", "", True),
        ("KafkaAdminSubnetIds", "subnet-0123456789abcdef0", True),
        ("KafkaAdminSubnetIds", "sg-0123456789abcdef0", False),
        ("KafkaAdminVpcId", "vpc-0123abcd", True),
        ("KafkaAdminVpcId", "subnet-0123abcd", False),
        ("KafkaAdminBrokerCidr", "", True),
        ("KafkaAdminBrokerCidr", "10.0.0.0/16", True),
        ("KafkaAdminBrokerCidr", "10.0.0.0/33", False),
        ("KafkaAdminBrokerCidr", "0.0.0.0/0 ", False),
        ("KafkaAdminBrokerCidr", "300.0.0.0/8", False),
    ],
)
def test_parameter_patterns(
    template: dict[str, Any], parameter: str, value: str, accepted: bool
) -> None:
    # CloudFormation applies AllowedPattern to each element of a CommaDelimitedList.
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) is accepted


def test_parameters(template: dict[str, Any]) -> None:
    params = template["Parameters"]

    assert params["Pattern"]["AllowedValues"] == ["nlb-per-broker", "shared-nlb"]
    assert params["AdvertisedListenersMode"]["AllowedValues"] == [
        "none",
        "msk-configuration",
        "broker-override",
    ]
    assert params["AdvertisedListenersMode"]["Default"] == "none"
    assert params["AcceptanceRequired"]["Default"] == "true"
    for name in ("AuthSchemes", "AllowedPrincipals", "SupportedRegions"):
        assert params[name]["Type"] == "CommaDelimitedList"
        assert params[name]["Default"] == ""
    assert params["MaxBrokerRemovalRatio"]["Type"] == "Number"
    assert float(params["MaxBrokerRemovalRatio"]["Default"]) == 0.5
    assert params["ReconcileSchedule"]["Default"] == "rate(5 minutes)"
    assert params["LogLevel"]["Default"] == "INFO"
    assert params["AlarmTopicArn"]["Default"] == ""
    # Every default passes its own pattern.
    for name, spec in params.items():
        if "AllowedPattern" in spec and "Default" in spec:
            for element in str(spec.get("Default", "")).split(","):
                assert re.fullmatch(spec["AllowedPattern"], element), name


def test_alarms_notify_the_optional_topic(template: dict[str, Any]) -> None:
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    metrics = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms.values()
    }

    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Errors"),
        ("MskPrivateLink", "GuardRefusals"),
    } <= metrics
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }, name
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["Threshold"] == 0
    guard = next(a for a in alarms.values() if a["Properties"]["MetricName"] == "GuardRefusals")
    assert guard["Properties"]["Dimensions"] == [{"Name": "service", "Value": "msk-privatelink"}]
    functions = {
        a["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for a in alarms.values()
        if a["Properties"]["MetricName"] == "Errors"
    }
    assert functions == {"EventRouterFunction", "ChangeDetectorFunction", "ReconcilerFunction"}


def test_dashboard_shows_the_reconcile_metrics(template: dict[str, Any]) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    rendered = SUB_VAR.sub("x", body)
    widgets = json.loads(rendered)["widgets"]
    metric_names = {row[1] for widget in widgets for row in widget["properties"]["metrics"]}

    assert {
        "PlannedChanges",
        "AppliedChanges",
        "ReconcileDuration",
        "GuardRefusals",
        "ApproximateNumberOfMessagesVisible",
    } <= metric_names


def test_outputs(template: dict[str, Any]) -> None:
    assert {
        "ReconcileQueueUrl",
        "ReconcileQueueArn",
        "ReconcileDeadLetterQueueArn",
        "ProviderEventBusName",
        "ProviderEventBusArn",
        "StateTableName",
        "ClusterConfigParameterName",
        "EventRouterFunctionName",
        "ReconcilerFunctionName",
    } <= set(template["Outputs"])
