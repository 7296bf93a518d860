"""Which consumer accounts may put their answers on the provider bus.

Provider events reach a tenant through ConsumerDeliveryFunction, which reads
the tenant registry (``onboarding/delivery.py``): nothing on the provider bus
grows per tenant on the way out. On the way back, EventBridge only takes a
PutEvents from another account that the bus policy admits (EventBridge User
Guide, "Permissions for event buses"), so the policy names:

- the consumers' AWS Organization, in one statement (``aws:PrincipalOrgID``),
  when the stack is given one: any number of accounts, nothing per tenant; or
- each consumer account once (``mpl-account-<id>``), shared by every cluster
  and Region the account consumes, removed when its last subscription goes.
  About 237 characters each, so the policy's 10,240 characters (adjustable)
  admit about 43 accounts; the refusal names the quota and the ways out.

Either way the policy only admits: a reply is acted on only when the
account EventBridge stamps on it is the tenant it speaks for, and that
tenant's workflow is waiting (``onboarding/callback.py``). Offboarding
revokes at that layer at once, and at the policy layer when the account
has no subscription left.

Subscriptions made by earlier versions (one rule per cluster, account and
Region, one statement per cluster and account) are moved to this shape by
``migrate_legacy``; only rules carrying this project's tags for the cluster
are ever deleted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.errors import OwnershipConflictError, QuotaExceededError
from msk_privatelink.kernel.naming import TAG_CLUSTER_ARN, cluster_token, is_owned

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

TAG_CONSUMER_ACCOUNT = "msk-privatelink:consumer-account"
ORGANIZATION_STATEMENT_ID = "mpl-organization"
ACCOUNT_ID_RE = re.compile(r"[0-9]{12}")
# What follows "mpl-<cluster token>-" in an earlier version's rule name.
LEGACY_RULE_SUFFIX_RE = re.compile(r"(?P<account>[0-9]{12})-(?P<region>[a-z]{2}(-[a-z]+)+-[0-9])")


def account_statement_id(account_id: str) -> str:
    return f"mpl-account-{account_id}"


def legacy_rule_name(cluster_arn: str, account_id: str, region: str) -> str:
    """The per-tenant rule earlier versions created."""
    return f"mpl-{cluster_token(cluster_arn)}-{account_id}-{region}"


def legacy_statement_id(cluster_arn: str, account_id: str) -> str:
    """The per-(cluster, account) statement earlier versions created."""
    return f"mpl-{cluster_token(cluster_arn)}-{account_id}"


@dataclass
class MigrationReport:
    """What ``migrate_legacy`` did for one cluster."""

    rules_removed: list[str] = field(default_factory=list)
    statements_removed: list[str] = field(default_factory=list)
    accounts_admitted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "rulesRemoved": self.rules_removed,
            "statementsRemoved": self.statements_removed,
            "accountsAdmitted": self.accounts_admitted,
        }


class Subscriptions:
    def __init__(
        self, events: EventBridgeClient, bus_name: str, organization_id: str | None = None
    ) -> None:
        self._events = events
        self._bus = bus_name
        self._organization_id = organization_id

    # -- admission -------------------------------------------------------------
    def admit(self, account_id: str) -> None:
        """Let the account put its answers on the provider bus (idempotent)."""
        try:
            if self._organization_id:
                if ORGANIZATION_STATEMENT_ID not in self.statement_ids():
                    self._events.put_permission(
                        EventBusName=self._bus,
                        StatementId=ORGANIZATION_STATEMENT_ID,
                        Action="events:PutEvents",
                        Principal="*",
                        Condition={
                            "Type": "StringEquals",
                            "Key": "aws:PrincipalOrgID",
                            "Value": self._organization_id,
                        },
                    )
                return
            self._events.put_permission(
                EventBusName=self._bus,
                StatementId=account_statement_id(account_id),
                Action="events:PutEvents",
                Principal=account_id,
            )
        except ClientError as exc:
            if error_code(exc) == "PolicyLengthExceededException":
                raise QuotaExceededError(
                    f"cannot admit account {account_id} on {self._bus}: its policy is at the "
                    "quota on EventBridge event bus policy size (10,240 characters by "
                    "default, adjustable; about 43 accounts at one statement each). Deploy "
                    "the stack with ConsumerOrganizationId to admit the consumers' "
                    "organization in one statement, or raise the quota in Service Quotas"
                ) from exc
            raise translate(exc, f"admit {account_id} on {self._bus}") from exc

    def revoke(self, account_id: str) -> None:
        """Remove the account's statement; absent is done. The organization
        statement stays: it admits no account by name."""
        self._remove_statement(account_statement_id(account_id))

    def statement_ids(self) -> set[str]:
        policy = self._policy()
        if not policy:
            return set()
        return {str(s.get("Sid", "")) for s in json.loads(policy).get("Statement", [])}

    def policy_size(self) -> int:
        """The bus policy's length in characters, as the quota counts it."""
        return len(self._policy())

    def _policy(self) -> str:
        try:
            return self._events.describe_event_bus(Name=self._bus).get("Policy") or ""
        except ClientError as exc:
            raise translate(exc, f"DescribeEventBus {self._bus}") from exc

    def _remove_statement(self, sid: str) -> bool:
        if sid not in self.statement_ids():
            return False
        try:
            self._events.remove_permission(EventBusName=self._bus, StatementId=sid)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise translate(exc, f"RemovePermission {sid} on {self._bus}") from exc
        return True

    # -- subscriptions of earlier versions ---------------------------------------
    def remove_legacy(
        self, cluster_arn: str, account_id: str, region: str
    ) -> tuple[str | None, str | None]:
        """Delete the earlier per-tenant rule and statement of this tenant, if
        any; returns the rule and the statement removed."""
        name = legacy_rule_name(cluster_arn, account_id, region)
        rule = name if self._delete_owned_rule(name, cluster_arn) else None
        sid = legacy_statement_id(cluster_arn, account_id)
        statement = sid if self._remove_statement(sid) else None
        return rule, statement

    def legacy_subscriptions(self, cluster_arn: str) -> list[tuple[str, str]]:
        """(account, Region) of every earlier per-tenant rule of the cluster
        that carries this project's tags."""
        prefix = f"mpl-{cluster_token(cluster_arn)}-"
        try:
            pages = self._events.get_paginator("list_rules").paginate(
                EventBusName=self._bus, NamePrefix=prefix
            )
            names = [r["Name"] for page in pages for r in page.get("Rules", [])]
        except ClientError as exc:
            raise translate(exc, f"ListRules {self._bus}") from exc
        tenants: set[tuple[str, str]] = set()
        for name in names:
            match = LEGACY_RULE_SUFFIX_RE.fullmatch(name[len(prefix) :])
            if match is None:
                continue
            tags = self._rule_tags(name)
            if tags is None or not is_owned(tags, cluster_arn):
                continue
            tenants.add((match["account"], match["region"]))
        return sorted(tenants)

    def migrate_legacy(self, cluster_arn: str) -> MigrationReport:
        """Move every earlier subscription of the cluster to this shape: each
        tenant's account is admitted before its rule and statement go, so a
        tenant is never without a way back; a re-run finds nothing to do."""
        report = MigrationReport()
        prefix = f"mpl-{cluster_token(cluster_arn)}-"
        tenants = self.legacy_subscriptions(cluster_arn)
        for account_id, region in tenants:
            self.admit(account_id)
            report.accounts_admitted.append(account_id)
            rule, statement = self.remove_legacy(cluster_arn, account_id, region)
            report.rules_removed += [rule] if rule else []
            report.statements_removed += [statement] if statement else []
        # Statements whose rule was already gone (an interrupted earlier run).
        for sid in sorted(self.statement_ids()):
            account = sid[len(prefix) :]
            if sid.startswith(prefix) and ACCOUNT_ID_RE.fullmatch(account):
                self.admit(account)
                if account not in report.accounts_admitted:
                    report.accounts_admitted.append(account)
                if self._remove_statement(sid):
                    report.statements_removed.append(sid)
        return report

    def _delete_owned_rule(self, name: str, cluster_arn: str) -> bool:
        tags = self._rule_tags(name)
        if tags is None:
            return False
        if not is_owned(tags, cluster_arn):
            raise OwnershipConflictError(
                f"rule {name} on {self._bus} exists without this project's tags for "
                f"{cluster_arn} ({TAG_CLUSTER_ARN}); rename or delete it by hand"
            )
        try:
            targets = self._events.list_targets_by_rule(Rule=name, EventBusName=self._bus)
            ids = [t["Id"] for t in targets.get("Targets", [])]
            if ids:
                self._events.remove_targets(Rule=name, EventBusName=self._bus, Ids=ids)
            self._events.delete_rule(Name=name, EventBusName=self._bus)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise translate(exc, f"delete rule {name} on {self._bus}") from exc
        return True

    def _rule_tags(self, name: str) -> dict[str, str] | None:
        try:
            arn = self._events.describe_rule(Name=name, EventBusName=self._bus)["Arn"]
            tags = self._events.list_tags_for_resource(ResourceARN=arn).get("Tags", [])
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise translate(exc, f"DescribeRule {name}") from exc
        return {t["Key"]: t["Value"] for t in tags}
