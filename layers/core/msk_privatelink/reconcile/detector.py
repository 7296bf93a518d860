"""The change detector: one ListNodes per configured cluster, compared with
the brokers the last converged reconcile applied; a difference enqueues a
full reconcile of that cluster.

It exists because an MSK-initiated broker replacement (state HEALING) makes
no customer API call, and which EC2 calls it leaves in the account's
CloudTrail is not documented (events/README.md): the router's rules may see
it, the schedule sees it within five minutes, this sees it within a minute
at the cost of reads only. It never changes anything itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.aws.errors import translate
from msk_privatelink.kernel.errors import ClusterNotFoundError, MskPrivateLinkError
from msk_privatelink.kernel.models import brokers_fingerprint
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.aws.msk import MskInventoryReader
from msk_privatelink.reconcile.aws.reconcile_queue import enqueue
from msk_privatelink.reconcile.aws.state_item import (
    BROKERS_FINGERPRINT,
    cluster_of,
    state_item_key,
)
from msk_privatelink.reconcile.settings import DetectorSettings
from msk_privatelink.reconcile.triggers import ReconcileRequest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

TRIGGER = "BrokersChanged"
# BatchGetItem reads at most 100 keys per call.
BATCH_GET_KEYS = 100
# Unprocessed keys are asked for again this many times before giving up on
# them for this tick (the next tick, a minute later, asks again).
BATCH_GET_ROUNDS = 5


@dataclass(frozen=True)
class Detection:
    clusters: int
    # Clusters whose brokers differ from the last converged run's.
    changed: tuple[str, ...]
    # Clusters this tick could not look at (each named with its error).
    unread: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "clusters": self.clusters,
            "changed": list(self.changed),
            "unread": [{"clusterArn": c, "error": e} for c, e in self.unread],
        }


def request_for(cluster_arn: str, fingerprint: str) -> ReconcileRequest:
    # The event id names the broker set seen: the FIFO queue drops the same
    # difference seen again within its five-minute deduplication window, so a
    # cluster that cannot converge is asked for at most once per window.
    return ReconcileRequest(cluster_arn=cluster_arn, trigger=TRIGGER, event_id=fingerprint)


class ChangeDetector:
    def __init__(self, clients: AwsClients, settings: DetectorSettings) -> None:
        self._sqs = clients.sqs
        self._dynamodb: DynamoDBClient = clients.dynamodb
        self._queue_url = settings.queue_url
        self._table = settings.state_table_name
        self._store = ConfigStore(clients.ssm, settings.config_parameter_prefix)
        self._msk = MskInventoryReader(clients.kafka, clients.ec2)

    def detect(self) -> Detection:
        clusters = self._store.cluster_arns()
        applied = self._applied_fingerprints(clusters)
        changed: list[ReconcileRequest] = []
        unread: list[tuple[str, str]] = []
        for arn in clusters:
            try:
                seen = brokers_fingerprint(self._msk.brokers(arn))
            except ClusterNotFoundError:
                # Deleted: the reconcile that follows DeleteCluster (or the
                # sweep) cleans up; nothing to compare.
                continue
            except MskPrivateLinkError as exc:
                # One cluster's throttled or refused read must not hide the others.
                unread.append((arn, str(exc)))
                continue
            if applied.get(arn) != seen:
                changed.append(request_for(arn, seen))
        enqueue(self._sqs, self._queue_url, changed)
        if unread:
            logger.warning("clusters not checked this tick", extra={"unread": unread})
        return Detection(len(clusters), tuple(r.cluster_arn for r in changed), tuple(unread))

    def _applied_fingerprints(self, clusters: list[str]) -> dict[str, str]:
        """brokersFingerprint per cluster, from BatchGetItem (100 keys a call)."""
        found: dict[str, str] = {}
        for start in range(0, len(clusters), BATCH_GET_KEYS):
            keys: list[Any] = [state_item_key(a) for a in clusters[start : start + BATCH_GET_KEYS]]
            for _ in range(BATCH_GET_ROUNDS):
                try:
                    answer = self._dynamodb.batch_get_item(
                        RequestItems={
                            self._table: {
                                "Keys": keys,
                                "ProjectionExpression": f"pk, {BROKERS_FINGERPRINT}",
                                "ConsistentRead": True,
                            }
                        }
                    )
                except ClientError as exc:
                    raise translate(exc, f"BatchGetItem {self._table}") from exc
                for item in answer.get("Responses", {}).get(self._table, []):
                    value = item.get(BROKERS_FINGERPRINT, {}).get("S")
                    if value is not None:
                        found[cluster_of(str(item["pk"]["S"]))] = value
                unprocessed = answer.get("UnprocessedKeys", {}).get(self._table)
                keys = list(unprocessed["Keys"]) if unprocessed else []
                if not keys:
                    break
        # A key still unprocessed reads as "nothing applied": its cluster is
        # asked for a reconcile, which is safe (a no-op costs reads only).
        return found
