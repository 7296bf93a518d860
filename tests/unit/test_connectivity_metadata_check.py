"""The metadata check's contract and judgement: the prober fetches through
the bootstrap (against the loopback broker of test_connectivity_metadata,
which answers as the Kafka protocol spec says), the controller reads the
answer back and compares the advertised brokers with the view."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from msk_privatelink.connectivity import prober
from msk_privatelink.connectivity.kafka_metadata import OAuthBearer, Scram
from msk_privatelink.connectivity.metadata_check import (
    MetadataContractError,
    MetadataOutcome,
    MetadataRequest,
    decode_outcomes,
    decode_requests,
    differences,
)
from msk_privatelink.connectivity.probe import ProbeSettings
from msk_privatelink.connectivity.results import ProbeTarget, Step
from tests.unit.test_connectivity_metadata import (
    HOST,
    THREE_BROKERS,
    FakeBroker,
    Server,
    serve,  # noqa: F401 - the fixture
)

CLUSTER = "arn:aws:kafka:us-east-1:123456789012:cluster/democluster/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2"
VIEW = {node: (frozenset({host}), 9096) for node, host, _, _ in THREE_BROKERS}


def request(port: int, password: str = "s3cret-Pa55") -> MetadataRequest:
    # A SASL listener without TLS: the scheme decides TLS, plaintext has none.
    return MetadataRequest(
        cluster=CLUSTER, host=HOST, port=port, scheme="plaintext", auth=Scram("canary", password)
    )


def prober_event(port: int, metadata: list[MetadataRequest]) -> dict[str, Any]:
    target = ProbeTarget(broker="1", host=HOST, port=port, scheme="plaintext")
    # Through JSON both ways, as Lambda's Invoke carries them.
    return json.loads(
        json.dumps(prober.encode_request([target], ProbeSettings(timeout=5), metadata))
    )


def test_the_prober_fetches_through_the_bootstrap_and_the_view_agrees(
    serve: Callable[..., Server],  # noqa: F811
) -> None:
    server = serve(FakeBroker(mechanisms=("SCRAM-SHA-512",)))
    asked = [request(server.port)]

    answer = json.loads(json.dumps(prober.handle(prober_event(server.port, asked), 30.0)))
    (outcome,) = decode_outcomes(answer["metadata"], asked)

    assert outcome.ok
    assert outcome.step is Step.OK
    assert outcome.brokers == tuple((n, h, p) for n, h, p, _ in THREE_BROKERS)
    assert outcome.connected_to == HOST
    assert differences(VIEW, outcome.brokers) == {}
    # The password went in the request only.
    assert "s3cret-Pa55" not in json.dumps(answer)


def test_refused_credentials_are_an_authentication_outcome_at_the_kafka_step(
    serve: Callable[..., Server],  # noqa: F811
) -> None:
    server = serve(FakeBroker(mechanisms=("SCRAM-SHA-512",)))
    asked = [request(server.port, password="wrong-Pa55")]

    answer = prober.handle(prober_event(server.port, asked), 30.0)
    (outcome,) = decode_outcomes(json.loads(json.dumps(answer["metadata"])), asked)

    assert (outcome.ok, outcome.step, outcome.stage, outcome.authentication) == (
        False,
        Step.KAFKA,
        "SaslAuthenticate",
        True,
    )
    assert outcome.brokers == ()


def test_an_answer_without_metadata_requests_carries_no_metadata_key(
    serve: Callable[..., Server],  # noqa: F811
) -> None:
    server = serve(FakeBroker())
    answer = prober.handle(prober_event(server.port, []), 30.0)
    assert "metadata" not in answer
    assert decode_outcomes(answer.get("metadata"), []) == []


def test_differences_name_each_broker_and_what_differs() -> None:
    advertised = [
        (1, "B-1.democluster.abc123.c2.kafka.us-east-1.amazonaws.com.", 9096),  # case, dot
        (2, "b-2.democluster.abc123.c2.kafka.us-east-1.amazonaws.com", 9196),  # port
        (4, "b-4.democluster.abc123.c2.kafka.us-east-1.amazonaws.com", 9096),  # not in view
    ]
    assert differences(VIEW, advertised) == {
        2: "advertised at b-2.democluster.abc123.c2.kafka.us-east-1.amazonaws.com:9196, the view "
        "has b-2.democluster.abc123.c2.kafka.us-east-1.amazonaws.com:9096",
        3: "not advertised (expected on port 9096)",
        4: "advertised at b-4.democluster.abc123.c2.kafka.us-east-1.amazonaws.com:9096, not in "
        "the view",
    }
    # A broker with several names may be advertised under any of them.
    names = {1: (frozenset({"b-1.a.example", "b-1.b.example"}), 9096)}
    assert differences(names, [(1, "b-1.b.example", 9096)]) == {}
    assert differences(names, [(1, "127.0.0.1", 9096)]) == {
        1: "advertised at 127.0.0.1:9096, the view has b-1.a.example or b-1.b.example:9096"
    }


def test_requests_survive_json_and_never_show_the_password() -> None:
    asked = MetadataRequest(
        cluster=CLUSTER,
        host="bootstrap.example",
        port=9096,
        scheme="sasl_scram",
        auth=Scram("canary", "s3cret-Pa55"),
    )
    (back,) = decode_requests(json.loads(json.dumps([asked.to_dict()])))
    assert back == asked
    assert back.uses_tls
    assert "s3cret" not in repr(asked)
    assert decode_requests(None) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1}, "unknown field 'extra'"),
        (
            {"scheme": "sasl_plain"},
            "metadata[0].scheme: 'sasl_plain', one of plaintext, sasl_iam, sasl_scram, tls",
        ),
        ({"auth": {"mechanism": "OAUTHBEARER", "token": "not a b64token"}}, "RFC 6750"),
        ({"auth": {"mechanism": "OAUTHBEARER", "token": "t", "password": "p"}}, "'password'"),
        ({"port": 0}, "metadata[0].port: 0 is out of range"),
        ({"auth": {"mechanism": "PLAIN", "username": "u", "password": "p"}}, "auth.mechanism"),
        ({"auth": {"mechanism": "SCRAM-SHA-512", "username": "u"}}, "auth.password"),
        ({"host": ""}, "metadata[0].host"),
    ],
)
def test_malformed_requests_are_refused(change: dict[str, Any], message: str) -> None:
    raw = {"cluster": CLUSTER, "host": "h.example", "port": 9096, "scheme": "sasl_scram"} | change
    with pytest.raises(MetadataContractError, match=re.escape(message)):
        decode_requests([raw])


def test_too_many_requests_are_refused() -> None:
    raw = {"cluster": CLUSTER, "host": "h.example", "port": 9096, "scheme": "tls"}
    with pytest.raises(MetadataContractError, match="at most 50"):
        decode_requests([raw] * 51)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cluster": "arn:aws:kafka:us-east-1:123456789012:cluster/other/x"}, "another cluster"),
        ({"ok": False}, "ok does not match step ok"),
        ({"step": "boom"}, "'boom' is not a step"),
        ({"brokers": [[1, "h.example"]]}, r"brokers\[0\]: \[node id, host, port\]"),
        ({"brokers": [[True, "h.example", 9096]]}, "an integer is required"),
    ],
)
def test_malformed_answers_are_refused(change: dict[str, Any], message: str) -> None:
    good = MetadataOutcome(cluster=CLUSTER, step=Step.OK, brokers=((1, "h.example", 9096),))
    asked = [MetadataRequest(cluster=CLUSTER, host="h.example", port=9096, scheme="tls")]
    assert decode_outcomes([good.to_dict()], asked) == [good]
    with pytest.raises(MetadataContractError, match=message):
        decode_outcomes([good.to_dict() | change], asked)
    with pytest.raises(MetadataContractError, match="no metadata results for 1"):
        decode_outcomes(None, asked)


def test_an_iam_token_is_sent_as_oauthbearer_and_never_shown(
    serve: Callable[..., Server],  # noqa: F811
) -> None:
    token = "aHR0cHM6Ly9rYWZrYS51cy1lYXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXI"
    server = serve(FakeBroker(mechanisms=("OAUTHBEARER",), tokens=frozenset({token})))
    asked = [
        MetadataRequest(
            cluster=CLUSTER,
            host=HOST,
            port=server.port,
            scheme="plaintext",
            auth=OAuthBearer(token),
        )
    ]
    event = prober_event(server.port, asked)
    assert event["metadata"][0]["auth"] == {"mechanism": "OAUTHBEARER", "token": token}
    assert decode_requests(event["metadata"]) == asked
    assert token not in repr(asked[0])

    answer = json.loads(json.dumps(prober.handle(event, 30.0)))
    (outcome,) = decode_outcomes(answer["metadata"], asked)

    assert outcome.ok
    assert differences(VIEW, outcome.brokers) == {}
    assert token not in json.dumps(answer)
