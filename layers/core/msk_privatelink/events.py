"""Versioned events this project publishes, as Pydantic models.

The JSON Schema of each is generated from these models into docs/events.md
(``python -m msk_privatelink.event_docs``), and a test keeps the two equal.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

EVENT_SOURCE = "msk-privatelink"
SCHEMA_VERSION: Literal["1.0"] = "1.0"


class _Detail(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        defer_build=True,
    )


class BrokerEndpoint(_Detail):
    broker_id: int = Field(ge=1, description="MSK broker id.")
    host_names: tuple[str, ...] = Field(description="Broker host names as MSK advertises them.")
    endpoint_service_name: str = Field(
        description="VPC endpoint service to create an interface endpoint for."
    )
    endpoint_service_id: str
    ports: dict[str, int] = Field(
        description="Listener port by auth scheme (plaintext, tls, sasl_scram, sasl_iam)."
    )


class BootstrapEndpoint(_Detail):
    """shared-nlb: the listeners that reach every broker, for clients' first connection."""

    endpoint_service_name: str = Field(
        description="The shared endpoint service (the same as every broker's)."
    )
    endpoint_service_id: str
    ports: dict[str, int] = Field(description="Bootstrap listener port by auth scheme.")


class BrokerEndpointsChanged(_Detail):
    """The set of broker endpoints of a cluster changed; consumers re-sync."""

    detail_type: Literal["BrokerEndpointsChanged"] = Field(
        default="BrokerEndpointsChanged", exclude=True
    )
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    cluster_arn: str
    cluster_name: str
    region: str
    pattern: Literal["nlb-per-broker", "shared-nlb"]
    generation: int = Field(
        ge=1, description="Increases with every change; consumers drop older generations."
    )
    brokers: tuple[BrokerEndpoint, ...]
    bootstrap: BootstrapEndpoint | None = Field(
        default=None, description="shared-nlb only: the bootstrap listeners; null otherwise."
    )

    def fingerprint(self) -> str:
        """Identity of the consumer-visible view, without the generation."""
        # Without an absent bootstrap block: nlb-per-broker views keep the
        # fingerprints they had before the field existed (no re-publish).
        exclude = {"generation"} | ({"bootstrap"} if self.bootstrap is None else set())
        view = self.model_dump(mode="json", by_alias=True, exclude=exclude)
        return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()

    def to_detail_json(self) -> str:
        return self.model_dump_json(by_alias=True)


EVENT_MODELS: tuple[type[_Detail], ...] = (BrokerEndpointsChanged,)
