"""The onboarding and offboarding state machines on the embedded AWS, with
their Lambda tasks served in this process (used by the demo and the workflow
tests; a development tool like the embedded AWS, never part of the layer).

- moto's Step Functions engine really executes the ASL files of
  ``statemachines/`` (``EmbeddedAws(moto_config=WORKFLOW_MOTO_CONFIG)``).
- Lambda tasks: moto would need Docker to run a function, so `LocalInvoke`
  answers ``lambda.Invoke`` (a botocore before-call handler) by running the
  real handler module here, with the payload it returns, or
  ``FunctionError: Unhandled`` and ``{errorType, errorMessage}`` as Lambda
  reports a raised error.
- The provider bus's ConsumerEndpointsReady rule targets a queue standing in
  for the callback function (moto cannot deliver to a Lambda target); the
  caller hands each queued event to the real task_callback handler.
- ConsumerDeliveryRule targets the template's ConsumerDeliveryQueue, as
  deployed; `ConsumerDeliveryRunner` plays the SQS event source mapping,
  handing its messages to the real consumer_delivery handler.
- `keep_sender`: EventBridge keeps an event's ``account`` when a rule forwards
  it to a bus in another account; moto re-puts it as the target account and
  leaves ``account`` out of what a target receives. Both matter to the
  functions, which check who sent an event.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3
import botocore.handlers
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.response import StreamingBody

from msk_privatelink_dev.local.lambdas import (
    REPO_ROOT,
    FakeContext,
    environment,
    invoke_from_queue,
    load_handler_module,
)

if TYPE_CHECKING:
    from msk_privatelink.aws.clients import AwsClients
    from msk_privatelink_dev.local.stack import Stack

STATEMACHINES_DIR = REPO_ROOT / "statemachines"
WORKFLOW_MOTO_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}}
MACHINES = ("onboarding", "offboarding")
TASKS_FUNCTION_PLACEHOLDER = "${OnboardingTasksFunctionArn}"
CALLBACK_RULE = "consumer-endpoints-ready"
DELIVERY_RULE = "consumer-delivery"
Fault = Callable[[dict[str, Any]], None]


class LocalInvoke:
    """`before-call.lambda.Invoke`: run the named function's real handler here."""

    EVENT = "before-call.lambda.Invoke"

    def __init__(self) -> None:
        self.functions: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self.invocations: list[dict[str, Any]] = []
        # Called with each task event before (fault) or after (fault_after)
        # the handler runs; may raise, as a function that fails would.
        self.fault: Fault | None = None
        self.fault_after: Fault | None = None

    def install(self) -> None:
        if (self.EVENT, self) not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append((self.EVENT, self))
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION._session.register(
                self.EVENT,
                self,  # type: ignore[arg-type]  # answers the call: returns a response
                unique_id=self.EVENT,
            )

    def uninstall(self) -> None:
        with contextlib.suppress(ValueError):
            botocore.handlers.BUILTIN_HANDLERS.remove((self.EVENT, self))
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION._session.unregister(self.EVENT, unique_id=self.EVENT)

    @contextlib.contextmanager
    def installed(self) -> Iterator[LocalInvoke]:
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    def __call__(self, **event: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        params = event["params"]
        name = params["url_path"].split("/functions/")[1].split("/")[0]
        function = self.functions.get(unquote(name))
        if function is None:
            return None
        body = params.get("body") or b"{}"
        payload = json.loads(body if isinstance(body, (bytes, str)) else b"{}")
        self.invocations.append(payload)
        error: str | None = None
        try:
            if self.fault is not None:
                self.fault(payload)
            result = function(payload)
            if self.fault_after is not None:
                self.fault_after(payload)
            out = json.dumps(result).encode()
        except Exception as exc:  # what Lambda reports for an unhandled error
            error = "Unhandled"
            out = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        parsed: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": StreamingBody(io.BytesIO(out), len(out)),
            "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": str(uuid.uuid4())},
        }
        if error:
            parsed["FunctionError"] = error
        return AWSResponse(str(params.get("url", "")), 200, HTTPHeaders(), None), parsed


def definition(name: str, tasks_function_arn: str) -> str:
    """A state machine as template.yaml deploys it: the ASL with the task function's ARN."""
    text = (STATEMACHINES_DIR / f"{name}.asl.json").read_text(encoding="utf-8")
    return text.replace(TASKS_FUNCTION_PLACEHOLDER, tasks_function_arn)


