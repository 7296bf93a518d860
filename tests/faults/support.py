"""Shared pieces of the fault suites: the wired handlers, a call recorder that
tells resource writes from queue and lease bookkeeping, and end-state views."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.handlers

from msk_privatelink.kernel.naming import load_balancer_name, target_group_name
from msk_privatelink_dev.local.lambdas import LocalFunctions, provider_environments
from tests.integration.harness import (
    EVENTS,
    World,
    deploy_reconcile_queue,
    is_mutating,
    provider_stack,
)

POSITIVE = sorted(
    p.name
    for p in EVENTS.glob("*.json")
    if not p.name.startswith("unrelated-") and "not-msk" not in p.name
)

# How the handlers reach SQS: the router enqueues, the event source mapping
# deletes or re-times records. Moving nudges around is not changing resources.
QUEUE_PLUMBING = frozenset(
    {
        "SendMessage",
        "SendMessageBatch",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
    }
)
LEASE_KEY_PREFIX = "lease#"


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict[str, Any]

    @property
    def mutating(self) -> bool:
        return is_mutating(self.operation)

    @property
    def plumbing(self) -> bool:
        return self.service == "sqs" and self.operation in QUEUE_PLUMBING

    @property
    def lease(self) -> bool:
        """A write of the per-cluster lease item (bookkeeping, not a resource)."""
        if self.service != "dynamodb":
            return False
        key = self.params.get("Key", {}).get("pk", {}).get("S", "")
        return isinstance(key, str) and key.startswith(LEASE_KEY_PREFIX)


@dataclass
class CallLog:
    """Every AWS call (with its parameters) of sessions created while recording."""

    calls: list[Call] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(Call(model.service_model.service_name, model.name, dict(params)))

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int) -> list[Call]:
        return self.calls[mark:]

    @staticmethod
    def resource_writes(calls: list[Call]) -> Counter[str]:
        """Writes to anything but the reconcile queue and the lease item."""
        return Counter(
            f"{c.service}:{c.operation}"
            for c in calls
            if c.mutating and not c.plumbing and not c.lease
        )

    @staticmethod
    def bookkeeping(calls: list[Call]) -> Counter[str]:
        return Counter(
            f"{c.service}:{c.operation}" for c in calls if c.mutating and (c.plumbing or c.lease)
        )

    @staticmethod
    def count(calls: list[Call], operation: str) -> int:
        return sum(1 for c in calls if c.operation == operation)

    def enqueued_entries(self) -> list[dict[str, Any]]:
        """The entries the router sent to the reconcile queue, in order."""
        return [
            entry
            for c in self.calls
            if c.service == "sqs" and c.operation == "SendMessageBatch"
            for entry in c.params.get("Entries", [])
        ]


@contextmanager
def record_calls() -> Iterator[CallLog]:
    """Like ``count_all_calls``, but keeps service and parameters of each call.

    Only sessions created inside the block are recorded: build the handlers
    (``wire``) inside it, or their cached clients escape the count.
    """
    log = CallLog()
    entry = ("before-parameter-build", log)
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    try:
        yield log
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)


def reconcile_queue(w: World) -> str:
    return deploy_reconcile_queue(w)


def wire(w: World, queue_url: str) -> LocalFunctions:
    """Fresh handler modules (cold start): their clients are built on first use.
    Failed records come back at once here; 30 s in a deployment."""
    env = provider_environments(
        provider_stack(w), POWERTOOLS_TRACE_DISABLED="true", RETRY_DELAY_SECONDS="0"
    )
    return LocalFunctions(w.aws.session(), env, queue_url)


def deliver(functions: LocalFunctions, event: dict[str, Any]) -> list[dict[str, Any]]:
    functions.route(event)
    return functions.drain()


def failures(responses: list[dict[str, Any]]) -> int:
    return sum(len(r.get("batchItemFailures", [])) for r in responses)


def expected_state(w: World, port: int = 9098) -> dict[str, object]:
    """The one desired NLB layer for the cluster's current brokers (one auth scheme)."""
    ips = w.broker_ips()
    return {
        "load_balancers": sorted(load_balancer_name(w.cluster_arn, b) for b in ips),
        "target_groups": {
            target_group_name(w.cluster_arn, b, port): [(ip, port)] for b, ip in ips.items()
        },
        "listeners": {
            load_balancer_name(w.cluster_arn, b): [
                (port, target_group_name(w.cluster_arn, b, port))
            ]
            for b in ips
        },
        "endpoint_service_count": len(ips),
    }


def actual_state(w: World) -> dict[str, object]:
    state = w.inventory_of_everything()
    return {k: state[k] for k in ("load_balancers", "target_groups", "listeners")} | {
        "endpoint_service_count": state["endpoint_service_count"]
    }


_BROKER_SUFFIX = re.compile(r"-b(\d+)(?:-(\d+))?$")


def _broker_of(name: str) -> str:
    match = _BROKER_SUFFIX.search(name)
    if match is None:
        return f"foreign:{name}"
    return f"b{match.group(1)}" + (f":{match.group(2)}" if match.group(2) else "")


def normalized_state(w: World) -> dict[str, object]:
    """The end state with everything random (ARNs, IPs, ids, cluster token)
    replaced by broker ids, so two worlds can be compared."""
    state = w.inventory_of_everything()
    broker_by_ip = {ip: f"b{b}" for b, ip in w.broker_ips().items()}
    view = w.current_view()
    detail = json.loads(view.to_detail_json())
    return {
        "load_balancers": sorted(_broker_of(n) for n in state["load_balancers"]),
        "target_groups": {
            _broker_of(name): sorted(
                (broker_by_ip.get(ip, f"stale:{ip}"), port) for ip, port in targets
            )
            for name, targets in state["target_groups"].items()
        },
        "listeners": {
            _broker_of(lb): [(port, _broker_of(tg)) for port, tg in listeners]
            for lb, listeners in state["listeners"].items()
        },
        "endpoint_services": sorted(
            (managed_by, len(nlbs)) for managed_by, nlbs in state["endpoint_services"]
        ),
        "view_brokers": [(b["brokerId"], sorted(b["ports"].items())) for b in detail["brokers"]],
        "published_is_current": w.published_fingerprint() == view.fingerprint(),
    }
