"""template.yaml: the onboarding/offboarding workflows, their functions and
roles, the tenant table and the consumer routing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from msk_privatelink.onboarding.settings import OnboardingSettings
from tests.template.support import PROVIDER_TEMPLATE, REPO, iam_statements

pytestmark = pytest.mark.template

TEMPLATE = PROVIDER_TEMPLATE

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
# Actions IAM grants only on "*", each with its reason in template.yaml.
STAR_ONLY = {
    "events:PutPermission",
    "events:RemovePermission",
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def test_tenant_table_is_recoverable_encrypted_and_keyed_per_account(
    template: dict[str, Any],
) -> None:
    table = template["Resources"]["TenantTable"]
    props = table["Properties"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["KeySchema"] == [
        {"AttributeName": "clusterArn", "KeyType": "HASH"},
        {"AttributeName": "consumerAccountId", "KeyType": "RANGE"},
    ]


@pytest.mark.parametrize("name", ["OnboardingStateMachine", "OffboardingStateMachine"])
def test_state_machines_are_wired_logged_and_traced(template: dict[str, Any], name: str) -> None:
    machine = template["Resources"][name]
    props = machine["Properties"]
    assert machine["Type"] == "AWS::Serverless::StateMachine"
    definition = (REPO / props["DefinitionUri"]).read_text(encoding="utf-8")
    # Every placeholder is substituted, and nothing else is.
    assert set(PLACEHOLDER.findall(definition)) == set(props["DefinitionSubstitutions"])
    assert props["DefinitionSubstitutions"]["OnboardingTasksFunctionArn"] == {
        "Fn::GetAtt": ["OnboardingTasksFunction", "Arn"]
    }
    assert props["Type"] == "STANDARD"
    assert props["Tracing"] == {"Enabled": True}
    assert props["Logging"]["Level"] == "ALL"
    # Task tokens are in the execution data: they stay out of the logs.
    assert props["Logging"]["IncludeExecutionData"] is False
    assert props["Role"] == {"Fn::GetAtt": ["WorkflowsRole", "Arn"]}


def test_workflows_may_invoke_only_the_task_function(template: dict[str, Any]) -> None:
    invoke = {
        s.owner: s.resources
        for s in iam_statements(template)
        if "lambda:InvokeFunction" in s.actions
    }
    # The state machines call their task function; the reconcile paths (the
    # reconciler and the onboarding tasks' in-process reconcile) the Kafka
    # admin function; nothing else invokes anything.
    assert invoke == {
        "WorkflowsRole": [
            {"Fn::GetAtt": ["OnboardingTasksFunction", "Arn"]},
            {"Fn::Sub": "${OnboardingTasksFunction.Arn}:*"},
        ],
        "InvokeKafkaAdminPolicy": [{"Fn::GetAtt": ["KafkaAdminFunction", "Arn"]}],
    }
    roles = template["Resources"]["InvokeKafkaAdminPolicy"]["Properties"]["Roles"]
    assert roles == [{"Ref": "ReconcilerFunctionRole"}, {"Ref": "OnboardingTasksFunctionRole"}]


def test_only_star_only_actions_are_granted_on_star_among_the_new_roles(
    template: dict[str, Any],
) -> None:
    roles = {"OnboardingTasksFunctionRole", "TaskCallbackFunctionRole", "WorkflowsRole"}
    for statement in iam_statements(template):
        if statement.owner in roles and "*" in statement.resources:
            writes = {a for a in statement.actions if not a.split(":")[1].startswith("Describe")}
            assert writes <= STAR_ONLY, statement.sid


def test_task_function_environment_is_what_its_settings_read(template: dict[str, Any]) -> None:
    env = template["Resources"]["OnboardingTasksFunction"]["Properties"]["Environment"]["Variables"]
    globals_env = template["Globals"]["Function"]["Environment"]["Variables"]
    names = set(env) | set(globals_env)
    values = {n: "x" for n in names}
    values |= {
        "CONFIG_PARAMETER_PREFIX": "/msk-privatelink/s/clusters",
        "CONSUMER_ORGANIZATION_ID": "o-a1b2c3d4e5",
        "ALLOWED_CONSUMER_REGIONS": "eu-west-1",
    }
    settings = OnboardingSettings.from_env(values)
    assert settings.allowed_consumer_regions == {"eu-west-1"}
    assert env["ALLOWED_CONSUMER_REGIONS"] == {"Fn::Join": [",", {"Ref": "ConsumerRegions"}]}
    reconciler = template["Resources"]["ReconcilerFunction"]["Properties"]
    assert reconciler["Environment"]["Variables"]["TENANT_TABLE_NAME"] == {"Ref": "TenantTable"}
    callback = template["Resources"]["TaskCallbackFunction"]["Properties"]
    assert callback["Environment"]["Variables"] == {"TENANT_TABLE_NAME": {"Ref": "TenantTable"}}


def test_consumer_replies_reach_the_callback_with_retry_and_dead_letter(
    template: dict[str, Any],
) -> None:
    rule = template["Resources"]["TaskCallbackFunction"]["Properties"]["Events"]["ConsumerReplies"]
    props = rule["Properties"]
    assert rule["Type"] == "EventBridgeRule"
    assert props["EventBusName"] == {"Ref": "ProviderEventBus"}
    assert props["Pattern"] == {
        "source": ["msk-privatelink.consumer"],
        "detail-type": ["ConsumerEndpointsReady", "ConsumerConnectivityReport"],
    }
    assert props["DeadLetterConfig"]["Arn"] == {
        "Fn::GetAtt": ["EventDeliveryDeadLetterQueue", "Arn"]
    }
    policy = template["Resources"]["EventDeliveryDeadLetterQueuePolicy"]["Properties"]
    allowed = policy["PolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert {"Fn::GetAtt": ["TaskCallbackFunctionConsumerReplies", "Arn"]} in allowed


def test_the_callback_reads_tenants_and_updates_them_only_in_place(
    template: dict[str, Any],
) -> None:
    # A connectivity report changes one attribute of an existing tenant item:
    # UpdateItem (conditional on the item existing), never PutItem or a delete.
    dynamodb = {
        (statement.sid, action, str(resource))
        for statement in iam_statements(template)
        if statement.owner == "TaskCallbackFunctionRole"
        for action in statement.actions
        if action.startswith("dynamodb:")
        for resource in statement.resources
    }
    table = str({"Fn::GetAtt": ["TenantTable", "Arn"]})
    assert dynamodb == {
        ("ReadTenants", "dynamodb:GetItem", table),
        ("RecordConnectivityReports", "dynamodb:UpdateItem", table),
    }


def test_the_earlier_versions_consumer_events_role_puts_only_on_consumer_buses(
    template: dict[str, Any],
) -> None:
    # Kept for per-tenant rules made before migrate-subscriptions; nothing
    # passes it any more.
    role = template["Resources"]["ConsumerEventsRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    [statement] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["events:PutEvents"]
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:events:*:*:event-bus/msk-privatelink-consumer*"
    }
    assert not [s for s in iam_statements(template) if "iam:PassRole" in s.actions]


def test_reconcile_permissions_are_shared_by_reconciler_and_task_function(
    template: dict[str, Any],
) -> None:
    policy = template["Resources"]["ReconcilePolicy"]
    assert policy["Type"] == "AWS::IAM::Policy"
    assert policy["Properties"]["Roles"] == [
        {"Ref": "ReconcilerFunctionRole"},
        {"Ref": "OnboardingTasksFunctionRole"},
    ]
    for function in ("ReconcilerFunction", "OnboardingTasksFunction"):
        assert template["Resources"][function]["DependsOn"] == "ReconcilePolicy"


def test_function_makefiles_exist() -> None:
    for directory, target in (
        ("onboarding_tasks", "OnboardingTasksFunction"),
        ("task_callback", "TaskCallbackFunction"),
        ("consumer_delivery", "ConsumerDeliveryFunction"),
    ):
        makefile = Path(REPO / "functions" / directory / "Makefile").read_text(encoding="utf-8")
        assert f"build-{target}:" in makefile


def _iam_wildcard(pattern: str) -> re.Pattern[str]:
    """An IAM resource pattern ("*" any run, "?" one character) as a regex."""
    return re.compile(".*".join(".".join(map(re.escape, p.split("?"))) for p in pattern.split("*")))


@pytest.mark.parametrize(
    "bus_name",
    ["msk-privatelink-consumer", "msk-privatelink-consumer-payments", "msk-privatelink-consumer.b"],
)
def test_the_delivery_role_may_write_to_every_bus_the_consumer_stack_may_be_given(
    template: dict[str, Any], bus_name: str
) -> None:
    from tests.template.support import CONSUMER_TEMPLATE, load_template

    consumer = load_template(CONSUMER_TEMPLATE)
    allowed = consumer["Parameters"]["ConsumerEventBusName"]["AllowedPattern"]
    assert re.fullmatch(allowed, bus_name)
    [statement] = [
        s
        for s in template["Resources"]["ConsumerDeliveryFunctionRole"]["Properties"]["Policies"][0][
            "PolicyDocument"
        ]["Statement"]
        if s["Sid"] == "PutOnConsumerBuses"
    ]
    resource = statement["Resource"]["Fn::Sub"].replace("${AWS::Partition}", "aws")
    arn = f"arn:aws:events:eu-west-1:111122223333:event-bus/{bus_name}"
    assert _iam_wildcard(resource).fullmatch(arn), (resource, arn)
    # A name the consumer stack refuses is one the role cannot reach either.
    assert not re.fullmatch(allowed, "payments")
    assert not _iam_wildcard(resource).fullmatch(arn.replace(bus_name, "payments"))


def test_consumer_events_go_through_one_rule_and_undeliverable_ones_reach_an_alarmed_queue(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    rule = resources["ConsumerDeliveryRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "ProviderEventBus"}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["ConsumerDeliveryQueue", "Arn"]}
    assert target["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": ["EventDeliveryDeadLetterQueue", "Arn"]}
    }
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    queue = resources["ConsumerDeliveryQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["ConsumerDeliveryDeadLetterQueue", "Arn"]
    }
    function = resources["ConsumerDeliveryFunction"]["Properties"]
    # Lambda's advice for SQS sources: visibility at least 6 x the timeout.
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    env = function["Environment"]["Variables"]
    assert env["DELIVERY_DEAD_LETTER_QUEUE_URL"] == {"Ref": "ConsumerDeliveryDeadLetterQueue"}
    assert env["DELIVERY_QUEUE_URL"] == {"Ref": "ConsumerDeliveryQueue"}
    [statement] = resources["ConsumerDeliveryQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["ConsumerDeliveryRule", "Arn"]
    }
    assert resources["ConsumerDeliveryDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"]
    alarm = resources["ConsumerDeliveryDeadLetterQueueAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {
            "Name": "QueueName",
            "Value": {"Fn::GetAtt": ["ConsumerDeliveryDeadLetterQueue", "QueueName"]},
        }
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_tenant_table_index_is_the_one_the_embedded_aws_creates(
    template: dict[str, Any],
) -> None:
    from msk_privatelink.onboarding.aws.tenants import ACCOUNT_INDEX, create_tenant_table

    seen: dict[str, Any] = {}

    class Recorder:
        def create_table(self, **kwargs: Any) -> None:
            seen.update(kwargs)

    create_tenant_table(Recorder(), "t")  # type: ignore[arg-type]
    props = template["Resources"]["TenantTable"]["Properties"]
    assert props["GlobalSecondaryIndexes"] == seen["GlobalSecondaryIndexes"]
    assert props["AttributeDefinitions"] == seen["AttributeDefinitions"]
    assert props["GlobalSecondaryIndexes"][0]["IndexName"] == ACCOUNT_INDEX
