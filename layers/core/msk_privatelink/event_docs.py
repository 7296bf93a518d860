"""Render docs/events.md from the event models, so the schema cannot drift.

``python -m msk_privatelink.event_docs > docs/events.md``; a test compares.
"""

from __future__ import annotations

import json

from .events import EVENT_MODELS, EVENT_SOURCE, BrokerEndpoint, BrokerEndpointsChanged

INTRO = f"""# Events

msk-privatelink publishes events on the provider event bus with
`source: {EVENT_SOURCE}`. Each `detail` is versioned (`schemaVersion`) and
carries the cluster ARN and a `generation` that increases with every change,
so a consumer can drop anything older than what it has applied. Delivery is at
least once: the same generation may arrive twice and must be applied
idempotently.

When is `BrokerEndpointsChanged` published? Whenever the consumer-visible
view of the cluster (brokers, host names, endpoint service names, ports)
differs from the last view published. A broker that moves to a new IP
address keeps its endpoint service, so no event is needed for it. The view's
fingerprint and generation are kept in the stack's state table; the event is
put on the bus before the record is updated, so a crash in between re-sends
the same generation rather than losing the change.

This file is generated from the Pydantic models in
`layers/core/msk_privatelink/events.py` by
`python -m msk_privatelink.event_docs`; a test fails when they differ.
"""


def example() -> BrokerEndpointsChanged:
    arn = (
        "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/"
        "7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
    )
    return BrokerEndpointsChanged(
        cluster_arn=arn,
        cluster_name="demo-cluster",
        region="us-east-1",
        pattern="nlb-per-broker",
        generation=4,
        brokers=(
            BrokerEndpoint(
                broker_id=1,
                host_names=("b-1.democluster.abc123.c2.kafka.us-east-1.amazonaws.com",),
                endpoint_service_name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
                endpoint_service_id="vpce-svc-0123456789abcdef0",
                ports={"sasl_iam": 9098},
            ),
        ),
    )


def render() -> str:
    parts = [INTRO]
    for model in EVENT_MODELS:
        name = model.__name__
        parts.append(f"## `{name}` (detail-type `{name}`)\n")
        parts.append((model.__doc__ or "").strip() + "\n")
        parts.append("Example `detail`:\n")
        parts.append(
            "```json\n" + json.dumps(json.loads(example().to_detail_json()), indent=2) + "\n```\n"
        )
        parts.append("JSON Schema of `detail`:\n")
        schema = model.model_json_schema(by_alias=True)
        parts.append("```json\n" + json.dumps(schema, indent=2, sort_keys=True) + "\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
