"""Versioned events this project publishes, as msgspec structs (kernel/records.py).

The JSON Schema of each is generated from these structs into docs/events.md
(``python -m msk_privatelink.kernel.event_docs``), and a test keeps the two equal.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, ClassVar, Literal

from msk_privatelink.kernel.records import CamelRecord, Meta, to_data, to_json

EVENT_SOURCE = "msk-privatelink"
SCHEMA_VERSION: Literal["1.0"] = "1.0"


class _Detail(CamelRecord, frozen=True, kw_only=True):
    def to_detail_json(self) -> str:
        return to_json(self)


class BrokerEndpoint(_Detail, frozen=True, kw_only=True):
    broker_id: Annotated[int, Meta(ge=1, description="MSK broker id.")]
    host_names: Annotated[
        tuple[str, ...], Meta(description="Broker host names as MSK advertises them.")
    ]
    endpoint_service_name: Annotated[
        str, Meta(description="VPC endpoint service to create an interface endpoint for.")
    ]
    endpoint_service_id: str
    ports: Annotated[
        dict[str, int],
        Meta(description="Listener port by auth scheme (plaintext, tls, sasl_scram, sasl_iam)."),
    ]


class BootstrapEndpoint(_Detail, frozen=True, kw_only=True):
    """shared-nlb: the listeners that reach every broker, for clients' first connection."""

    endpoint_service_name: Annotated[
        str, Meta(description="The shared endpoint service (the same as every broker's).")
    ]
    endpoint_service_id: str
    ports: Annotated[dict[str, int], Meta(description="Bootstrap listener port by auth scheme.")]


class BrokerEndpointsChanged(_Detail, frozen=True, kw_only=True):
    """The set of broker endpoints of a cluster changed; consumers re-sync."""

    # Not part of the detail: EventBridge carries it as the event's detail-type.
    detail_type: ClassVar[Literal["BrokerEndpointsChanged"]] = "BrokerEndpointsChanged"
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    cluster_arn: str
    cluster_name: str
    region: str
    pattern: Literal["nlb-per-broker", "shared-nlb"]
    generation: Annotated[
        int,
        Meta(ge=1, description="Increases with every change; consumers drop older generations."),
    ]
    brokers: tuple[BrokerEndpoint, ...]
    bootstrap: Annotated[
        BootstrapEndpoint | None,
        Meta(description="shared-nlb only: the bootstrap listeners; null otherwise."),
    ] = None

    def fingerprint(self) -> str:
        """Identity of the consumer-visible view, without the generation.

        Deployed stacks keep it in their state table: the digest must not
        change for the same view, whatever builds the JSON."""
        view = to_data(self)
        del view["generation"]
        # Without an absent bootstrap block: nlb-per-broker views keep the
        # fingerprints they had before the field existed (no re-publish).
        if self.bootstrap is None:
            del view["bootstrap"]
        return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()


EVENT_MODELS: tuple[type[_Detail], ...] = (BrokerEndpointsChanged,)
