"""A tenant's subscription on the provider bus: a rule forwarding the
cluster's events to the consumer's bus, and a bus-policy statement admitting
the consumer account's replies.

Names are derived from the cluster token, the account and its Region, so a
retried or resumed step finds what an earlier attempt created. The rule is
tagged as ours; only a rule with our tags for this cluster is ever deleted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.consumer_events import PROVIDER_EVENT_SOURCE
from msk_privatelink.kernel.errors import OwnershipConflictError
from msk_privatelink.kernel.naming import TAG_CLUSTER_ARN, cluster_token, is_owned, ownership_tags

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import RetryPolicyTypeDef

TAG_CONSUMER_ACCOUNT = "msk-privatelink:consumer-account"
TARGET_ID = "consumer-bus"
# EventBridge's own defaults (24 hours, 185 attempts), stated so a reader of
# the target sees them: a consumer bus that is briefly unavailable (being
# deployed, a policy being updated) still gets the event; what is still
# undeliverable after that lands in the dead-letter queue, whose alarm tells
# the operator (EventBridge User Guide, "Retrying events" and "Using
# dead-letter queues to process undelivered events").
RETRY_POLICY: RetryPolicyTypeDef = {
    "MaximumRetryAttempts": 185,
    "MaximumEventAgeInSeconds": 86_400,
}
# Provider events every tenant of the cluster gets; the requests are for one
# account only (matched on detail.consumerAccountId, absent from the others).
FORWARDED_DETAIL_TYPES = (
    "BrokerEndpointsChanged",
    "ConsumerOnboardingRequested",
    "ConsumerOffboardingRequested",
)


def rule_name(cluster_arn: str, account_id: str, region: str) -> str:
    return f"mpl-{cluster_token(cluster_arn)}-{account_id}-{region}"


def statement_id(cluster_arn: str, account_id: str) -> str:
    return f"mpl-{cluster_token(cluster_arn)}-{account_id}"


def event_pattern(cluster_arn: str, account_id: str) -> dict[str, Any]:
    return {
        "source": [PROVIDER_EVENT_SOURCE],
        "detail-type": list(FORWARDED_DETAIL_TYPES),
        "detail": {
            "clusterArn": [cluster_arn],
            # BrokerEndpointsChanged has no consumerAccountId: it goes to every tenant.
            "consumerAccountId": [account_id, {"exists": False}],
        },
    }


class Subscriptions:
    def __init__(
        self, events: EventBridgeClient, bus_name: str, role_arn: str, dead_letter_arn: str
    ) -> None:
        self._events = events
        self._bus = bus_name
        self._role_arn = role_arn
        self._dead_letter_arn = dead_letter_arn

    def subscribe(self, cluster_arn: str, account_id: str, region: str, bus_arn: str) -> None:
        name = rule_name(cluster_arn, account_id, region)
        self._refuse_foreign_rule(name, cluster_arn)
        try:
            rule_arn = self._events.put_rule(
                Name=name,
                EventBusName=self._bus,
                EventPattern=json.dumps(event_pattern(cluster_arn, account_id)),
                State="ENABLED",
                Description=f"msk-privatelink: {cluster_arn} events for account {account_id}",
                Tags=[
                    {"Key": k, "Value": v}
                    for k, v in {
                        **ownership_tags(cluster_arn),
                        TAG_CONSUMER_ACCOUNT: account_id,
                    }.items()
                ],
            )["RuleArn"]
            # PutRule only tags on create; a re-run keeps the tags it has.
            del rule_arn
            result = self._events.put_targets(
                Rule=name,
                EventBusName=self._bus,
                Targets=[
                    {
                        "Id": TARGET_ID,
                        "Arn": bus_arn,
                        "RoleArn": self._role_arn,
                        "RetryPolicy": RETRY_POLICY,
                        "DeadLetterConfig": {"Arn": self._dead_letter_arn},
                    }
                ],
            )
            if result.get("FailedEntryCount", 0):
                entry = result["FailedEntries"][0]
                raise OwnershipConflictError(
                    f"PutTargets {name}: {entry.get('ErrorCode')}: {entry.get('ErrorMessage')}"
                )
            self._events.put_permission(
                EventBusName=self._bus,
                StatementId=statement_id(cluster_arn, account_id),
                Action="events:PutEvents",
                Principal=account_id,
            )
        except ClientError as exc:
            raise translate(exc, f"subscribe {account_id} to {self._bus}") from exc

    def unsubscribe(self, cluster_arn: str, account_id: str, region: str) -> None:
        """Remove the rule, its target and the policy statement; absent is done."""
        name = rule_name(cluster_arn, account_id, region)
        try:
            if self._rule_tags(name) is not None:
                self._refuse_foreign_rule(name, cluster_arn)
                targets = self._events.list_targets_by_rule(Rule=name, EventBusName=self._bus)
                ids = [t["Id"] for t in targets.get("Targets", [])]
                if ids:
                    self._events.remove_targets(Rule=name, EventBusName=self._bus, Ids=ids)
                self._events.delete_rule(Name=name, EventBusName=self._bus)
            if self.has_statement(cluster_arn, account_id):
                self._events.remove_permission(
                    EventBusName=self._bus, StatementId=statement_id(cluster_arn, account_id)
                )
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise translate(exc, f"unsubscribe {account_id} from {self._bus}") from exc

    def rule_exists(self, cluster_arn: str, account_id: str, region: str) -> bool:
        return self._rule_tags(rule_name(cluster_arn, account_id, region)) is not None

    def has_statement(self, cluster_arn: str, account_id: str) -> bool:
        sid = statement_id(cluster_arn, account_id)
        try:
            policy = self._events.describe_event_bus(Name=self._bus).get("Policy")
        except ClientError as exc:
            raise translate(exc, f"DescribeEventBus {self._bus}") from exc
        if not policy:
            return False
        return any(s.get("Sid") == sid for s in json.loads(policy).get("Statement", []))

    def _rule_tags(self, name: str) -> dict[str, str] | None:
        try:
            arn = self._events.describe_rule(Name=name, EventBusName=self._bus)["Arn"]
            tags = self._events.list_tags_for_resource(ResourceARN=arn).get("Tags", [])
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise translate(exc, f"DescribeRule {name}") from exc
        return {t["Key"]: t["Value"] for t in tags}

    def _refuse_foreign_rule(self, name: str, cluster_arn: str) -> None:
        tags = self._rule_tags(name)
        if tags is not None and not is_owned(tags, cluster_arn):
            raise OwnershipConflictError(
                f"rule {name} on {self._bus} exists without this project's tags for "
                f"{cluster_arn} ({TAG_CLUSTER_ARN}); rename or delete it by hand"
            )
