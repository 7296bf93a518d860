"""A consumer account with the consumer stack, on the embedded AWS, with the
real consumer-sync handler served in this process (a development tool, like
local/workflows.py; never part of the layer).

The account is reached with STS AssumeRole from the provider's account (moto
keeps every account's resources apart). Its stack is wired as
consumer/template.yaml wires it (environment and rule patterns read from the
template): the consumer bus admitting the provider account, the rule sending
the provider's events to the consumer-sync function and the rule forwarding
its answers to the provider bus.
moto cannot invoke a Lambda target, so the function's rule targets a queue
and `deliver()` hands each queued event to the handler, one at a time
(reserved concurrency 1), as Lambda's asynchronous invoke would.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3
import botocore.loaders
import botocore.session

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.consumer_events import CONSUMER_BUS_NAME
from msk_privatelink_dev.local.lambdas import FakeContext, environment, load_handler_module
from msk_privatelink_dev.local.stack import CONSUMER_TEMPLATE, Stack
from msk_privatelink_dev.local.workflows import create_queue, drain_queue

if TYPE_CHECKING:
    from msk_privatelink_dev.embedded import EmbeddedAws

# Every account session shares one loader: parsing the EC2 model again for
# each new session would cost a quarter of a second.
_LOADER = botocore.loaders.create_loader()


def account_session(credentials: dict[str, str], region: str) -> boto3.Session:
    """A session acting in the account the credentials belong to."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(
        botocore_session=core,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def create_consumer_bus(clients: AwsClients, provider_account_id: str) -> str:
    """The consumer bus and the policy the template gives it; returns its ARN."""
    bus_arn = clients.events.create_event_bus(Name=CONSUMER_BUS_NAME)["EventBusArn"]
    # What the template's AWS::Events::EventBusPolicy says (moto does not enforce it).
    clients.events.put_permission(
        EventBusName=CONSUMER_BUS_NAME,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ProviderPutEvents",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{provider_account_id}:root"},
                        "Action": "events:PutEvents",
                        "Resource": bus_arn,
                    }
                ],
            }
        ),
    )
    return bus_arn


def create_consumer_tables(clients: AwsClients, stack: Stack) -> None:
    """The consumer stack's table of applied views (consumer/template.yaml)."""
    stack.create_table(clients.dynamodb, "AppliedViewsTable")


def put_bus_rules(clients: AwsClients, rules: list[tuple[str, dict[str, Any], str]]) -> None:
    """Rules on the consumer bus: (name, event pattern, target ARN) each."""
    for name, pattern, target in rules:
        clients.events.put_rule(
            Name=name, EventBusName=CONSUMER_BUS_NAME, EventPattern=json.dumps(pattern)
        )
        clients.events.put_targets(
            Rule=name, EventBusName=CONSUMER_BUS_NAME, Targets=[{"Id": "t", "Arn": target}]
        )


