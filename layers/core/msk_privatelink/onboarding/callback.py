"""ConsumerEndpointsReady -> SendTaskSuccess / SendTaskFailure.

The provider bus admits PutEvents from every onboarded account, so a reply
is trusted only when the account that put it (the event's `account`, set by
EventBridge, not by the sender) is the tenant it speaks for, and the task
token it carries is the one the workflow is waiting on for that tenant
(its hash is on the tenant item). Anything else is dropped with a log line:
answering a stranger's token would let one consumer steer another's
workflow.

A reply without a token follows a BrokerEndpointsChanged (a scale-out gave
the cluster new endpoint services). For an ACTIVE tenant the connections it
reports that are still waiting for acceptance, on services this project owns
for that cluster, are accepted: the tenant was accepted once, and the
reconciler already allowed it on the new services.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.consumer_events import CONSUMER_EVENT_SOURCE, ConsumerEndpointsReady
from msk_privatelink.kernel.naming import is_owned
from msk_privatelink.kernel.records import InvalidRecord, parse, to_json
from msk_privatelink.onboarding.aws.endpoint_connections import Connection, EndpointConnections
from msk_privatelink.onboarding.aws.tenants import TenantRegistry, token_hash

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger(__name__)

Verdict = Literal["success", "failure", "accepted", "ignored"]
# The states the consumer reports for each state the workflow waits in.
EXPECTED = {"PENDING": "ready", "OFFBOARDING": "removed"}
# The task already finished (timed out, answered twice): nothing to do.
STALE_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
MAX_WHY = 300


@dataclass(frozen=True)
class CallbackOutcome:
    verdict: Verdict
    why: str


class TaskCallbacks:
    def __init__(self, tenants: TenantRegistry, sfn: SFNClient, ec2: EC2Client) -> None:
        self._tenants = tenants
        self._sfn = sfn
        self._ec2 = ec2

    def handle(self, event: dict[str, Any]) -> CallbackOutcome:
        if event.get("source") != CONSUMER_EVENT_SOURCE:
            return self._ignore(f"source {event.get('source')!r} is not a consumer's")
        try:
            reply = parse(ConsumerEndpointsReady, event.get("detail"))
        except InvalidRecord as exc:
            # Cut short: an unknown field's name, which the message quotes, may be huge.
            return self._ignore(f"malformed ConsumerEndpointsReady: {str(exc)[:MAX_WHY]}")
        if event.get("account") != reply.consumer_account_id:
            return self._ignore(
                f"put by account {event.get('account')!r} on behalf of {reply.consumer_account_id}"
            )
        tenant = self._tenants.get(reply.cluster_arn, reply.consumer_account_id)
        if reply.task_token is None:
            if tenant is None or tenant.state != "ACTIVE" or reply.state != "ready":
                return self._ignore("a report without a token from a tenant that is not ACTIVE")
            return self._accept_reported(reply)
        if tenant is None or not tenant.token_hash:
            return self._ignore("no workflow is waiting for this tenant")
        if token_hash(reply.task_token) != tenant.token_hash:
            return self._ignore("the task token is not the one the tenant's workflow waits on")
        expected = EXPECTED.get(tenant.state)
        try:
            if reply.state == expected:
                self._sfn.send_task_success(taskToken=reply.task_token, output=to_json(reply))
                return CallbackOutcome("success", reply.state)
            cause = reply.reason or f"consumer answered {reply.state} while {tenant.state}"
            self._sfn.send_task_failure(
                taskToken=reply.task_token, error="ConsumerFailed", cause=cause[:32768]
            )
            return CallbackOutcome("failure", cause)
        except ClientError as exc:
            if error_code(exc) in STALE_TOKEN_CODES:
                return self._ignore(f"the task is no longer waiting ({error_code(exc)})")
            raise translate(exc, "SendTask*") from exc

    def _accept_reported(self, reply: ConsumerEndpointsReady) -> CallbackOutcome:
        reported = sorted({e.vpc_endpoint_id for e in reply.endpoints})
        if not reported:
            return CallbackOutcome("accepted", "0 connection(s)")
        try:
            rows = self._ec2.describe_vpc_endpoint_connections(
                Filters=[
                    {"Name": "vpc-endpoint-owner", "Values": [reply.consumer_account_id]},
                    {"Name": "vpc-endpoint-id", "Values": reported},
                    {"Name": "vpc-endpoint-state", "Values": ["pendingAcceptance"]},
                ]
            )["VpcEndpointConnections"]
            service_ids = sorted({r["ServiceId"] for r in rows})
            services = (
                self._ec2.describe_vpc_endpoint_service_configurations(ServiceIds=service_ids)[
                    "ServiceConfigurations"
                ]
                if service_ids
                else []
            )
        except ClientError as exc:
            raise translate(exc, "reading the reported endpoint connections") from exc
        ours = {
            s["ServiceId"]
            for s in services
            if is_owned({t["Key"]: t["Value"] for t in s.get("Tags", [])}, reply.cluster_arn)
        }
        pending = [
            Connection(r["ServiceId"], r["VpcEndpointId"], reply.consumer_account_id, "pending")
            for r in rows
            if r["ServiceId"] in ours and r.get("VpcEndpointOwner") == reply.consumer_account_id
        ]
        accepted = EndpointConnections(self._ec2).accept(pending)
        return CallbackOutcome("accepted", f"{accepted} connection(s)")

    @staticmethod
    def _ignore(why: str) -> CallbackOutcome:
        logger.warning("consumer reply ignored", extra={"why": why})
        return CallbackOutcome("ignored", why)
