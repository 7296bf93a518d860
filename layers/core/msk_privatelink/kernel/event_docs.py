"""Render docs/events.md from the event models, so the schema cannot drift.

``python -m msk_privatelink.kernel.event_docs > docs/events.md``; a test compares.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any, TypedDict

from msk_privatelink.kernel.consumer_events import (
    CONSUMER_EVENT_MODELS,
    CONSUMER_EVENT_SOURCE,
    BrokerConnectivity,
    ConsumerConnectivityReport,
    ConsumerEndpoint,
    ConsumerEndpointsReady,
    ConsumerOffboarded,
    ConsumerOffboardingRequested,
    ConsumerOnboarded,
    ConsumerOnboardingRequested,
)
from msk_privatelink.kernel.events import (
    EVENT_MODELS,
    EVENT_SOURCE,
    BrokerEndpoint,
    BrokerEndpointsChanged,
)
from msk_privatelink.kernel.records import CamelRecord, json_schema, to_json

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

This file is generated from the msgspec structs in
`layers/core/msk_privatelink/kernel/events.py` and
`layers/core/msk_privatelink/kernel/consumer_events.py` by
`python -m msk_privatelink.kernel.event_docs`; a test fails when they differ.
Each schema refuses unknown fields (`additionalProperties: false`); the
structs a detail contains are under `$defs`. Every `pattern` is anchored at
both ends, and its final `(?!\\n)` refuses a trailing newline (Python's `$`
alone matches before one; to an ECMAScript validator the lookahead changes
nothing).
"""

CONSUMER_INTRO = f"""## Events between accounts

The provider and each consumer account talk through event buses only; no
role is assumed across accounts. One rule on the provider bus
(`ConsumerDeliveryRule`) hands the provider's events for consumers to
`ConsumerDeliveryFunction`, which puts the cluster's `BrokerEndpointsChanged`
on every subscribed tenant's bus and each `Consumer*Requested` event on the
bus of the account it names (`msk-privatelink-consumer` by default), whose
policy admits `events:PutEvents` from the provider account only. The event a
consumer receives has the same `source`, `detail-type` and `detail`, and
`account` is the provider account. The
consumer stack's consumer-sync function answers on its own bus with
`source: {CONSUMER_EVENT_SOURCE}`; a rule of the consumer stack forwards
those answers to the provider bus. See [consumer.md](consumer.md).

| detail-type | source | from -> to |
|---|---|---|
| `ConsumerOnboardingRequested` | `{EVENT_SOURCE}` | provider bus -> consumer bus |
| `ConsumerOffboardingRequested` | `{EVENT_SOURCE}` | provider bus -> consumer bus |
| `ConsumerEndpointsReady` | `{CONSUMER_EVENT_SOURCE}` | consumer bus -> provider bus |
| `ConsumerConnectivityReport` | `{CONSUMER_EVENT_SOURCE}` | consumer bus -> provider bus |
| `ConsumerOnboarded` | `{EVENT_SOURCE}` | provider bus (announcement) |
| `ConsumerOffboarded` | `{EVENT_SOURCE}` | provider bus (announcement) |

The consumer applies the view a request carries exactly as it applies
`BrokerEndpointsChanged`: an older generation than the one in place changes
nothing, and the answer then reports the generation in place. A request for
another account or Region, or anything that fails validation, is refused
before any AWS call and gets no answer (the provider's wait times out).
"""

ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/"
    "7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)


class _TenantFields(TypedDict):
    cluster_arn: str
    consumer_account_id: str
    consumer_region: str
    vpc_id: str


CONSUMER = _TenantFields(
    cluster_arn=ARN,
    consumer_account_id="111122223333",
    consumer_region="us-east-1",
    vpc_id="vpc-0a1b2c3d4e5f60718",
)
SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAd1Example+TaskToken/Base64=="


def example() -> BrokerEndpointsChanged:
    return BrokerEndpointsChanged(
        cluster_arn=ARN,
        cluster_name="demo-cluster",
        region="us-east-1",
        pattern="nlb-per-broker",
        generation=4,
        brokers=(
            BrokerEndpoint(
                broker_id=1,
                host_names=("b-1.democluster.abc123.c2.kafka.us-east-1.amazonaws.com",),
                endpoint_service_name=SERVICE,
                endpoint_service_id="vpce-svc-0123456789abcdef0",
                ports={"sasl_iam": 9098},
            ),
        ),
    )


EXAMPLES: dict[str, Callable[[], CamelRecord]] = {
    "BrokerEndpointsChanged": example,
    "ConsumerOnboardingRequested": lambda: ConsumerOnboardingRequested(
        **CONSUMER,
        subnet_ids=("subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718"),
        security_group_ids=("sg-0a1b2c3d4e5f60718",),
        task_token=TOKEN,
        generation=4,
        endpoints=example(),
    ),
    "ConsumerOffboardingRequested": lambda: ConsumerOffboardingRequested(
        **CONSUMER, task_token=TOKEN, generation=4
    ),
    "ConsumerEndpointsReady": lambda: ConsumerEndpointsReady(
        **CONSUMER,
        generation=4,
        state="ready",
        task_token=TOKEN,
        endpoints=(
            ConsumerEndpoint(service_name=SERVICE, vpc_endpoint_id="vpce-0f1e2d3c4b5a69788"),
        ),
    ),
    "ConsumerConnectivityReport": lambda: ConsumerConnectivityReport(
        **CONSUMER,
        generation=4,
        checked_at="2026-12-05T18:10:00+00:00",
        state="unreachable",
        probes=7,
        failed=1,
        failures=(
            BrokerConnectivity(
                broker="3",
                scheme="sasl_iam",
                port=9098,
                step="tcp",
                detail="10.0.2.17:9098: connection timed out after 3.0s",
            ),
        ),
    ),
    "ConsumerOnboarded": lambda: ConsumerOnboarded(**CONSUMER, generation=4),
    "ConsumerOffboarded": lambda: ConsumerOffboarded(**CONSUMER, generation=5),
}


def _schema(model: type[CamelRecord]) -> dict[str, Any]:
    """The event's own schema at the top, the structs it contains under ``$defs``
    (msgspec puts every struct, the event too, under ``$defs`` behind a ``$ref``)."""
    generated = json_schema(model)
    defs: dict[str, Any] = generated["$defs"]
    for struct in defs.values():
        # A struct's description is its docstring, as written (indented lines).
        if "description" in struct:
            struct["description"] = inspect.cleandoc(struct["description"])
    schema: dict[str, Any] = defs.pop(generated["$ref"].removeprefix("#/$defs/"))
    if defs:
        schema["$defs"] = defs
    return schema


def _section(model: type[CamelRecord]) -> list[str]:
    name = model.__name__
    parts = [f"## `{name}` (detail-type `{name}`)\n"]
    parts.append((model.__doc__ or "").strip() + "\n")
    parts.append("Example `detail`:\n")
    detail = to_json(EXAMPLES[name]())
    parts.append("```json\n" + json.dumps(json.loads(detail), indent=2) + "\n```\n")
    parts.append("JSON Schema of `detail`:\n")
    schema = _schema(model)
    parts.append("```json\n" + json.dumps(schema, indent=2, sort_keys=True) + "\n```\n")
    return parts


def render() -> str:
    parts = [INTRO]
    for model in EVENT_MODELS:
        parts += _section(model)
    parts.append(CONSUMER_INTRO)
    for consumer_model in CONSUMER_EVENT_MODELS:
        parts += _section(consumer_model)
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
