"""What the templates wire, held to what the code reads and sends.

Each function's environment (after the SAM transform, intrinsics resolved)
must satisfy that function's settings, and every variable the template sets
must be one the function reads: a renamed variable fails here. Every rule
pattern of both templates is evaluated with moto's EventBridge pattern
matcher against the events the project and AWS send: a rule nothing matches,
or an event its rule misses, fails here. The demo and the tests run the
handlers with these same environments and patterns
(``msk_privatelink_dev.local.stack``).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from msk_privatelink.consumer import service as consumer_service
from msk_privatelink.consumer.service import ConsumerSyncSettings
from msk_privatelink.kernel.consumer_events import CONSUMER_EVENT_SOURCE, SOURCES
from msk_privatelink.kernel.event_docs import EXAMPLES
from msk_privatelink.kernel.events import EVENT_SOURCE, BrokerEndpointsChanged
from msk_privatelink.kernel.records import to_data
from msk_privatelink.onboarding import settings as onboarding_settings
from msk_privatelink.onboarding.settings import OnboardingSettings, tenant_table_from_env
from msk_privatelink.reconcile.settings import DetectorSettings, ReconcilerSettings, RouterSettings
from msk_privatelink_dev.local.consumers import consumer_stack
from msk_privatelink_dev.local.stack import PROVIDER_TEMPLATE, Stack

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
CLUSTER = f"arn:aws:kafka:us-east-1:{ACCOUNT}:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
PROVIDER = Stack(
    PROVIDER_TEMPLATE,
    "msk-privatelink",
    ACCOUNT,
    "us-east-1",
    parameters={
        "ClusterArn": CLUSTER,
        "ConsumerRegions": "eu-west-1",
        # With the Kafka admin function, so its name reaches the functions too.
        "KafkaAdminSubnetIds": "subnet-0a1b2c3d",
        "KafkaAdminVpcId": "vpc-0a1b2c3d",
        "KafkaAdminBrokerCidr": "10.0.0.0/16",
    },
)
CONSUMER = consumer_stack(ACCOUNT, "111122223333", "eu-west-1")
# Set by Lambda or read by Powertools, not by our code.
PLATFORM = re.compile(r"^(AWS_|POWERTOOLS_)")
SETTINGS: dict[str, tuple[Stack, Callable[[dict[str, str]], Any], list[Any]]] = {
    "event_router": (PROVIDER, RouterSettings.from_env, [RouterSettings]),
    "change_detector": (PROVIDER, DetectorSettings.from_env, [DetectorSettings]),
    "reconciler": (
        PROVIDER,
        ReconcilerSettings.from_env,
        [ReconcilerSettings, onboarding_settings.tenant_table_from_env],
    ),
    "onboarding_tasks": (PROVIDER, OnboardingSettings.from_env, [onboarding_settings]),
    "task_callback": (PROVIDER, tenant_table_from_env, [tenant_table_from_env]),
    "consumer_sync": (CONSUMER, ConsumerSyncSettings.from_env, [consumer_service]),
}


def names_read(readers: list[Any], function: str) -> set[str]:
    """Variables a function reads: its settings' fields (upper-cased, as
    the settings look them up) and the variable names its code spells out."""
    names: set[str] = set()
    sources = [(REPO / "functions" / function / "app.py").read_text(encoding="utf-8")]
    for reader in readers:
        if is_dataclass(reader):
            names |= {f.name.upper() for f in fields(reader)}
        else:
            sources.append(inspect.getsource(reader))
    for text in sources:
        names |= set(re.findall(r"\"([A-Z][A-Z0-9_]{2,})\"", text))
    return names


@pytest.mark.parametrize("function", sorted(SETTINGS))
def test_each_function_accepts_the_environment_its_template_gives(function: str) -> None:
    stack, load, _ = SETTINGS[function]

    assert load(stack.environment(function)) is not None


@pytest.mark.parametrize("function", sorted(SETTINGS))
def test_every_variable_the_template_sets_is_read_by_its_function(function: str) -> None:
    stack, _, readers = SETTINGS[function]
    variables = {v for v in stack.environment(function) if not PLATFORM.match(v)}

    assert variables - names_read(readers, function) == set()


def test_the_kafka_admin_function_reads_its_timeout() -> None:
    variables = {v for v in PROVIDER.environment("kafka_admin") if not PLATFORM.match(v)}

    assert variables - names_read([], "kafka_admin") == set()


# -- rule patterns -----------------------------------------------------------------------
def envelope(source: str, detail_type: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6f3c1b52-9a0e-4e43-8d0e-3b1f4c2a7d90",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-11-21T08:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail or {},
    }


# Every event the project sends, its detail the documented example (docs/events.md).
PROJECT_EVENTS = {
    BrokerEndpointsChanged.detail_type: envelope(
        EVENT_SOURCE,
        BrokerEndpointsChanged.detail_type,
        to_data(EXAMPLES["BrokerEndpointsChanged"]()),
    ),
    **{name: envelope(source, name, to_data(EXAMPLES[name]())) for name, source in SOURCES.items()},
}
FIXTURES = {
    p.name: json.loads(p.read_text(encoding="utf-8")) for p in (REPO / "events").glob("*.json")
}


def matching(pattern: dict[str, Any], events: dict[str, dict[str, Any]]) -> set[str]:
    compiled = EventPattern.load(json.dumps(pattern))
    return {name for name, event in events.items() if compiled.matches_event(event)}


def every_rule() -> dict[str, dict[str, Any]]:
    return {
        **{f"provider {k}": v for k, v in PROVIDER.event_patterns().items()},
        **{f"consumer {k}": v for k, v in CONSUMER.event_patterns().items()},
    }


def test_every_rule_of_both_templates_matches_something_that_is_sent() -> None:
    everything = {**PROJECT_EVENTS, **FIXTURES}
    unmatched = sorted(name for name, p in every_rule().items() if not matching(p, everything))

    assert unmatched == []


def test_the_consumer_function_gets_exactly_the_provider_events_meant_for_it() -> None:
    rule = f"{CONSUMER.function_id('consumer_sync')}ProviderEvents"

    assert matching(CONSUMER.event_patterns()[rule], PROJECT_EVENTS) == {
        "BrokerEndpointsChanged",
        "ConsumerOnboardingRequested",
        "ConsumerOffboardingRequested",
    }


def test_answers_are_forwarded_and_reach_the_callback_and_nothing_else_does() -> None:
    forward = CONSUMER.event_patterns()["ForwardAnswersRule"]
    callback = PROVIDER.event_patterns()[f"{PROVIDER.function_id('task_callback')}ConsumerReplies"]

    answers = {"ConsumerEndpointsReady", "ConsumerConnectivityReport"}
    assert matching(forward, PROJECT_EVENTS) == answers
    assert matching(callback, PROJECT_EVENTS) == answers
    assert {SOURCES[name] for name in answers} == {CONSUMER_EVENT_SOURCE}


def test_the_canary_probes_after_a_ready_answer_and_after_nothing_else() -> None:
    rule = CONSUMER.event_patterns()[
        f"{CONSUMER.function_id('connectivity_canary')}ConsumerSideReady"
    ]
    ready = PROJECT_EVENTS["ConsumerEndpointsReady"]
    assert ready["detail"]["state"] == "ready"
    failed = {**ready, "detail": {**ready["detail"], "state": "failed", "reason": "quota"}}

    assert matching(rule, PROJECT_EVENTS) == {"ConsumerEndpointsReady"}
    assert matching(rule, {"failed": failed}) == set()


def test_the_router_rules_match_no_project_event() -> None:
    router = PROVIDER.function_id("event_router")
    for name, pattern in PROVIDER.event_patterns().items():
        if name.startswith(router):
            assert matching(pattern, PROJECT_EVENTS) == set(), name


def test_the_reconcile_queue_is_fifo_with_a_dead_letter_queue() -> None:
    attributes = PROVIDER.queue_attributes("ReconcileQueue")
    redrive = json.loads(attributes["RedrivePolicy"])

    assert attributes["FifoQueue"] == "true"
    assert attributes["ContentBasedDeduplication"] == "false"
    assert redrive["deadLetterTargetArn"] == PROVIDER.get_att("ReconcileDeadLetterQueue", "Arn")
