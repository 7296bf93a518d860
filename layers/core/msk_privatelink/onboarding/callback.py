"""ConsumerEndpointsReady -> SendTaskSuccess / SendTaskFailure;
ConsumerConnectivityReport -> the tenant's stored connectivity.

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

A connectivity report (the consumer stack's canary, after every run) is
stored on the tenant item under the same rule: put by the account it speaks
for, which must be an ACTIVE tenant of that cluster from that Region and
VPC. It is kept only if it was checked later than the stored one and is not
of an older generation (onboarding/connectivity.py, TenantRegistry.
record_connectivity); the workflows' attributes are never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.consumer_events import (
    CONSUMER_EVENT_SOURCE,
    ConsumerConnectivityReport,
    ConsumerEndpointsReady,
)
from msk_privatelink.kernel.naming import is_owned
from msk_privatelink.kernel.records import InvalidRecord, parse, to_json
from msk_privatelink.onboarding.aws.endpoint_connections import Connection, EndpointConnections
from msk_privatelink.onboarding.aws.tenants import (
    REPORTING_STATES,
    Tenant,
    TenantRegistry,
    token_hash,
)
from msk_privatelink.onboarding.connectivity import summarise

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger(__name__)

# recorded / outdated: a connectivity report stored, or older than the stored one.
Verdict = Literal["success", "failure", "accepted", "ignored", "recorded", "outdated"]
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
    def __init__(
        self,
        tenants: TenantRegistry,
        sfn: SFNClient,
        ec2: EC2Client,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenants = tenants
        self._sfn = sfn
        self._ec2 = ec2
        self._clock = clock

    def handle(self, event: dict[str, Any]) -> CallbackOutcome:
        if event.get("source") != CONSUMER_EVENT_SOURCE:
            return self._ignore(f"source {event.get('source')!r} is not a consumer's")
        if event.get("detail-type") == ConsumerConnectivityReport.detail_type:
            return self._record_connectivity(event)
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

    def _record_connectivity(self, event: dict[str, Any]) -> CallbackOutcome:
        try:
            report = parse(ConsumerConnectivityReport, event.get("detail"))
        except InvalidRecord as exc:
            return self._ignore(f"malformed ConsumerConnectivityReport: {str(exc)[:MAX_WHY]}")
        # `account` is EventBridge's, not the sender's to choose: the only
        # proof of who put the report on the provider bus.
        if event.get("account") != report.consumer_account_id:
            return self._ignore(
                f"connectivity report put by account {event.get('account')!r} on behalf of "
                f"{report.consumer_account_id}"
            )
        try:
            summary = summarise(report, self._clock())
        except ValueError as exc:
            return self._ignore(f"connectivity report refused: {str(exc)[:MAX_WHY]}")
        tenant = self._tenants.get(report.cluster_arn, report.consumer_account_id)
        refusal = _not_reporting(tenant, report)
        if refusal:
            return self._ignore(refusal)
        if self._tenants.record_connectivity(
            report.cluster_arn,
            report.consumer_account_id,
            region=report.consumer_region,
            vpc_id=report.vpc_id,
            connectivity=summary,
        ):
            return CallbackOutcome(
                "recorded", f"{summary.state} at generation {summary.generation}"
            )
        # The write's condition failed: the tenant changed since it was read
        # (a refusal after all), or the stored report is the later one.
        tenant = self._tenants.get(report.cluster_arn, report.consumer_account_id)
        refusal = _not_reporting(tenant, report)
        if refusal:
            return self._ignore(refusal)
        stored = tenant.connectivity if tenant else None
        why = f"report checked at {summary.checked_at} for generation {summary.generation}"
        if stored is not None:
            why += f"; stored: checked at {stored.checked_at} for generation {stored.generation}"
        logger.info("connectivity report older than the stored one", extra={"why": why})
        return CallbackOutcome("outdated", why)

    @staticmethod
    def _ignore(why: str) -> CallbackOutcome:
        logger.warning("consumer reply ignored", extra={"why": why})
        return CallbackOutcome("ignored", why)


def _not_reporting(tenant: Tenant | None, report: ConsumerConnectivityReport) -> str:
    """Why ``tenant`` may not have ``report`` stored; empty when it may."""
    who = f"account {report.consumer_account_id} of {report.cluster_arn}"
    if tenant is None:
        return f"connectivity report refused: {who} is not a tenant"
    if tenant.state not in REPORTING_STATES:
        return f"connectivity report refused: {who} is {tenant.state}"
    if (tenant.region, tenant.vpc_id) != (report.consumer_region, report.vpc_id):
        return (
            f"connectivity report refused: {who} is a tenant from {tenant.region} "
            f"{tenant.vpc_id}, not {report.consumer_region} {report.vpc_id}"
        )
    return ""
