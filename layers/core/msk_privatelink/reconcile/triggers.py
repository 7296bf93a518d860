"""Turn incoming EventBridge events into "reconcile cluster X" requests.

The event only says *which* clusters to look at; the reconcile reads
everything again. Unrelated or malformed events are skipped deliberately.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from msk_privatelink.kernel.errors import InvalidEventError
from msk_privatelink.kernel.patterns import CLUSTER_ARN_RE

MSK_EVENT_NAMES = frozenset(
    {
        "UpdateBrokerCount",
        "UpdateBrokerType",
        "RebootBroker",
        "UpdateClusterConfiguration",
        "UpdateConnectivity",
        "DeleteCluster",
        "UpdateBrokerStorage",
        "UpdateSecurity",
        "UpdateClusterKafkaVersion",
    }
)
ENI_EVENT_NAMES = frozenset(
    {"CreateNetworkInterface", "DeleteNetworkInterface", "AttachNetworkInterface"}
)
MSK_SERVICE_ROLE = "AWSServiceRoleForKafka"
# SQS FIFO limits MessageGroupId to 128 characters; long ARNs are hashed.
MAX_GROUP_ID = 128
MAX_FIELD = 128


@dataclass(frozen=True)
class ReconcileRequest:
    """Body of a message on the reconcile queue: {"clusterArn", "trigger", "eventId"}."""

    cluster_arn: str
    trigger: str
    event_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.cluster_arn, str) or not CLUSTER_ARN_RE.fullmatch(self.cluster_arn):
            raise InvalidEventError(f"not an MSK cluster ARN: {str(self.cluster_arn)[:200]!r}")
        for name in ("trigger", "event_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or len(value) > MAX_FIELD:
                raise InvalidEventError(f"{name} must be a string of 1 to {MAX_FIELD} characters")

    @classmethod
    def from_json(cls, body: str | bytes) -> ReconcileRequest:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise InvalidEventError("reconcile request is not JSON") from exc
        if not isinstance(data, dict) or set(data) != {"clusterArn", "trigger", "eventId"}:
            raise InvalidEventError("reconcile request needs exactly clusterArn, trigger, eventId")
        return cls(data["clusterArn"], data["trigger"], data["eventId"])

    def to_json(self) -> str:
        return json.dumps(
            {"clusterArn": self.cluster_arn, "eventId": self.event_id, "trigger": self.trigger},
            sort_keys=True,
        )

    @property
    def group_id(self) -> str:
        return message_group_id(self.cluster_arn)

    @property
    def deduplication_id(self) -> str:
        # The same EventBridge event for the same cluster is enqueued once.
        return hashlib.sha256(f"{self.cluster_arn}|{self.event_id}".encode()).hexdigest()


def message_group_id(cluster_arn: str) -> str:
    if len(cluster_arn) <= MAX_GROUP_ID:
        return cluster_arn
    return hashlib.sha256(cluster_arn.encode()).hexdigest()


@dataclass(frozen=True)
class Routing:
    requests: tuple[ReconcileRequest, ...]
    # Why nothing (or only some) was enqueued; logged by the router.
    note: str


def _get(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def route(event: Mapping[str, Any], configured: Iterable[str]) -> Routing:
    """Which configured clusters an EventBridge event concerns."""
    if not isinstance(event, Mapping):
        raise InvalidEventError("event is not a JSON object")
    source = event.get("source")
    detail_type = event.get("detail-type")
    event_id = event.get("id")
    if not isinstance(source, str) or not isinstance(detail_type, str):
        raise InvalidEventError("event has no source/detail-type: not an EventBridge event")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 128:
        raise InvalidEventError("event has no usable id")
    if not (event_id.isascii() and event_id.isprintable()):
        raise InvalidEventError("event id is not printable ASCII")
    clusters = sorted(set(configured))

    if source == "aws.events" and detail_type == "Scheduled Event":
        return _requests(clusters, "schedule", event_id, "scheduled sweep of every cluster")

    detail = event.get("detail")
    if detail_type != "AWS API Call via CloudTrail":
        return Routing((), f"ignored {source}/{detail_type}: not a CloudTrail API call")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("CloudTrail event has no detail object")
    name = detail.get("eventName")
    if not isinstance(name, str):
        raise InvalidEventError("CloudTrail event has no eventName string")
    if detail.get("errorCode"):
        return Routing((), f"ignored failed call {name} ({detail.get('errorCode')})")

    if source == "aws.kafka":
        if name not in MSK_EVENT_NAMES:
            return Routing((), f"ignored MSK call {name!r}")
        arn = cluster_arn_of(detail)
        if arn is None:
            raise InvalidEventError(f"MSK {name} event carries no valid cluster ARN")
        if arn not in clusters:
            return Routing((), f"ignored {name} for unmanaged cluster {arn}")
        return _requests([arn], name, event_id, f"{name} on {arn}")

    if source == "aws.ec2":
        if name not in ENI_EVENT_NAMES:
            return Routing((), f"ignored EC2 call {name!r}")
        issuer = _get(detail, "userIdentity", "sessionContext", "sessionIssuer", "userName")
        if issuer != MSK_SERVICE_ROLE:
            return Routing((), f"ignored {name} not made by {MSK_SERVICE_ROLE}")
        # The ENI event names no cluster: look at every managed one (a no-op
        # reconcile costs reads only).
        return _requests(clusters, name, event_id, f"{name} by MSK")

    return Routing((), f"ignored event from {source}")


def cluster_arn_of(detail: Mapping[str, Any]) -> str | None:
    """The cluster an MSK CloudTrail record is about, or None.

    CloudTrail records an MSK operation's URI path parameters URL-encoded: the
    MSK developer guide's own sample ("Log API calls with AWS CloudTrail") has
    ``"requestParameters": {"clusterArn": "arn%3Aaws%3Akafka%3A...%2F..."}``
    beside a plain ``responseElements.clusterArn``, and ``responseElements`` is
    null for some operations. Every operation in MSK_EVENT_NAMES carries
    ClusterArn in its URI (botocore's kafka model; a test checks). So the
    request's value is decoded once, then held to the ARN pattern exactly as a
    plain one is; the response's value is the fallback.
    """
    for raw in (
        _get(detail, "requestParameters", "clusterArn"),
        _get(detail, "responseElements", "clusterArn"),
    ):
        if not isinstance(raw, str):
            continue
        try:
            arn = unquote(raw, errors="strict")  # a plain ARN has no "%": unchanged
        except UnicodeDecodeError:
            continue
        if CLUSTER_ARN_RE.fullmatch(arn):
            return arn
    return None


def _requests(clusters: Iterable[str], trigger: str, event_id: str, note: str) -> Routing:
    requests = tuple(
        ReconcileRequest(cluster_arn=arn, trigger=trigger, event_id=event_id) for arn in clusters
    )
    return Routing(requests, note if requests else f"{note}: no cluster is configured")


def sweep_slice(clusters: Sequence[str], tick: int, per_tick: int) -> list[str]:
    """The clusters a scheduled tick sweeps: every one when they fit
    ``per_tick`` (0: no limit), else the tick's share of ``ceil(n / per_tick)``
    even slices, so that consecutive ticks cover every cluster once."""
    ordered = sorted(set(clusters))
    if per_tick <= 0 or len(ordered) <= per_tick:
        return ordered
    slices = -(-len(ordered) // per_tick)
    return [arn for i, arn in enumerate(ordered) if i % slices == tick % slices]