@contextlib.contextmanager
def keep_sender() -> Iterator[None]:
    """Forwarding to a bus in another account or Region keeps the event as
    sent (EventBridge's behaviour), instead of moto's re-put."""
    from moto.events.models import Rule, events_backends
    from moto.events.utils import EventTemplateParser
    from moto.utilities.arns import parse_arn

    original: Any = Rule.send_to_targets
    template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        buses = [t for t in self.targets if parse_arn(t["Arn"]).resource_type == "event-bus"]
        if not buses:
            original(self, original_event, transform_input)
            return
        self.targets = [t for t in self.targets if t not in buses]
        try:
            original(self, original_event, transform_input)
        finally:
            self.targets = self.targets + buses
        if not self.event_pattern.matches_event(original_event):
            return
        for target in buses:
            arn = parse_arn(target["Arn"])
            bus = events_backends[arn.account][arn.region].describe_event_bus(arn.resource_id)
            for rule in list(bus.rules.values()):
                rule.send_to_targets(copy.deepcopy(original_event))

    with_account = template.replace('"version": "0",', '"version": "0", "account": "<account>",')
    if with_account == template:
        raise RuntimeError("moto's event template changed: cannot add the sender's account")
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = with_account
    try:
        yield
    finally:
        Rule.send_to_targets = original  # type: ignore[method-assign]
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template


def create_queue(clients: AwsClients, name: str) -> tuple[str, str]:
    """A standard queue: (URL, ARN)."""
    url = clients.sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def drain_queue(clients: AwsClients, url: str) -> list[dict[str, Any]]:
    """Every message body in the queue (JSON), deleting what it read."""
    out: list[dict[str, Any]] = []
    while True:
        messages = clients.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return out
        for message in messages:
            out.append(json.loads(message["Body"]))
            clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@dataclass(frozen=True)
class WorkflowDeployment:
    """What template.yaml deploys for the workflows, as the embedded AWS holds it."""

    state_machine_arns: dict[str, str]
    # The callback function's stand-in: ConsumerEndpointsReady lands here.
    replies_url: str
    # ConsumerDeliveryQueue: provider events for consumers, before delivery.
    delivery_url: str

    def arn(self, machine: str) -> str:
        return self.state_machine_arns[machine]


def deploy_workflows(
    clients: AwsClients, stack: Stack, *, tasks_function_arn: str, role_arn: str
) -> WorkflowDeployment:
    """Both state machines, the consumer-delivery dead-letter queue and the
    provider bus's rule for consumer replies (its pattern from the template,
    its Lambda target replaced by a queue)."""
    sfn = clients.session.client("stepfunctions", region_name=clients.region)
    arns = {
        name: sfn.create_state_machine(
            name=f"msk-privatelink-{name}",
            definition=definition(name, tasks_function_arn),
            roleArn=role_arn,
        )["stateMachineArn"]
        for name in MACHINES
    }
    replies_url, replies_arn = create_queue(clients, "task-callback-invocations")
    stack.create_queue(clients.sqs, "ConsumerDeliveryDeadLetterQueue")
    delivery_url = stack.create_queue(clients.sqs, "ConsumerDeliveryQueue")
    bus = stack.physical_name("ProviderEventBus")
    patterns = stack.event_patterns()
    rules = (
        (
            CALLBACK_RULE,
            patterns[f"{stack.function_id('task_callback')}ConsumerReplies"],
            replies_arn,
        ),
        (
            DELIVERY_RULE,
            patterns["ConsumerDeliveryRule"],
            stack.get_att("ConsumerDeliveryQueue", "Arn"),
        ),
    )
    for name, pattern, target in rules:
        clients.events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
        clients.events.put_targets(
            Rule=name, EventBusName=bus, Targets=[{"Id": "target", "Arn": target}]
        )
    return WorkflowDeployment(arns, replies_url, delivery_url)


class ConsumerDeliveryRunner:
    """The consumer_delivery function behind ConsumerDeliveryQueue, with the
    environment the template gives it."""

    def __init__(self, clients: AwsClients, stack: Stack, log: io.StringIO | None = None):
        self.env = stack.environment("consumer_delivery")
        self.log = log if log is not None else io.StringIO()
        self._sqs = clients.sqs
        with environment(self.env), contextlib.redirect_stdout(self.log):
            self._module = load_handler_module("consumer_delivery")

    def run(self) -> list[dict[str, Any]]:
        """Deliver what the queue holds now (retries wait for their delay)."""

        def invoke(event: dict[str, Any]) -> dict[str, Any]:
            with environment(self.env), contextlib.redirect_stdout(self.log):
                answer: dict[str, Any] = self._module.lambda_handler(
                    event, FakeContext("consumer-delivery")
                )
            return answer

        return invoke_from_queue(self._sqs, self.env["DELIVERY_QUEUE_URL"], invoke)


def start_execution(sfn: Any, state_machine_arn: str, document: dict[str, Any], name: str) -> str:
    # Named: an unnamed moto execution gets a name that collides next time.
    return str(
        sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(document)
        )["executionArn"]
    )


def wait_for_execution(
    sfn: Any,
    execution_arn: str,
    pump: Callable[[], None],
    *,
    deadline_seconds: float,
    poll_seconds: float = 0.05,
) -> dict[str, Any]:
    """Play the other parties (``pump``: consumers, the callback function)
    until the execution ends; its DescribeExecution answer."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        pump()
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            pump()
            return dict(described)
        time.sleep(poll_seconds)
    raise TimeoutError(f"{execution_arn} still running after {deadline_seconds}s")


def entered_states(sfn: Any, execution_arn: str) -> list[str]:
    """Names of the states the execution entered, in order."""
    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
