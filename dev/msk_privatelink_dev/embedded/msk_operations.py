"""Cluster operations as MSK records them, and how MSK shows them.

Every change the simulator makes to a cluster (create, broker count,
configuration, reboot, delete) is one operation with an ARN. The render
functions return the shapes of DescribeClusterOperation(V2) and
ListClusterOperations(V2), keyed by botocore member names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# OperationType values MSK reports for the calls the simulator serves.
CREATE = "CREATE"
INCREASE_BROKER_COUNT = "INCREASE_BROKER_COUNT"
DECREASE_BROKER_COUNT = "DECREASE_BROKER_COUNT"
UPDATE_CLUSTER_CONFIGURATION = "UPDATE_CLUSTER_CONFIGURATION"
REBOOT_NODE = "REBOOT_NODE"
DELETE = "DELETE"

PENDING = "PENDING"
UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
UPDATE_COMPLETE = "UPDATE_COMPLETE"
UPDATE_FAILED = "UPDATE_FAILED"
IN_PROGRESS_STATES = frozenset({PENDING, UPDATE_IN_PROGRESS})


@dataclass
class ClusterOperation:
    """One operation. `source`/`target` are MutableClusterInfo dicts."""

    arn: str
    cluster_arn: str
    kind: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    source: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)
    removed_broker_ids: tuple[int, ...] = ()
    state: str = PENDING
    ended_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def in_progress(self) -> bool:
        return self.state in IN_PROGRESS_STATES

    def end(self, state: str, *, error_code: str | None = None, message: str | None = None) -> None:
        self.state = state
        self.ended_at = datetime.now(UTC)
        self.error_code = error_code
        self.error_message = message


def _common(operation: ClusterOperation) -> dict[str, Any]:
    info: dict[str, Any] = {
        "ClusterArn": operation.cluster_arn,
        "OperationArn": operation.arn,
        "OperationState": operation.state,
        "OperationType": operation.kind,
    }
    if operation.ended_at is not None:
        info["EndTime"] = operation.ended_at
    return info


def _error_info(operation: ClusterOperation) -> dict[str, Any]:
    if operation.error_code is None:
        return {}
    return {
        "ErrorInfo": {
            "ErrorCode": operation.error_code,
            "ErrorString": operation.error_message or operation.error_code,
        }
    }


def _cluster_infos(operation: ClusterOperation) -> dict[str, Any]:
    infos: dict[str, Any] = {}
    if operation.source:
        infos["SourceClusterInfo"] = operation.source
    if operation.target:
        infos["TargetClusterInfo"] = operation.target
    return infos


def operation_v1(operation: ClusterOperation) -> dict[str, Any]:
    """The `ClusterOperationInfo` shape (DescribeClusterOperation, ListClusterOperations)."""
    return {
        **_common(operation),
        "CreationTime": operation.started_at,
        **_error_info(operation),
        **_cluster_infos(operation),
    }


def operation_v2(operation: ClusterOperation) -> dict[str, Any]:
    """The `ClusterOperationV2` shape (DescribeClusterOperationV2)."""
    return {
        **_common(operation),
        "ClusterType": "PROVISIONED",
        "StartTime": operation.started_at,
        **_error_info(operation),
        "Provisioned": _cluster_infos(operation),
    }


def operation_summary_v2(operation: ClusterOperation) -> dict[str, Any]:
    """The `ClusterOperationV2Summary` shape (ListClusterOperationsV2)."""
    return {**_common(operation), "ClusterType": "PROVISIONED", "StartTime": operation.started_at}
