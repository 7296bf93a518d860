"""Malformed events through the real consumer-sync handler: hand-picked
(wrong types, missing fields, huge payloads, injection strings in names,
misrouted requests) and Hypothesis-generated. Each is refused with a clear
log line, before any write (no endpoint, zone, record, parameter or answer),
and the consumer side that already exists is left exactly as it was."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msk_privatelink.kernel.consumer_events import (
    ConsumerOffboardingRequested,
    ConsumerOnboardingRequested,
)
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import CamelRecord, InvalidRecord, parse, replace, to_json
from msk_privatelink_dev.local.workflows import keep_sender
from tests.consumer.support import events_of
from tests.consumer.wiring import (
    PROVIDER_ACCOUNT,
    ConsumerStack,
    add_consumer_stack,
    put_on_provider_bus,
)
from tests.fuzzing import fuzz_settings
from tests.integration.harness import World, world

pytestmark = [
    pytest.mark.integration,
    pytest.mark.faults,
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

FUZZ_EXAMPLES = 120


def as_json(record: CamelRecord) -> dict[str, Any]:
    """The detail exactly as EventBridge delivers it: lists, not tuples (which
    ``records.to_data`` keeps), so that every list element is a path to break."""
    detail: dict[str, Any] = json.loads(to_json(record))
    return detail


@dataclass
class Onboarded:
    """A consumer stack following the cluster, and valid details to break."""

    w: World
    stack: ConsumerStack
    view: BrokerEndpointsChanged
    invoke: Callable[[dict[str, Any]], dict[str, Any]]

    def details(self) -> dict[str, dict[str, Any]]:
        later = replace(self.view, generation=self.view.generation + 1)
        return {
            "BrokerEndpointsChanged": as_json(later),
            "ConsumerOnboardingRequested": as_json(self.stack.onboarding(later)),
            "ConsumerOffboardingRequested": as_json(self.stack.offboarding(later.generation)),
        }

    def refused(self, event: Any) -> dict[str, Any]:
        """Hand ``event`` to the handler; it must be refused with no write at all."""
        before = self.stack.consumer.state()
        self.stack.consumer.counter.reset()
        logged = len(self.stack.logged())

        result = self.invoke(event)

        assert result["status"] == "refused", result
        assert result["reason"], result
        writes = self.stack.consumer.counter.writes
        assert writes == Counter(), writes
        assert self.stack.consumer.state() == before
        assert self.stack.replies() == []
        assert "event refused, nothing changed" in self.stack.logged()[logged:]
        return result


def envelope(detail_type: Any, detail: Any, **overrides: Any) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": "0b7c6b3e-6e2c-4f3a-9b5a-2f4f8b7a1c11",
        "detail-type": detail_type,
        "source": "msk-privatelink",
        "account": PROVIDER_ACCOUNT,
        "time": "2026-11-21T08:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }
    event.update(overrides)
    return event


@pytest.fixture(scope="module")
def onboarded() -> Iterator[Onboarded]:
    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, "111122223333")
        w.reconcile()
        view = events_of(w)[-1]
        stack.queued()
        put_on_provider_bus(w, stack.onboarding(view))
        (result,) = stack.deliver()
        assert result["status"] == "ready"
        stack.replies()
        yield Onboarded(w, stack, view, stack.handler())


def with_path(detail: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of ``detail`` with ``value`` at ``path`` (a missing marker deletes)."""
    out = copy.deepcopy(detail)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    if value is MISSING:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


MISSING = object()
HUGE = "a" * 300_000
INJECTIONS = [
    "b-1.x'; DROP TABLE zones; --",
    "b-1.x\nX-Injected: 1",
    "b-1.$(reboot).example.com",
    "../../etc/passwd",
    "b-1.démo.example.com",
    "*.example.com",
    "b-1.x\u0000.example.com",
]