def create_consumer_network(ec2: Any, cidr_prefix: str) -> tuple[str, tuple[str, ...], str]:
    """A VPC with a subnet in each of three zones and a client security group:
    (VPC id, subnet ids, group id)."""
    vpc_id = ec2.create_vpc(CidrBlock=f"{cidr_prefix}.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:3]
    subnet_ids = tuple(
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{cidr_prefix}.{i}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate(zones)
    )
    group_id = ec2.create_security_group(
        GroupName="kafka-clients", Description="Kafka clients to brokers", VpcId=vpc_id
    )["GroupId"]
    return vpc_id, subnet_ids, group_id


def consumer_stack(
    provider_account_id: str,
    account_id: str,
    region: str,
    parameters: Mapping[str, str] | None = None,
) -> Stack:
    """The consumer stack (consumer/template.yaml) in ``account_id`` and
    ``region``, with ``parameters`` beside the provider account."""
    return Stack(
        CONSUMER_TEMPLATE,
        "msk-privatelink-consumer",
        account_id,
        region,
        parameters={"ProviderAccountId": provider_account_id, **(parameters or {})},
    )


def consumer_sync_environment(
    provider_account_id: str, account_id: str, region: str
) -> dict[str, str]:
    """The consumer-sync function's environment, as consumer/template.yaml sets it."""
    return consumer_stack(provider_account_id, account_id, region).environment("consumer_sync")


def consumer_rules(
    stack: Stack, function_target: str, provider_bus_arn: str
) -> list[tuple[str, dict[str, Any], str]]:
    """The consumer bus's rules as the template declares them: the
    consumer-sync function's (to ``function_target``) and the one forwarding
    answers to the provider bus."""
    patterns = stack.event_patterns()
    return [
        (
            "consumer-sync-provider-events",
            patterns[f"{stack.function_id('consumer_sync')}ProviderEvents"],
            function_target,
        ),
        ("forward-answers", patterns["ForwardAnswersRule"], provider_bus_arn),
    ]


def consumer_sync_invoker(
    module: ModuleType, log: io.StringIO, env: Mapping[str, str]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Invoke the loaded consumer-sync handler module as Lambda would, its
    output (logs and metrics) captured in ``log``."""

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        # Powertools keeps one logging handler per service name for the
        # whole process, bound to the stream of the first import.
        module.logger.registered_handler.setStream(log)
        with environment(env), contextlib.redirect_stdout(log):
            result: dict[str, Any] = module.lambda_handler(event, FakeContext("consumer-sync"))
        return result

    return invoke


@dataclass
class ConsumerAccount:
    """One consumer account and Region: its VPC and its consumer stack."""

    account_id: str
    region: str
    credentials: dict[str, str]
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_id: str
    provider_account_id: str
    bus_arn: str = ""
    inbox_url: str = ""
    log: io.StringIO = field(default_factory=io.StringIO)
    _module: ModuleType | None = None

    def session(self) -> boto3.Session:
        return account_session(self.credentials, self.region)

    def clients(self) -> AwsClients:
        return AwsClients(self.session(), region=self.region)

    @property
    def env(self) -> dict[str, str]:
        """The function's environment (consumer/template.yaml)."""
        return consumer_sync_environment(self.provider_account_id, self.account_id, self.region)

    def availability_zone_ids(self) -> list[str]:
        subnets = self.clients().ec2.describe_subnets(SubnetIds=list(self.subnet_ids))["Subnets"]
        by_id = {s["SubnetId"]: s["AvailabilityZoneId"] for s in subnets}
        return [by_id[s] for s in self.subnet_ids]

    def deploy_stack(self, provider_bus_arn: str) -> None:
        """The consumer stack (bus, its policy, the two rules, the applied-views table)."""
        clients = self.clients()
        self.bus_arn = create_consumer_bus(clients, self.provider_account_id)
        self.inbox_url, inbox_arn = create_queue(clients, "consumer-sync-invocations")
        stack = consumer_stack(self.provider_account_id, self.account_id, self.region)
        create_consumer_tables(clients, stack)
        put_bus_rules(clients, consumer_rules(stack, inbox_arn, provider_bus_arn))

    def handler(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """The real handler, its AWS clients acting in this account (the
        execution role's credentials, as Lambda gives them)."""
        if self._module is None:
            with environment(self.env), contextlib.redirect_stdout(self.log):
                self._module = load_handler_module("consumer_sync")
            account = self

            def clients(region: str | None = None) -> AwsClients:
                return AwsClients(account.session(), region=region or account.region)

            # The handler builds its clients with AwsClients(region=...).
            self._module.AwsClients = clients  # type: ignore[attr-defined]
        module = self._module

        return consumer_sync_invoker(module, self.log, self.env)

    def deliver(self) -> list[dict[str, Any]]:
        """Hand every event the consumer bus queued for the function to it, in order."""
        invoke = self.handler()
        return [invoke(event) for event in drain_queue(self.clients(), self.inbox_url)]


def add_consumer_account(
    aws: EmbeddedAws,
    account_id: str,
    *,
    region: str | None = None,
    cidr_prefix: str = "10.20",
) -> ConsumerAccount:
    """A consumer account with a VPC of three subnets and a client security group."""
    region = region or aws.region
    answer = aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/msk-privatelink-consumer",
        RoleSessionName="consumer",
    )["Credentials"]
    credentials = {k: str(answer[k]) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    ec2 = account_session(credentials, region).client("ec2")
    caller = account_session(credentials, region).client("sts").get_caller_identity()
    if caller["Account"] != account_id:
        raise RuntimeError(f"assumed role acts in {caller['Account']}, not {account_id}")
    vpc_id, subnet_ids, group_id = create_consumer_network(ec2, cidr_prefix)
    return ConsumerAccount(
        account_id=account_id,
        region=region,
        credentials=credentials,
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        security_group_id=group_id,
        provider_account_id=aws.account_id,
    )
