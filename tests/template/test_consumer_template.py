"""consumer/template.yaml: validated, linted, scanned and built with the real
tooling, then checked for shape, and its IAM checked against the calls the
consumer-sync handler really makes on the embedded AWS."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from msk_privatelink.consumer.service import HANDLED_TYPES, ConsumerSyncSettings
from msk_privatelink.kernel.consumer_events import CONSUMER_EVENT_SOURCE, PROVIDER_EVENT_SOURCE
from tests.template.support import (
    CONSUMER_TEMPLATE,
    OWNER_TAG,
    OWNER_VALUE,
    PSEUDO,
    Renderer,
    Statement,
    assert_arm64_msgspec_without_pydantic,
    assert_cfn_lint_passes,
    assert_checkov_passes,
    assert_runtime_package_only,
    assert_sam_validate_lint_passes,
    grants_everyone,
    iam_action_catalogue,
    iam_statements,
    inline_skips,
    is_lambda_vpc_eni_grant,
    is_mutating,
    principals,
    resource_types,
    run_sam_build,
    star_statements_explained,
)

pytestmark = pytest.mark.template

TEMPLATE = CONSUMER_TEMPLATE
PROVIDER_BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-bus/msk-privatelink-provider"
# Mutations on "*" with no tag condition: Route 53 supports none, and
# CreateHostedZone has no resource-level permissions. Held to route53:VPCs.
UNTAGGABLE_STAR_MUTATIONS = {"route53:CreateHostedZone"}


def role_statements(template: dict[str, Any], role: str) -> list[Statement]:
    return [s for s in iam_statements(template) if s.owner == role]


def renderer(template: dict[str, Any]) -> Renderer:
    return Renderer(
        template,
        {"ProviderAccountId": "123456789012", "ProviderEventBusArn": PROVIDER_BUS_ARN},
    )


def rendered_arns(template: dict[str, Any], statement: Statement) -> list[str]:
    """A statement's resources with the intrinsics resolved (GetAtt left as is)."""
    out = []
    for resource in statement.resources:
        value = renderer(template).eval(resource)
        out.append(value if isinstance(value, str) else json.dumps(value))
    return out


# ---------------------------------------------------------------------------
# Real tools
# ---------------------------------------------------------------------------
def test_sam_validate_lint_passes(tmp_path: Path) -> None:
    assert_sam_validate_lint_passes(TEMPLATE, tmp_path)


def test_cfn_lint_passes() -> None:
    assert_cfn_lint_passes(TEMPLATE)


def test_checkov_passes_and_every_suppression_is_inline_and_in_use(
    template: dict[str, Any], tmp_path: Path
) -> None:
    scanned = assert_checkov_passes(TEMPLATE, template, tmp_path / "checkov.json")
    # Both scans ran: as written and as SAM generates it.
    assert "AWS::Serverless::Function.ConsumerSyncFunction" in scanned
    assert "AWS::Lambda::Function.ConsumerSyncFunction" in scanned
    for _, skip in inline_skips(template):
        assert len(str(skip["comment"]).split()) >= 8


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("consumer-build")
    result = run_sam_build(TEMPLATE, work)
    assert result.returncode == 0, result.stdout + result.stderr
    yield work / "build"
    shutil.rmtree(work, ignore_errors=True)


def test_sam_build_produces_the_function_and_the_shared_arm64_layer(built: Path) -> None:
    assert (built / "ConsumerSyncFunction" / "app.py").is_file()
    assert (built / "ConnectivityCanaryFunction" / "app.py").is_file()
    layer = built / "CoreLayer" / "python"
    for module in ("consumer/service.py", "kernel/consumer_events.py", "consumer/sync.py"):
        assert (layer / "msk_privatelink" / module).is_file(), module
    assert (layer / "aws_lambda_powertools").is_dir()
    assert_arm64_msgspec_without_pydantic(layer)
    assert_runtime_package_only(layer)


