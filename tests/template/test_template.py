"""template.yaml: validated, linted and built with the real SAM tooling, then checked for shape.

`sam build` downloads the layer's wheels from PyPI (network needed) and is
slow, so it runs once per session; every other check reads the template.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
BIN = Path(sys.executable).parent
SAM = BIN / "sam"
CFN_LINT = BIN / "cfn-lint"

OWNER_TAG = "msk-privatelink:managed-by"
OWNER_VALUE = "msk-privatelink"
EXAMPLE_CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/"
    "7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
READ_ONLY_VERBS = ("Describe", "Get", "List")
EM_AARCH64 = 183  # ELF e_machine value of ARM64
# The network-interface actions Lambda takes with a VPC function's execution
# role (AWSLambdaVPCAccessExecutionRole's ec2 actions): the one set of writes
# allowed on "*" without a tag condition, and only in the VPC function's role.
LAMBDA_VPC_ENI_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
VPC_ENI_STATEMENT = ("KafkaAdminFunctionRole", "ManageVpcNetworkInterfaces")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def load_template() -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    # JSON round trip: plain dicts/lists/str instead of cfn-lint's node types.
    return dict(json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE)))))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # The layer Makefile runs `python3 -m pip`: make it this interpreter.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHON", None)
    return env


def tool(path: Path, package: str) -> Path:
    # A missing tool is a broken environment, not a reason to skip.
    if not path.is_file():
        pytest.fail(f"{path.name} not found at {path}: install {package} into this virtualenv")
    return path


def sam_binary() -> Path:
    return tool(SAM, "aws-sam-cli")


def run(cmd: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Statement:
    owner: str
    sid: str
    body: dict[str, Any]

    @property
    def actions(self) -> list[str]:
        return [str(a) for a in as_list(self.body.get("Action", []))]

    @property
    def resources(self) -> list[Any]:
        return as_list(self.body.get("Resource", []))

    @property
    def condition_keys(self) -> set[str]:
        return {key for block in self.body.get("Condition", {}).values() for key in block}


def iam_statements(template: dict[str, Any]) -> list[Statement]:
    """Every identity-policy statement the template itself writes."""
    found = []
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents: list[dict[str, Any]] = []
        if resource["Type"] == "AWS::Serverless::Function":
            documents += [p for p in props.get("Policies", []) if isinstance(p, dict)]
        elif resource["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            if "Statement" not in document:
                continue  # a SAM policy template (e.g. SQSSendMessagePolicy)
            for index, statement in enumerate(as_list(document["Statement"])):
                found.append(Statement(name, statement.get("Sid", str(index)), statement))
    return found


def is_mutating(action: str) -> bool:
    verb = action.split(":", 1)[1]
    return not verb.startswith(READ_ONLY_VERBS)


def is_lambda_vpc_eni_grant(owner: str, sid: str | None, actions: list[str]) -> bool:
    """The VPC function's ENI statement: exactly those actions, in that role."""
    return (owner, sid) == VPC_ENI_STATEMENT and set(actions) == LAMBDA_VPC_ENI_ACTIONS


# ---------------------------------------------------------------------------
# A small evaluator for the intrinsics the parameter document uses, so the
# rendered JSON can be checked for every shape of input.
# ---------------------------------------------------------------------------
PSEUDO = {
    "AWS::StackName": "msk-privatelink",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
}
SUB_VAR = re.compile(r"\$\{([A-Za-z0-9:._]+)\}")


