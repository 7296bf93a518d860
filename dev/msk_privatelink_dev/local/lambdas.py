"""Run the real Lambda handlers in this process, wired the way AWS wires them.

Used by the demo and the tests: the router handler gets EventBridge events;
messages it sends to the FIFO queue are received and handed to the
reconciler handler as an SQS event, and deleted unless the handler reported
them as failed (what Lambda's event source mapping does).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from msk_privatelink_dev.local.stack import Stack

REPO_ROOT = Path(__file__).resolve().parents[3]
FUNCTIONS_DIR = REPO_ROOT / "functions"


@dataclass(frozen=True)
class FakeContext:
    """The attributes of a Lambda context that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    # Seconds left in the invocation; tests shorten it to drive time budgets.
    remaining_seconds: Callable[[], float] = field(default=lambda: 120.0, compare=False)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def aws_request_id(self) -> str:
        return str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return int(self.remaining_seconds() * 1000)


# The function (its directory under functions/) whose handler is running, so
# that the AWS calls made meanwhile can be held against that function's role.
RUNNING_FUNCTION: ContextVar[str | None] = ContextVar("running_function", default=None)


def load_handler_module(function: str) -> ModuleType:
    """Import ``functions/<function>/app.py`` under a unique module name; its
    ``lambda_handler`` marks the calls it makes as ``function``'s."""
    path = FUNCTIONS_DIR / function / "app.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: run from a checkout of the project (pip install -e .)"
        )
    spec = importlib.util.spec_from_file_location(f"msk_privatelink_fn_{function}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, "lambda_handler")  # noqa: B009 - a module's attribute, typed Any

    @functools.wraps(handler)
    def attributed(event: Any, context: Any) -> Any:
        token = RUNNING_FUNCTION.set(function)
        try:
            return handler(event, context)
        finally:
            RUNNING_FUNCTION.reset(token)

    setattr(module, "lambda_handler", attributed)  # noqa: B010
    return module


def create_state_table(dynamodb: DynamoDBClient, name: str) -> None:
    """The state table as template.yaml declares it (key ``pk``, on demand)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


# The provider functions LocalFunctions runs, by their directory under functions/.
PROVIDER_HANDLERS = ("event_router", "change_detector", "reconciler")
Environments = Mapping[str, Mapping[str, str]]


def provider_environments(stack: Stack, **overrides: str) -> dict[str, dict[str, str]]:
    """Each provider function's environment as the stack's template sets it,
    plus ``overrides`` (settings a deployment leaves at their defaults)."""
    return {name: {**stack.environment(name), **overrides} for name in PROVIDER_HANDLERS}


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class LocalFunctions:
    """The router, change detector and reconciler handlers plus the FIFO
    queue between them."""

    def __init__(self, session: boto3.Session, env: Environments, queue_url: str) -> None:
        self._sqs = session.client("sqs")
        self.env = {name: dict(env[name]) for name in PROVIDER_HANDLERS}
        self._queue_url = queue_url
        # Makes each reconciler invocation's clock (seconds left); None: 120 s.
        self.reconciler_time: Callable[[], Callable[[], float]] | None = None
        self._queue_arn = self._sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        # Handler output (JSON logs, EMF metrics) is kept here, not printed.
        # Powertools binds its log stream and settings at import: import inside.
        self.log = io.StringIO()
        with environment(self.env["event_router"]), contextlib.redirect_stdout(self.log):
            self.router = load_handler_module("event_router")
        with environment(self.env["reconciler"]), contextlib.redirect_stdout(self.log):
            self.reconciler = load_handler_module("reconciler")
        with environment(self.env["change_detector"]), contextlib.redirect_stdout(self.log):
            self.detector = load_handler_module("change_detector")

    def route(self, event: dict[str, Any]) -> dict[str, Any]:
        with environment(self.env["event_router"]), contextlib.redirect_stdout(self.log):
            result: dict[str, Any] = self.router.lambda_handler(event, FakeContext("router"))
        return result

    def detect(self) -> dict[str, Any]:
        """One tick of the change detector's schedule."""
        tick = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
        with environment(self.env["change_detector"]), contextlib.redirect_stdout(self.log):
            result: dict[str, Any] = self.detector.lambda_handler(tick, FakeContext("detector"))
        return result

    def drain(self, max_batches: int = 20) -> list[dict[str, Any]]:
        """Deliver queued messages to the reconciler until the queue is empty."""
        responses: list[dict[str, Any]] = []
        for _ in range(max_batches):
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["All"],
                VisibilityTimeout=0,
            ).get("Messages", [])
            if not messages:
                return responses
            event = {"Records": [self._record(m) for m in messages]}
            with environment(self.env["reconciler"]), contextlib.redirect_stdout(self.log):
                try:
                    response: dict[str, Any] = self.reconciler.lambda_handler(
                        event, self._reconciler_context()
                    )
                except Exception as exc:
                    # Lambda returns every message of a failed invocation to the queue.
                    response = {
                        "batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages],
                        "error": f"{type(exc).__name__}: {exc}",
                    }
            responses.append(response)
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            for m in messages:
                if m["MessageId"] not in failed:
                    self._sqs.delete_message(
                        QueueUrl=self._queue_url, ReceiptHandle=m["ReceiptHandle"]
                    )
            if failed:
                return responses
        return responses

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        return sqs_record(message, self._queue_arn)

    def _reconciler_context(self) -> FakeContext:
        if self.reconciler_time is None:
            return FakeContext("reconciler")
        return FakeContext("reconciler", remaining_seconds=self.reconciler_time())


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage answer's message as Lambda's SQS event source hands it over."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def invoke_from_queue(
    sqs: Any,
    queue_url: str,
    handler: Callable[[dict[str, Any]], dict[str, Any]],
    max_batches: int = 50,
) -> list[dict[str, Any]]:
    """Hand the queue's visible messages to an SQS-triggered handler, ten at a
    time, deleting what it did not report as failed (Lambda's event source
    mapping with ReportBatchItemFailures); stops at a batch with failures."""
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    responses: list[dict[str, Any]] = []
    for _ in range(max_batches):
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            break
        response = handler({"Records": [sqs_record(m, arn) for m in messages]})
        responses.append(response)
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if failed:
            break
    return responses
