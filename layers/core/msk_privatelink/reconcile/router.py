"""What the router handler calls: config listing and the FIFO queue, nothing
of the reconcile stack (kept out of the router's cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.aws.reconcile_queue import enqueue
from msk_privatelink.reconcile.aws.state_item import SWEEP_TICK_KEY
from msk_privatelink.reconcile.settings import RouterSettings
from msk_privatelink.reconcile.triggers import Routing, route, sweep_slice


@dataclass(frozen=True)
class RouteResult:
    enqueued: tuple[str, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"enqueued": list(self.enqueued), "note": self.note}


class RouterService:
    def __init__(self, clients: AwsClients, settings: RouterSettings) -> None:
        self._clients = clients
        self._sqs = clients.sqs
        self._queue_url = settings.queue_url
        self._settings = settings
        self.store = ConfigStore(clients.ssm, settings.config_parameter_prefix)

    def configured_clusters(self) -> list[str]:
        return self.store.cluster_arns()

    def route(self, event: dict[str, Any]) -> RouteResult:
        routing = self._spread(route(event, self.configured_clusters()))
        enqueue(self._sqs, self._queue_url, routing.requests)
        return RouteResult(tuple(r.cluster_arn for r in routing.requests), routing.note)

    def _spread(self, routing: Routing) -> Routing:
        """A scheduled sweep of more clusters than ``sweep_clusters_per_tick``
        takes this tick's slice: consecutive ticks cover every cluster, and
        one tick's deep reads stay within the ELB Describe budget."""
        per_tick = self._settings.sweep_clusters_per_tick
        requests = routing.requests
        sweep = bool(requests) and requests[0].trigger == "schedule"
        if not sweep or per_tick <= 0 or len(requests) <= per_tick:
            return routing
        if self._settings.state_table_name is None:
            return routing
        tick = self._next_tick(self._settings.state_table_name)
        keep = set(sweep_slice([r.cluster_arn for r in requests], tick, per_tick))
        chosen = tuple(r for r in requests if r.cluster_arn in keep)
        slices = -(-len(requests) // per_tick)
        return Routing(
            chosen,
            f"{routing.note}: tick {tick}, slice {tick % slices + 1} of {slices} "
            f"({len(chosen)} of {len(requests)} clusters, SweepClustersPerTick {per_tick})",
        )

    def _next_tick(self, table: str) -> int:
        answer = self._clients.dynamodb.update_item(
            TableName=table,
            Key=SWEEP_TICK_KEY,
            UpdateExpression="ADD #tick :one",
            ExpressionAttributeNames={"#tick": "tick"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["tick"]["N"])
