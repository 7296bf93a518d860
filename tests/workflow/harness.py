"""The onboarding and offboarding state machines, really executed by moto's
Step Functions engine, on three accounts of the embedded AWS.

- Provider (123456789012, us-east-1): the cluster, its configuration, the
  provider bus, the state and tenant tables, both state machines as
  template.yaml defines them (the ASL files with the function ARN
  substituted).
- Consumers: one in the provider's Region, one in eu-west-1, each with the
  consumer stack wired as consumer/template.yaml wires it
  (tests/consumer/wiring.py) and the real consumer-sync handler answering.

The machinery shared with `make demo` lives in msk_privatelink_dev.local.workflows:
Lambda tasks served in this process by the real handler module
(functions/onboarding_tasks/app.py), the state machines deployed from
statemachines/, and the provider bus's rule for ConsumerEndpointsReady
targeting a queue that stands in for the callback function; the test hands
each queued event to the real functions/task_callback handler.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.onboarding.aws.subscriptions import account_statement_id, legacy_rule_name
from msk_privatelink.onboarding.aws.tenants import (
    SUBSCRIBED_STATES,
    Tenant,
    TenantRegistry,
    create_tenant_table,
)
from msk_privatelink.reconcile.service import ReconcileService
from msk_privatelink.reconcile.settings import ReconcilerSettings
from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.local.lambdas import FakeContext, load_handler_module
from msk_privatelink_dev.local.workflows import (
    WORKFLOW_MOTO_CONFIG,
    ConsumerDeliveryRunner,
    LocalInvoke,
    deploy_workflows,
    drain_queue,
    entered_states,
    keep_sender,
    start_execution,
    wait_for_execution,
)
from msk_privatelink_dev.local.workflows import definition as asl_definition
from tests.consumer.wiring import ConsumerStack, add_consumer_stack
from tests.integration.harness import (
    BUS,
    PREFIX,
    TABLE,
    TENANT_TABLE,
    World,
    create_world,
    stack_under_test,
)

PROVIDER_ACCOUNT = "123456789012"
SAME_REGION_ACCOUNT = "111122223333"
OTHER_REGION_ACCOUNT = "444455556666"
OTHER_REGION = "eu-west-1"
TASKS_FUNCTION_ARN = (
    f"arn:aws:lambda:us-east-1:{PROVIDER_ACCOUNT}:function:msk-privatelink-onboarding-tasks"
)
SFN_ROLE_ARN = f"arn:aws:iam::{PROVIDER_ACCOUNT}:role/msk-privatelink-workflows"
# A run that takes longer than this is a broken test, not a slow machine.
RUN_DEADLINE_SECONDS = 120

# The stack the workflows belong to, as template.yaml declares it.
STACK = stack_under_test(ConsumerRegions=OTHER_REGION)
TASK_ENV = STACK.environment("onboarding_tasks")


def definition(name: str) -> str:
    return asl_definition(name, TASKS_FUNCTION_ARN)


@dataclass
class Workflows:
    """The provider with both state machines, and the consumer stacks."""

    w: World
    invoke: LocalInvoke
    onboarding_arn: str
    offboarding_arn: str
    replies_url: str
    tasks: ModuleType
    callback: ModuleType
    delivery: ConsumerDeliveryRunner
    stacks: dict[str, ConsumerStack] = field(default_factory=dict)
    # Consumers whose consumer-sync function is down (never answers).
    silent: set[str] = field(default_factory=set)
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def clients(self) -> AwsClients:
        return AwsClients(self.w.aws.session(), region=self.w.aws.region)

    @property
    def tenants(self) -> TenantRegistry:
        return TenantRegistry(self.clients.dynamodb, TENANT_TABLE)

    def tenant(self, account: str) -> Tenant | None:
        return self.tenants.get(self.w.cluster_arn, account)

    # -- requests ----------------------------------------------------------------
    def onboarding_input(self, account: str, **overrides: Any) -> dict[str, Any]:
        stack = self.stacks[account]
        settings = stack.consumer.settings
        document: dict[str, Any] = {
            "clusterArn": self.w.cluster_arn,
            "consumerAccountId": account,
            "consumerRegion": stack.consumer.region,
            "vpcId": settings.vpc_id,
            "subnetIds": list(settings.subnet_ids),
            "securityGroupIds": list(settings.security_group_ids),
            "pollSeconds": 0,
            "pollAttempts": 5,
            "callbackTimeoutSeconds": 60,
        }
        if stack.consumer.region == self.w.aws.region:
            subnets = stack.consumer.client("ec2").describe_subnets(
                SubnetIds=list(settings.subnet_ids)
            )["Subnets"]
            by_id = {s["SubnetId"]: s["AvailabilityZoneId"] for s in subnets}
            document["availabilityZoneIds"] = [by_id[s] for s in settings.subnet_ids]
        document.update(overrides)
        return document

    def start(self, machine: str, document: dict[str, Any]) -> str:
        arn = self.onboarding_arn if machine == "onboarding" else self.offboarding_arn
        sfn = self.w.aws.client("stepfunctions")
        return start_execution(sfn, arn, document, f"{machine}-{uuid.uuid4().hex[:12]}")

    def run(self, machine: str, document: dict[str, Any]) -> dict[str, Any]:
        return self.wait(self.start(machine, document))

    def wait(self, execution_arn: str) -> dict[str, Any]:
        """Play the consumers and the callback function until the execution ends."""
        sfn = self.w.aws.client("stepfunctions")
        return wait_for_execution(
            sfn, execution_arn, self.pump, deadline_seconds=RUN_DEADLINE_SECONDS
        )

    def pump(self) -> None:
        self.delivery.run()
        for account, stack in self.stacks.items():
            if account in self.silent:
                stack.queued()  # the function is down: its events are lost
            else:
                stack.deliver()
        for event in drain_queue(self.clients, self.replies_url):
            with contextlib.redirect_stdout(io.StringIO()):
                self.callbacks.append(
                    self.callback.lambda_handler(event, FakeContext("task-callback"))
                )

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.w.aws.client("stepfunctions")
        return list(sfn.get_execution_history(executionArn=execution_arn)["events"])

    def entered(self, execution_arn: str) -> list[str]:
        return entered_states(self.w.aws.client("stepfunctions"), execution_arn)

    # -- the provider side of one consumer ------------------------------------------
    def provider_side(self, account: str, region: str) -> dict[str, Any]:
        """Everything of the consumer on the provider side."""
        ec2 = self.w.aws.client("ec2")
        events = self.w.aws.client("events")
        principal = f"arn:aws:iam::{account}:root"
        services = ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
        allowed = []
        regions = []
        for service in services:
            perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=service["ServiceId"])
            if any(p["Principal"] == principal for p in perms["AllowedPrincipals"]):
                allowed.append(service["ServiceId"])
            if any(r.get("Region") == region for r in service.get("SupportedRegions", [])):
                regions.append(service["ServiceId"])
        connections = [
            c
            for c in ec2.describe_vpc_endpoint_connections()["VpcEndpointConnections"]
            if c["VpcEndpointOwner"] == account
            and c["VpcEndpointState"] in ("pendingAcceptance", "pending", "available")
        ]
        rules = [
            r["Name"]
            for r in events.list_rules(EventBusName=BUS)["Rules"]
            if r["Name"] == legacy_rule_name(self.w.cluster_arn, account, region)
        ]
        policy = events.describe_event_bus(Name=BUS).get("Policy")
        statements = [
            s["Sid"]
            for s in (json.loads(policy)["Statement"] if policy else [])
            if s.get("Sid") == account_statement_id(account)
        ]
        tenant = self.tenant(account)
        return {
            "services": len(services),
            "allowed_on": allowed,
            "region_on": regions,
            "live_connections": len(connections),
            # Earlier versions' per-tenant rules: none is ever made now.
            "rules": rules,
            "statements": statements,
            "subscribed": tenant is not None and tenant.state in SUBSCRIBED_STATES,
        }

    def is_clean(self, account: str, region: str) -> bool:
        side = self.provider_side(account, region)
        cross_region = region != self.w.aws.region
        return (
            not side["allowed_on"]
            and not side["live_connections"]
            and not side["rules"]
            and not side["statements"]
            and not side["subscribed"]
            and (not cross_region or not side["region_on"])
        )


def _add_stack(w: World, account: str, region: str | None = None) -> ConsumerStack:
    """The consumer stack of tests/consumer/wiring.py without its hand-made
    delivery: here the onboarding workflow and the delivery function do it."""
    return add_consumer_stack(w, account, region, subscribed=False)


@contextlib.contextmanager
def workflows(
    monkeypatch: Any, *, brokers: int = 3, consumers: tuple[str, ...] = ("same", "other")
) -> Iterator[Workflows]:
    for name, value in TASK_ENV.items():
        monkeypatch.setenv(name, value)
    invoke = LocalInvoke()
    # The embedded AWS hands a repeated client token its first endpoint back,
    # rejected or not, as EC2 does.
    with EmbeddedAws(moto_config=WORKFLOW_MOTO_CONFIG) as aws, keep_sender():
        invoke.install()
        try:
            w = create_world(aws, brokers=brokers)
            clients = AwsClients(aws.session(), region=aws.region)
            create_tenant_table(clients.dynamodb, TENANT_TABLE)
            # Brokers and endpoint services exist before anyone is onboarded
            # (with the real clock, as the functions' own leases use it).
            reconcile_now(w)
            with contextlib.redirect_stdout(io.StringIO()):
                tasks = load_handler_module("onboarding_tasks")
                callback = load_handler_module("task_callback")
            invoke.functions[TASKS_FUNCTION_ARN] = lambda event: _quiet(
                tasks.lambda_handler, event, "onboarding-tasks"
            )
            deployment = deploy_workflows(
                clients, STACK, tasks_function_arn=TASKS_FUNCTION_ARN, role_arn=SFN_ROLE_ARN
            )
            flows = Workflows(
                w,
                invoke,
                deployment.arn("onboarding"),
                deployment.arn("offboarding"),
                deployment.replies_url,
                tasks,
                callback,
                ConsumerDeliveryRunner(clients, STACK),
            )
            if "same" in consumers:
                flows.stacks[SAME_REGION_ACCOUNT] = _add_stack(w, SAME_REGION_ACCOUNT)
            if "other" in consumers:
                flows.stacks[OTHER_REGION_ACCOUNT] = _add_stack(
                    w, OTHER_REGION_ACCOUNT, OTHER_REGION
                )
            yield flows
        finally:
            invoke.uninstall()


def reconcile_now(w: World) -> None:
    clients = AwsClients(w.aws.session(), region=w.aws.region)
    settings = ReconcilerSettings(
        config_parameter_prefix=PREFIX, event_bus_name=BUS, state_table_name=TABLE
    )
    ReconcileService(
        clients, settings, tenants=TenantRegistry(clients.dynamodb, TENANT_TABLE)
    ).reconcile_cluster(w.cluster_arn)
    w.published()


def _quiet(handler: Callable[..., Any], event: dict[str, Any], name: str) -> Any:
    # Runs on the Step Functions engine's thread: sys.stdout is swapped only
    # on the test's own thread, so Powertools' output goes to pytest's capture.
    return handler(event, FakeContext(name))