# ---------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------
def test_function_is_arm64_python313_serialised_with_a_dead_letter_path(
    template: dict[str, Any],
) -> None:
    globals_ = template["Globals"]["Function"]
    assert (globals_["Runtime"], globals_["Architectures"]) == ("python3.13", ["arm64"])
    assert globals_["Layers"] == [{"Ref": "CoreLayer"}]
    layer = template["Resources"]["CoreLayer"]
    assert layer["Properties"]["ContentUri"] == "../layers/core"
    assert layer["Metadata"]["BuildMethod"] == "makefile"

    props = template["Resources"]["ConsumerSyncFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["CodeUri"] == "../functions/consumer_sync"
    on_failure = props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["ConsumerDeadLetterQueue", "Arn"]},
    }
    log_group = template["Resources"]["ConsumerSyncLogGroup"]["Properties"]
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": "ConsumerSyncLogGroup"}}
    queue = template["Resources"]["ConsumerDeadLetterQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True


def test_the_rule_delivers_exactly_what_the_function_handles(template: dict[str, Any]) -> None:
    event = template["Resources"]["ConsumerSyncFunction"]["Properties"]["Events"]["ProviderEvents"]
    props = event["Properties"]
    assert event["Type"] == "EventBridgeRule"
    assert props["EventBusName"] == {"Ref": "ConsumerEventBus"}
    assert props["Pattern"]["source"] == [PROVIDER_EVENT_SOURCE]
    assert set(props["Pattern"]["detail-type"]) == HANDLED_TYPES
    assert props["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert props["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ConsumerDeadLetterQueue", "Arn"]}}


def test_answers_are_forwarded_to_the_provider_bus_with_a_put_only_role(
    template: dict[str, Any],
) -> None:
    rule = template["Resources"]["ForwardAnswersRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "ConsumerEventBus"}
    assert rule["EventPattern"]["source"] == [CONSUMER_EVENT_SOURCE]
    [target] = rule["Targets"]
    assert target["Arn"] == {"Ref": "ProviderEventBusArn"}
    assert target["RoleArn"] == {"Fn::GetAtt": ["ForwardAnswersRole", "Arn"]}
    assert "DeadLetterConfig" in target
    role = template["Resources"]["ForwardAnswersRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    [statement] = role_statements(template, "ForwardAnswersRole")
    assert statement.actions == ["events:PutEvents"]
    assert statement.resources == [{"Ref": "ProviderEventBusArn"}]
    assert "ManagedPolicyArns" not in role


def test_the_bus_admits_the_provider_account_only(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    policy = template["Resources"]["ConsumerEventBusPolicy"]["Properties"]
    assert policy["EventBusName"] == {"Ref": "ConsumerEventBus"}
    statement = policy["Statement"]
    assert statement["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ProviderAccountId}:root"}
    }
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Fn::GetAtt": ["ConsumerEventBus", "Arn"]}
    found = list(principals(transformed["Resources"]))
    assert len(found) >= 4
    for principal in found:
        assert not grants_everyone(principal), principal


def test_the_function_environment_is_what_the_settings_accept(template: dict[str, Any]) -> None:
    env = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    env.update(
        template["Resources"]["ConsumerSyncFunction"]["Properties"]["Environment"]["Variables"]
    )
    render = renderer(template)
    values = {}
    for key, value in env.items():
        if value == {"Ref": "ConsumerEventBus"}:
            values[key] = render.eval({"Ref": "ConsumerEventBusName"})
        elif value == {"Ref": "AppliedViewsTable"}:
            # A table without TableName: CloudFormation names it
            # <stack>-<logical id>-<suffix>.
            values[key] = "msk-privatelink-AppliedViewsTable-1Q2W3E4R5T6Y"
        else:
            values[key] = str(render.eval(value))
    values["AWS_REGION"] = PSEUDO["AWS::Region"]

    settings = ConsumerSyncSettings.from_env(values)

    assert settings.event_bus_name == "msk-privatelink-consumer"
    assert settings.provider_account_id == "123456789012"
    assert settings.registry_prefix == "/msk-privatelink/msk-privatelink/clusters"
    assert settings.views_table == "msk-privatelink-AppliedViewsTable-1Q2W3E4R5T6Y"


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [
        ("ProviderAccountId", "123456789012", True),
        ("ProviderAccountId", "*", False),
        ("ProviderAccountId", "12345678901", False),
        ("ProviderEventBusArn", PROVIDER_BUS_ARN, True),
        ("ProviderEventBusArn", "arn:aws:events:us-east-1:123456789012:rule/x", False),
        ("ProviderEventBusArn", "*", False),
        ("ConsumerEventBusName", "msk-privatelink-consumer", True),
        ("ConsumerEventBusName", "a bus", False),
    ],
)
def test_parameter_patterns(
    template: dict[str, Any], parameter: str, value: str, accepted: bool
) -> None:
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) is accepted


# ---------------------------------------------------------------------------
# IAM
# ---------------------------------------------------------------------------
def test_no_statement_allows_every_action_and_star_mutations_are_held(
    template: dict[str, Any],
) -> None:
    statements = iam_statements(template)
    assert statements
    for statement in statements:
        for action in statement.actions:
            assert action != "*", statement
            assert not action.endswith(":*"), statement
        mutating = {a for a in statement.actions if is_mutating(a)}
        if "*" not in statement.resources or not mutating:
            continue
        if is_lambda_vpc_eni_grant(statement.owner, statement.sid, statement.actions):
            continue  # the prober functions' VPC interfaces, managed by Lambda
        assert mutating <= UNTAGGABLE_STAR_MUTATIONS, statement.sid
        # Private zones in this Region's VPCs only.
        assert statement.body["Condition"]["Null"] == {"route53:VPCs": "false"}
        assert "ForAllValues:StringLike" in statement.body["Condition"]


def test_endpoint_changes_are_tied_to_the_ownership_tag(template: dict[str, Any]) -> None:
    scoping = {f"aws:RequestTag/{OWNER_TAG}", f"aws:ResourceTag/{OWNER_TAG}", "ec2:CreateAction"}
    seen = set()
    for statement in role_statements(template, "ConsumerSyncFunctionRole"):
        endpoint_arns = [
            arn for arn in rendered_arns(template, statement) if ":vpc-endpoint/" in arn
        ]
        for action in statement.actions:
            if action.startswith("ec2:") and is_mutating(action) and endpoint_arns:
                seen.add(action)
                assert statement.condition_keys & scoping, f"{statement.sid}: {action}"
                for block in statement.body["Condition"].values():
                    for key, value in block.items():
                        if key.endswith(OWNER_TAG):
                            assert value == OWNER_VALUE
    assert seen == {
        "ec2:CreateVpcEndpoint",
        "ec2:CreateTags",
        "ec2:ModifyVpcEndpoint",
        "ec2:DeleteVpcEndpoints",
    }


def test_every_action_exists_and_its_grant_can_apply(template: dict[str, Any]) -> None:
    catalogue = iam_action_catalogue()
    for statement in iam_statements(template):
        for action in statement.actions:
            service, name = action.lower().split(":", 1)
            assert name in catalogue.get(service, {}).get("Actions", {}), action
            if not resource_types(catalogue, action):
                assert statement.resources == ["*"], f"{statement.sid}: {action} needs '*'"


def test_every_star_statement_says_why_in_a_comment(template: dict[str, Any]) -> None:
    star, explained = star_statements_explained(template, TEMPLATE)
    assert star
    assert star <= explained


def allowed(template: dict[str, Any], action: str) -> bool:
    return any(action in s.actions for s in role_statements(template, "ConsumerSyncFunctionRole"))


@pytest.mark.integration
def test_the_role_allows_every_call_the_handler_makes(template: dict[str, Any]) -> None:
    """Onboarding, scale-out, a duplicate, offboarding and a cross-Region
    consumer, through the real handler: every operation it called must be
    granted by the function's role (and nothing is granted that it never
    calls, except tag-on-create, which IAM authorises as its own action)."""
    from msk_privatelink_dev.local.workflows import keep_sender
    from tests.consumer.support import events_of
    from tests.consumer.wiring import add_consumer_stack, put_on_provider_bus
    from tests.integration.harness import world

    called: set[str] = set()

    def record(model: Any, params: Any = None, **_: Any) -> None:
        action = f"{model.service_model.signing_name}:{model.name}"
        called.add(action)
        body = params.get("body") if isinstance(params, dict) else None
        # IAM also authorises a cross-Region endpoint (CreateVpcEndpoint with
        # ServiceRegion) as the permission-only action vpce:AllowMultiRegion
        # (Service Authorization Reference, "Actions, resources, and condition
        # keys for AWS PrivateLink").
        if (
            action == "ec2:CreateVpcEndpoint"
            and isinstance(body, dict)
            and body.get("ServiceRegion")
        ):
            called.add("vpce:AllowMultiRegion")

    hook: tuple[str, Callable[..., Any]] = ("before-call.*.*", record)
    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, "111122223333", "eu-west-1")
        w.reconcile()
        view = events_of(w)[-1]
        stack.queued()
        put_on_provider_bus(w, stack.onboarding(view))
        stack.deliver(hook)
        w.aws.msk.scale(w.cluster_arn, 6)
        w.reconcile()
        put_on_provider_bus(w, events_of(w)[-1])
        stack.deliver(hook)
        stack.deliver(hook)
        put_on_provider_bus(w, stack.offboarding(2))
        stack.deliver(hook)

    assert {
        "ec2:CreateVpcEndpoint",
        "vpce:AllowMultiRegion",
        "route53:CreateHostedZone",
        "events:PutEvents",
    } <= called
    missing = sorted(a for a in called if not allowed(template, a))
    assert missing == []
    granted = {a for s in role_statements(template, "ConsumerSyncFunctionRole") for a in s.actions}
    # Authorised as actions of their own (tag-on-create, Route 53's VPC
    # check, Lambda's logging and failure destination), or only on paths a
    # crash or a refused batch read takes (an untagged zone of ours, a zone
    # whose tags cannot be read in one call).
    implied = {
        "ec2:CreateTags",
        "ssm:AddTagsToResource",
        "ec2:DescribeVpcs",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "ec2:ModifyVpcEndpoint",
        "route53:GetHostedZone",
        "route53:ListTagsForResource",
    }
    never_called = sorted(granted - called - implied)
    assert never_called == []


def test_every_function_has_an_errors_alarm_under_its_own_condition(
    template: dict[str, Any],
) -> None:
    """A function that fails stops publishing its own metrics, which the
    metric alarms read as not breaching: only Lambda's Errors shows it."""
    resources = template["Resources"]
    functions = {
        name: resource.get("Condition")
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]: alarm.get("Condition")
        for alarm in resources.values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        and alarm["Properties"].get("Namespace") == "AWS/Lambda"
        and alarm["Properties"].get("MetricName") == "Errors"
    }
    assert watched == functions


