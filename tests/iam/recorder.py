"""Every AWS call a handler makes, held against its function's role as it is made.

Calls are attributed through ``RUNNING_FUNCTION`` (set while a handler loaded
by the local Lambda harness runs) and decided at the moment of the call, so
``aws:ResourceTag`` conditions see the tags the resource has then.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.client
import botocore.exceptions
from moto.iam.models import get_account_id_from

from msk_privatelink_dev.local.lambdas import RUNNING_FUNCTION
from msk_privatelink_dev.local.stack import Stack
from tests.iam.policy import Request, Statement, UnknownContextKey, UnsupportedPolicy, decide
from tests.iam.requests import Call, UnknownAction, requests_for
from tests.iam.roles import role_statements

_LOOKING_UP: ContextVar[bool] = ContextVar("iam_tag_lookup", default=False)

# (function directory, account, Region) -> the stack that function runs in.
StackOf = Callable[[str, str, str], Stack]


@dataclass(frozen=True)
class Decision:
    call: Call
    role: str
    request: Request | None
    allowed: bool
    granted_by: tuple[Statement, ...] = ()
    problem: str = ""

    def describe(self) -> str:
        what = (
            f"{self.request.action} on {self.request.resource}" if self.request else "(no request)"
        )
        reason = f": {self.problem}" if self.problem else ""
        return (
            f"{self.call.function} ({self.role}, account {self.call.account}, {self.call.region}) "
            f"{self.call.operation}: {what} is not allowed{reason}"
        )


@dataclass
class Recorder:
    stack_of: StackOf
    decisions: list[Decision] = field(default_factory=list)
    _roles: dict[tuple[Any, ...], tuple[str, list[Statement]]] = field(default_factory=dict)

    def role(self, call: Call) -> tuple[str, list[Statement]]:
        stack = self.stack_of(call.function, call.account, call.function_region)
        key = (call.function, call.account, stack.region, tuple(sorted(stack.parameters.items())))
        if key not in self._roles:
            role_id = stack.role_id(call.function)
            self._roles[key] = (role_id, role_statements(stack, role_id))
        return self._roles[key]

    def statements(self) -> dict[str, list[Statement]]:
        """Every role seen, by logical id (the last deployment's statements)."""
        return {role_id: statements for role_id, statements in self._roles.values()}

    def record(self, client: Any, operation: str, params: Mapping[str, Any]) -> None:
        function = RUNNING_FUNCTION.get()
        if function is None or _LOOKING_UP.get():
            return
        credentials = client._request_signer._credentials.get_frozen_credentials()
        call = Call(
            function,
            get_account_id_from(credentials.access_key),
            client.meta.region_name,
            client.meta.service_model.signing_name,
            operation,
            dict(params),
            os.environ.get("AWS_REGION", client.meta.region_name),
        )
        role_id, statements = self.role(call)
        tags = functools.partial(_resource_tags, credentials, call.region)
        try:
            requests = requests_for(call, tags)
        except UnknownAction as exc:
            self.decisions.append(Decision(call, role_id, None, False, problem=str(exc)))
            return
        for request in requests:
            try:
                allowed, by = decide(statements, request)
                problem = ""
            except (UnknownContextKey, UnsupportedPolicy) as exc:
                allowed, by, problem = False, [], f"{type(exc).__name__}: {exc}"
            self.decisions.append(Decision(call, role_id, request, allowed, tuple(by), problem))

    def denied(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]


@contextlib.contextmanager
def recording(stack_of: StackOf) -> Iterator[Recorder]:
    """Hold every handler's AWS calls against its role while the block runs."""
    recorder = Recorder(stack_of)
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(self: Any, operation_name: str, api_params: Mapping[str, Any]) -> Any:
        recorder.record(self, operation_name, api_params)
        return original(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    try:
        yield recorder
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def _resource_tags(credentials: Any, region: str, arn: str) -> dict[str, str] | None:
    """The tags ``arn`` carries now, read with the caller's own credentials."""
    token = _LOOKING_UP.set(True)
    try:
        session = boto3.Session(
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            aws_session_token=credentials.token,
            region_name=arn.split(":")[3] or region,
        )
        return _tags_of(session, arn)
    finally:
        _LOOKING_UP.reset(token)


def _tags_of(session: boto3.Session, arn: str) -> dict[str, str] | None:
    service = arn.split(":")[2]
    resource = arn.split(":", 5)[5]
    try:
        if service == "elasticloadbalancing":
            described = session.client("elbv2").describe_tags(ResourceArns=[arn])
            return {t["Key"]: t["Value"] for d in described["TagDescriptions"] for t in d["Tags"]}
        if service == "ec2":
            resource_id = resource.rsplit("/", 1)[-1]
            found = session.client("ec2").describe_tags(
                Filters=[{"Name": "resource-id", "Values": [resource_id]}]
            )["Tags"]
            return {t["Key"]: t["Value"] for t in found}
        if service == "secretsmanager":
            described = session.client("secretsmanager").describe_secret(SecretId=arn)
            return {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        if service in ("events", "states"):
            client = session.client("stepfunctions" if service == "states" else service)
            listed = client.list_tags_for_resource(ResourceArn=arn)["Tags"]
            return {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in listed}
    except botocore.exceptions.ClientError:
        return None  # a resource that does not exist carries no tags
    raise UnknownContextKey(f"aws:ResourceTag for {service} resources is not read here")
