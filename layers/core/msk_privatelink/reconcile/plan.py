"""A plan: the ordered list of changes that turns actual into desired."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from msk_privatelink.reconcile.resources import (
    AliasRecordSpec,
    EndpointServiceSpec,
    HostedZoneSpec,
    ListenerSpec,
    LoadBalancerSpec,
    Target,
    TargetGroupSpec,
)


class Step(IntEnum):
    """Apply order. Creates run in dependency order, deletes afterwards in reverse.

    New targets are registered (20) long before old ones are deregistered (60),
    so a broker whose address moves is never without a registered target.
    DNS (shared-nlb's provider zone) follows the listeners and endpoint
    services it leads to, and goes first among the deletes.
    """

    CREATE_TARGET_GROUP = 10
    REGISTER_TARGETS = 20
    CREATE_LOAD_BALANCER = 30
    CONFIGURE_LOAD_BALANCER = 35
    SET_LOAD_BALANCER_SUBNETS = 36
    CREATE_LISTENER = 40
    MODIFY_LISTENER = 45
    CREATE_ENDPOINT_SERVICE = 50
    UPDATE_ENDPOINT_SERVICE = 55
    UPDATE_ENDPOINT_PERMISSIONS = 56
    CREATE_HOSTED_ZONE = 57
    UPSERT_RECORD = 58
    DEREGISTER_TARGETS = 60
    DELETE_RECORD = 62
    DELETE_HOSTED_ZONE = 64
    DELETE_ENDPOINT_SERVICE = 70
    DELETE_LISTENER = 80
    DELETE_LOAD_BALANCER = 90
    DELETE_TARGET_GROUP = 100

    @property
    def action(self) -> str:
        return _ACTIONS[self]

    @property
    def kind(self) -> str:
        return _KINDS[self]

    @property
    def destructive(self) -> bool:
        return self in DESTRUCTIVE_STEPS


_ACTIONS = {
    Step.CREATE_TARGET_GROUP: "create",
    Step.REGISTER_TARGETS: "register",
    Step.CREATE_LOAD_BALANCER: "create",
    Step.CONFIGURE_LOAD_BALANCER: "update",
    Step.SET_LOAD_BALANCER_SUBNETS: "update",
    Step.CREATE_LISTENER: "create",
    Step.MODIFY_LISTENER: "update",
    Step.CREATE_ENDPOINT_SERVICE: "create",
    Step.UPDATE_ENDPOINT_SERVICE: "update",
    Step.UPDATE_ENDPOINT_PERMISSIONS: "update",
    Step.CREATE_HOSTED_ZONE: "create",
    Step.UPSERT_RECORD: "upsert",
    Step.DEREGISTER_TARGETS: "deregister",
    Step.DELETE_RECORD: "delete",
    Step.DELETE_HOSTED_ZONE: "delete",
    Step.DELETE_ENDPOINT_SERVICE: "delete",
    Step.DELETE_LISTENER: "delete",
    Step.DELETE_LOAD_BALANCER: "delete",
    Step.DELETE_TARGET_GROUP: "delete",
}
_KINDS = {
    Step.CREATE_TARGET_GROUP: "target-group",
    Step.REGISTER_TARGETS: "targets",
    Step.CREATE_LOAD_BALANCER: "load-balancer",
    Step.CONFIGURE_LOAD_BALANCER: "load-balancer",
    Step.SET_LOAD_BALANCER_SUBNETS: "load-balancer",
    Step.CREATE_LISTENER: "listener",
    Step.MODIFY_LISTENER: "listener",
    Step.CREATE_ENDPOINT_SERVICE: "endpoint-service",
    Step.UPDATE_ENDPOINT_SERVICE: "endpoint-service",
    Step.UPDATE_ENDPOINT_PERMISSIONS: "endpoint-service",
    Step.CREATE_HOSTED_ZONE: "hosted-zone",
    Step.UPSERT_RECORD: "record",
    Step.DEREGISTER_TARGETS: "targets",
    Step.DELETE_RECORD: "record",
    Step.DELETE_HOSTED_ZONE: "hosted-zone",
    Step.DELETE_ENDPOINT_SERVICE: "endpoint-service",
    Step.DELETE_LISTENER: "listener",
    Step.DELETE_LOAD_BALANCER: "load-balancer",
    Step.DELETE_TARGET_GROUP: "target-group",
}
DESTRUCTIVE_STEPS = frozenset(
    {
        Step.DEREGISTER_TARGETS,
        Step.DELETE_RECORD,
        Step.DELETE_HOSTED_ZONE,
        Step.DELETE_ENDPOINT_SERVICE,
        Step.DELETE_LISTENER,
        Step.DELETE_LOAD_BALANCER,
        Step.DELETE_TARGET_GROUP,
    }
)


class _StepLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def kind(self) -> str: ...


def change_dict(step: _StepLike, key: str, broker_id: int | None, detail: str) -> dict[str, Any]:
    """One change as the CLI's JSON output and the logs show it (both sides)."""
    return {
        "action": step.action,
        "kind": step.kind,
        "step": step.name.lower(),
        "key": key,
        "broker_id": broker_id,
        "detail": detail,
    }


Spec = (
    TargetGroupSpec
    | LoadBalancerSpec
    | ListenerSpec
    | EndpointServiceSpec
    | HostedZoneSpec
    | AliasRecordSpec
)


@dataclass(frozen=True)
class Change:
    step: Step
    key: str
    broker_id: int | None
    detail: str
    spec: Spec | None = None
    targets: frozenset[Target] = frozenset()
    # ARN or id of the existing resource, for updates and deletes.
    resource_id: str | None = None
    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    acceptance_required: bool | None = None
    subnet_ids: frozenset[str] = frozenset()
    target_group: str | None = None
    # A record set exactly as read, for DELETE_RECORD (Route 53 wants it repeated).
    record: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def destructive(self) -> bool:
        if self.step is Step.SET_LOAD_BALANCER_SUBNETS:
            return bool(self.remove)
        return self.step.destructive

    @property
    def sort_key(self) -> tuple[int, str]:
        return (int(self.step), self.key)

    def to_dict(self) -> dict[str, Any]:
        return change_dict(self.step, self.key, self.broker_id, self.detail)


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, changes: list[Change]) -> Plan:
        return cls(tuple(sorted(changes, key=lambda c: c.sort_key)))

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def __len__(self) -> int:
        return len(self.changes)

    def destructive(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.destructive)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.changes]
