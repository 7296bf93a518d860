"""What the router handler calls: config listing and the FIFO queue, nothing
of the reconcile stack (kept out of the router's cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.aws.reconcile_queue import enqueue
from msk_privatelink.reconcile.settings import RouterSettings
from msk_privatelink.reconcile.triggers import route


@dataclass(frozen=True)
class RouteResult:
    enqueued: tuple[str, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"enqueued": list(self.enqueued), "note": self.note}


class RouterService:
    def __init__(self, clients: AwsClients, settings: RouterSettings) -> None:
        self._sqs = clients.sqs
        self._queue_url = settings.queue_url
        self.store = ConfigStore(clients.ssm, settings.config_parameter_prefix)

    def configured_clusters(self) -> list[str]:
        return self.store.cluster_arns()

    def route(self, event: dict[str, Any]) -> RouteResult:
        routing = route(event, self.configured_clusters())
        enqueue(self._sqs, self._queue_url, routing.requests)
        return RouteResult(tuple(r.cluster_arn for r in routing.requests), routing.note)