@dataclass(frozen=True)
class Renderer:
    template: dict[str, Any]
    overrides: dict[str, str]

    def parameter(self, name: str) -> Any:
        spec = self.template["Parameters"][name]
        raw = self.overrides.get(name, str(spec.get("Default", "")))
        return raw.split(",") if spec["Type"] == "CommaDelimitedList" else raw

    def condition(self, name: str) -> bool:
        return bool(self.eval(self.template["Conditions"][name]))

    def eval(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.eval(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {key: self.eval(value) for key, value in node.items()}
        [(fn, arg)] = node.items()
        if fn == "Ref":
            return PSEUDO[arg] if arg in PSEUDO else self.parameter(arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self.eval(arg[1]))

            def substitute(match: re.Match[str]) -> str:
                key = match.group(1)
                if key in names:
                    return str(names[key])
                value = self.eval({"Ref": key})
                assert isinstance(value, str), f"${{{key}}} is not a string"
                return value

            return SUB_VAR.sub(substitute, text)
        if fn == "Fn::Join":
            return str(self.eval(arg[0])).join(self.eval(arg[1]))
        if fn == "Fn::Split":
            return str(self.eval(arg[1])).split(self.eval(arg[0]))
        if fn == "Fn::Select":
            return self.eval(arg[1])[int(self.eval(arg[0]))]
        if fn == "Fn::If":
            return self.eval(arg[1] if self.condition(arg[0]) else arg[2])
        if fn == "Fn::Equals":
            return self.eval(arg[0]) == self.eval(arg[1])
        if fn == "Fn::Not":
            return not self.eval(arg[0])
        return {fn: self.eval(arg)}


# ---------------------------------------------------------------------------
# Real tools
# ---------------------------------------------------------------------------
def test_sam_validate_lint_passes(tmp_path: Path) -> None:
    result = run(
        [str(sam_binary()), "validate", "--lint", "--template-file", str(TEMPLATE)],
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_passes() -> None:
    result = run([str(tool(CFN_LINT, "cfn-lint")), str(TEMPLATE)], cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


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
    build_dir = work / "build"
    result = run(
        [
            str(sam_binary()),
            "build",
            "--template-file",
            str(TEMPLATE),
            "--base-dir",
            str(REPO),
            "--build-dir",
            str(build_dir),
            "--cache-dir",
            str(work / "cache"),
            "--no-cached",
            "--parallel",
        ],
        cwd=work,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    yield Build(root=build_dir, output=output)
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
    assert (layer / "pydantic").is_dir()

    # pydantic_core is compiled: it must be the aarch64 build for CPython 3.13.
    [extension] = list((layer / "pydantic_core").glob("*.so"))
    assert "cpython-313-aarch64-linux-gnu" in extension.name
    header = extension.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == EM_AARCH64

    # Development-only code (moto-based) never ships.
    assert not (layer / "msk_privatelink" / "embedded").exists()
    assert not list((layer / "msk_privatelink").glob("demo*"))
    assert not list((layer / "msk_privatelink").glob("local_*.py"))
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
    assert not (layer / "moto").exists()
    assert not (layer / "yaml").exists()
    importing_moto = [
        str(path.relative_to(layer))
        for path in (layer / "msk_privatelink").rglob("*.py")
        if re.search(r"^\s*(import|from) moto\b", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert importing_moto == [], "these modules would fail to import in Lambda"


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
    assert env["CONFIG_PARAMETER_PREFIX"] == {
        "Fn::Sub": "/msk-privatelink/${AWS::StackName}/clusters"
    }

    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert set(functions) == {
        "EventRouterFunction",
        "ReconcilerFunction",
        "OnboardingTasksFunction",
        "TaskCallbackFunction",
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

    assert router == {"QUEUE_URL": {"Ref": "ReconcileQueue"}}
    admin = {"Fn::If": ["HasKafkaAdmin", {"Ref": "KafkaAdminFunction"}, {"Ref": "AWS::NoValue"}]}
    assert reconciler == {
        "EVENT_BUS_NAME": {"Ref": "ProviderEventBus"},
        "STATE_TABLE_NAME": {"Ref": "StateTable"},
        "TENANT_TABLE_NAME": {"Ref": "TenantTable"},
        "KAFKA_ADMIN_FUNCTION_NAME": admin,
    }
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


def test_layer_requirements_are_exact_pins_without_yaml() -> None:
    lines = [
        line.split("#", 1)[0].strip()
        for line in (REPO / "layers/core/requirements.txt").read_text().splitlines()
    ]
    pins = dict(line.split("==", 1) for line in lines if line)
    assert pins["aws-lambda-powertools"] == "3.37.0"
    assert pins["pydantic"] == "2.13.5"
    assert pins["boto3"] == "1.43.108"
    assert "botocore" in pins
    assert not {"pyyaml", "moto", "aws-xray-sdk"} & {name.lower() for name in pins}


def test_reconcile_queue_is_fifo_with_a_fifo_dead_letter_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    queue = resources["ReconcileQueue"]["Properties"]
    timeout = template["Globals"]["Function"]["Timeout"]

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
        {"Fn::GetAtt": ["TaskCallbackFunctionConsumerReplies", "Arn"]}
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


def iam_action_catalogue() -> dict[str, Any]:
    """cfn-lint's copy of the IAM service authorization reference."""
    from cfnlint.data import AdditionalSpecs
    from cfnlint.helpers import load_resource

    return dict(load_resource(AdditionalSpecs, "Policies.json"))


def resource_types(catalogue: dict[str, Any], action: str) -> list[str] | None:
    """Resource types an action can be scoped to ([] = only "*"); None if unknown."""
    service, name = action.lower().split(":", 1)
    actions = catalogue.get(service, {}).get("Actions", {})
    if name not in actions:
        return None
    return list(actions[name].get("Resources", []))


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
    configurations = {
        "Fn::Sub": "arn:${AWS::Partition}:kafka:${AWS::Region}:${AWS::AccountId}:configuration/*"
    }
    ours = {
        "Fn::Sub": "arn:${AWS::Partition}:kafka:${AWS::Region}:${AWS::AccountId}:configuration/mpl-*"
    }
    cluster = {"Ref": "ClusterArn"}

    assert {action for _, action in kafka} == {
        "kafka:DescribeClusterV2",
        "kafka:ListNodes",
        "kafka:ListClusterOperationsV2",
        "kafka:GetBootstrapBrokers",
        "kafka:DescribeClusterOperationV2",
        "kafka:ListConfigurations",
        "kafka:DescribeConfiguration",
        "kafka:DescribeConfigurationRevision",
        "kafka:ListConfigurationRevisions",
        "kafka:CreateConfiguration",
        "kafka:UpdateConfiguration",
        "kafka:UpdateClusterConfiguration",
        "kafka-cluster:Connect",
        "kafka-cluster:DescribeClusterDynamicConfiguration",
        "kafka-cluster:AlterClusterDynamicConfiguration",
    }
    for statement, action in kafka:
        types = resource_types(catalogue, action)
        if not types:
            assert statement.resources == ["*"], action
            assert not is_mutating(action), f"{action} would write on '*'"
        elif action == "kafka:UpdateClusterConfiguration":
            # Only the configured cluster, only to a configuration of ours.
            assert statement.resources == [cluster, ours], action
        elif types == ["configuration"] and is_mutating(action):
            assert statement.resources == [ours], action
        elif types == ["configuration"]:
            # Reads: the configuration in force may be the operator's.
            assert statement.resources == [configurations], action
        else:
            assert statement.resources == [cluster], action


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
    # The reconciler (120 s) waits for it.
    assert function["Timeout"] < template["Globals"]["Function"]["Timeout"]

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
    assert by_action["kafka-cluster:AlterClusterDynamicConfiguration"].resources == [
        {"Ref": "ClusterArn"}
    ]
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
    def principals(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Principal":
                    yield value
                yield from principals(value)
        elif isinstance(node, list):
            for item in node:
                yield from principals(item)

    for principal in principals(template["Resources"]):
        assert principal != "*"
        assert principal != {"AWS": "*"}


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
    from msk_privatelink.config import parse_config

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
    assert functions == {"EventRouterFunction", "ReconcilerFunction"}


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