def test_the_canarys_iam_metadata_check_may_only_connect_to_the_providers_clusters(
    template: dict[str, Any],
) -> None:
    policy = template["Resources"]["ConnectivityCanaryIamPolicy"]
    assert policy["Condition"] == "CanaryIamAuth"
    assert policy["Properties"]["Roles"] == [{"Ref": "ConnectivityCanaryRole"}]
    (statement,) = role_statements(template, "ConnectivityCanaryIamPolicy")
    assert statement.actions == ["kafka-cluster:Connect"]
    # Any Region: a consumer stack may serve clusters of another Region.
    assert rendered_arns(template, statement) == ["arn:aws:kafka:*:123456789012:cluster/*"]
    # Secrets: read only those tagged for a cluster.
    (secrets,) = [
        s
        for s in role_statements(template, "ConnectivityCanaryRole")
        if s.sid == "ReadCanarySecrets"
    ]
    assert secrets.actions == ["secretsmanager:GetSecretValue"]
    (condition,) = secrets.body["Condition"]["StringLike"].values()
    assert list(secrets.body["Condition"]["StringLike"]) == [
        "aws:ResourceTag/msk-privatelink:canary-cluster"
    ]
    assert renderer(template).eval(condition) == "arn:aws:kafka:*:123456789012:cluster/*"