# (detail-type, path in the detail, value): each makes the detail invalid.
BROKEN: list[tuple[str, tuple[Any, ...], Any]] = [
    ("BrokerEndpointsChanged", ("generation",), "two"),
    ("BrokerEndpointsChanged", ("generation",), 0),
    ("BrokerEndpointsChanged", ("generation",), 1.5),
    ("BrokerEndpointsChanged", ("brokers",), "b-1"),
    ("BrokerEndpointsChanged", ("brokers",), []),
    ("BrokerEndpointsChanged", ("clusterArn",), MISSING),
    ("BrokerEndpointsChanged", ("pattern",), "nlb-per-everything"),
    ("BrokerEndpointsChanged", ("schemaVersion",), "2.0"),
    ("BrokerEndpointsChanged", ("unexpected",), True),
    ("BrokerEndpointsChanged", ("brokers", 0, "brokerId"), -1),
    ("BrokerEndpointsChanged", ("brokers", 0, "hostNames"), []),
    ("BrokerEndpointsChanged", ("brokers", 0, "hostNames"), [HUGE]),
    ("BrokerEndpointsChanged", ("brokers", 0, "endpointServiceName"), HUGE),
    ("BrokerEndpointsChanged", ("brokers", 0, "endpointServiceName"), "vpce-svc-1; rm -rf /"),
    ("BrokerEndpointsChanged", ("brokers", 0, "hostNames"), ["b-1.other.abc.c2.example.com"]),
    ("BrokerEndpointsChanged", ("brokers", 1, "hostNames"), ["b-1.kafka.us-east-1.amazonaws.com"]),
    ("BrokerEndpointsChanged", ("brokers", 1, "endpointServiceName"), None),
    *[("BrokerEndpointsChanged", ("brokers", 0, "hostNames"), [bad]) for bad in INJECTIONS],
    ("ConsumerOnboardingRequested", ("taskToken",), MISSING),
    ("ConsumerOnboardingRequested", ("taskToken",), ""),
    ("ConsumerOnboardingRequested", ("taskToken",), "t" * 3000),
    ("ConsumerOnboardingRequested", ("taskToken",), "token\nwith newline"),
    ("ConsumerOnboardingRequested", ("consumerAccountId",), "11112222333"),
    ("ConsumerOnboardingRequested", ("consumerAccountId",), 111122223333),
    ("ConsumerOnboardingRequested", ("consumerAccountId",), "999988887777"),
    ("ConsumerOnboardingRequested", ("consumerRegion",), "eu-west-1"),
    ("ConsumerOnboardingRequested", ("vpcId",), "vpc-'); DROP"),
    ("ConsumerOnboardingRequested", ("subnetIds",), []),
    ("ConsumerOnboardingRequested", ("subnetIds",), "subnet-0123456789abcdef0"),
    ("ConsumerOnboardingRequested", ("subnetIds",), ["subnet-0123456789abcdef0"] * 2),
    ("ConsumerOnboardingRequested", ("securityGroupIds",), ["sg-*"]),
    ("ConsumerOnboardingRequested", ("generation",), 99),
    ("ConsumerOnboardingRequested", ("clusterArn",), "arn:aws:kafka:us-east-1:1:cluster/x/y"),
    ("ConsumerOnboardingRequested", ("endpoints",), {}),
    ("ConsumerOnboardingRequested", ("endpoints", "brokers", 0, "hostNames"), [INJECTIONS[0]]),
    ("ConsumerOffboardingRequested", ("generation",), MISSING),
    ("ConsumerOffboardingRequested", ("taskToken",), None),
    ("ConsumerOffboardingRequested", ("vpcId",), ["vpc-0123456789abcdef0"]),
    ("ConsumerOffboardingRequested", ("consumerAccountId",), "444455556666"),
]


@pytest.mark.parametrize(
    ("detail_type", "path", "value"),
    BROKEN,
    ids=[f"{t}:{'.'.join(map(str, p))}#{i}" for i, (t, p, _) in enumerate(BROKEN)],
)
def test_a_broken_detail_is_refused_without_a_write(
    onboarded: Onboarded, detail_type: str, path: tuple[Any, ...], value: Any
) -> None:
    detail = with_path(onboarded.details()[detail_type], path, value)

    result = onboarded.refused(envelope(detail_type, detail))

    assert result["kind"] == detail_type
    # The reason names what is wrong, without echoing a huge value back.
    assert len(result["reason"]) <= 2048


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(None, id="null"),
        pytest.param([], id="list"),
        pytest.param("event", id="string"),
        pytest.param({}, id="empty"),
        pytest.param({"detail-type": "BrokerEndpointsChanged"}, id="no-detail"),
        pytest.param(envelope("BrokerEndpointsChanged", []), id="detail-is-a-list"),
        pytest.param(envelope("BrokerEndpointsChanged", "{}"), id="detail-is-a-string"),
        pytest.param(envelope(42, {}), id="detail-type-is-a-number"),
        pytest.param(envelope("ConsumerEndpointsReady", {}), id="our-own-answer"),
        pytest.param(envelope("SomethingElse", {}), id="unknown-detail-type"),
        pytest.param(envelope("X" * 100_000, {}), id="huge-detail-type"),
    ],
)
def test_something_that_is_not_a_provider_event_is_refused(
    onboarded: Onboarded, event: Any
) -> None:
    onboarded.refused(event)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"source": "msk-privatelink.consumer"}, id="consumer-source"),
        pytest.param({"source": "aws.kafka"}, id="aws-source"),
        pytest.param({"account": "111122223333"}, id="sent-by-the-consumer-itself"),
        pytest.param({"account": "999988887777"}, id="sent-by-a-stranger"),
        pytest.param({"account": MISSING}, id="no-account"),
    ],
)
def test_a_valid_detail_from_the_wrong_sender_is_refused(
    onboarded: Onboarded, overrides: dict[str, Any]
) -> None:
    event = envelope(
        "ConsumerOffboardingRequested", onboarded.details()["ConsumerOffboardingRequested"]
    )
    for key, value in overrides.items():
        if value is MISSING:
            del event[key]
        else:
            event[key] = value

    onboarded.refused(event)


def test_a_huge_payload_is_refused(onboarded: Onboarded) -> None:
    detail = onboarded.details()["BrokerEndpointsChanged"]
    broker = detail["brokers"][0]
    # Ten thousand brokers, all with the same service and names.
    detail["brokers"] = [broker] * 10_000

    onboarded.refused(envelope("BrokerEndpointsChanged", detail))


# -- generated -------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
MODELS: dict[str, Any] = {
    "BrokerEndpointsChanged": BrokerEndpointsChanged,
    "ConsumerOnboardingRequested": ConsumerOnboardingRequested,
    "ConsumerOffboardingRequested": ConsumerOffboardingRequested,
}


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def invalid(detail_type: str, detail: Any) -> bool:
    try:
        parse(MODELS[detail_type], detail)
    except InvalidRecord:
        return True
    return False


@pytest.mark.parametrize("detail_type", sorted(MODELS))
def test_any_detail_the_model_refuses_is_refused_without_a_write(
    onboarded: Onboarded, detail_type: str
) -> None:
    """One field anywhere in a valid detail replaced or removed: whatever the
    model refuses, the handler refuses before its first write."""
    valid = onboarded.details()[detail_type]
    all_paths = paths(valid)

    @fuzz_settings(FUZZ_EXAMPLES)
    @given(
        path=st.sampled_from(all_paths),
        value=st.one_of(st.just(MISSING), json_values),
    )
    def check(path: tuple[Any, ...], value: Any) -> None:
        detail = with_path(valid, path, value)
        if not invalid(detail_type, detail):
            return  # still a valid detail: not this test's business
        onboarded.refused(envelope(detail_type, detail))

    check()


def test_any_generated_event_is_refused_or_handled_without_crashing(
    onboarded: Onboarded,
) -> None:
    """Arbitrary JSON as the whole event or as its detail: refused, never an
    unhandled exception, never a write."""

    @fuzz_settings(FUZZ_EXAMPLES)
    @given(
        detail_type=st.sampled_from([*MODELS, "ConsumerEndpointsReady"]) | st.text(max_size=30),
        detail=json_values,
        whole=st.booleans(),
    )
    def check(detail_type: str, detail: Any, whole: bool) -> None:
        event = detail if whole else envelope(detail_type, detail)
        onboarded.refused(json.loads(json.dumps(event)))

    check()
