"""The metadata check's contract and judgement: the prober fetches through
the bootstrap (against the loopback broker of test_connectivity_metadata,
which answers as the Kafka protocol spec says), the controller reads the
answer back and compares the advertised brokers with the view."""

from __future__ import annotations

import argparse
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from msk_privatelink.cli.check_connectivity import COMMAND, PASSWORD_VARIABLE
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
from msk_privatelink.kernel.errors import ConfigError
from tests.unit.test_connectivity_metadata import (
    BROKER_NAME,
    HOST,
    THREE_BROKERS,
    FakeBroker,
    Pki,
    Server,
    pki,  # noqa: F401 - the fixture
    serve,  # noqa: F401 - the fixture
    tls_server_context,
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
        ({"brokers": [[1, "h.example", 0]]}, "out of range"),
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


# ---------------------------------------------- check-connectivity --scram-user


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="check-connectivity")
    COMMAND.configure(parser)
    return COMMAND.run(parser.parse_args(argv))


@pytest.fixture
def broker_name_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """BROKER_NAME resolves to loopback, as it would to an endpoint's address."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        return real(HOST if host == BROKER_NAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def one_broker_view(tmp_path: Path, port: int) -> Path:
    detail = {
        "schemaVersion": "1.0",
        "clusterArn": CLUSTER,
        "clusterName": "democluster",
        "region": "us-east-1",
        "pattern": "nlb-per-broker",
        "generation": 4,
        "brokers": [
            {
                "brokerId": 1,
                "hostNames": [BROKER_NAME],
                "endpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef1",
                "endpointServiceId": "vpce-svc-0123456789abcdef1",
                "ports": {"sasl_scram": port},
            }
        ],
        "bootstrap": None,
    }
    path = tmp_path / "view.json"
    path.write_text(json.dumps(detail), encoding="utf-8")
    return path


@pytest.mark.usefixtures("broker_name_here")
def test_the_command_compares_the_metadata_with_the_view(
    serve: Callable[..., Server],  # noqa: F811
    pki: Pki,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broker = FakeBroker(mechanisms=("SCRAM-SHA-512",))
    server = serve(broker, tls_server_context(pki))
    monkeypatch.setenv(PASSWORD_VARIABLE, "s3cret-Pa55")
    view = one_broker_view(tmp_path, server.port)
    argv = ["--view", str(view), "--ca-file", str(pki.ca_file), "--scram-user", "canary"]

    # The broker advertises itself where the view says: green.
    broker.brokers = ((1, BROKER_NAME, server.port, None),)
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert (
        f"Metadata through {BROKER_NAME}:{server.port} (sasl_scram): 1 brokers advertised, "
        "each as the view holds." in out
    )

    # It advertises another port and a broker the view lacks: named, exit 1.
    broker.brokers = ((1, BROKER_NAME, 9096, None), (2, "b-2.example", 9096, None))
    assert run_cli([*argv, "--output", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["summary"]["ok"] is True
    assert document["metadata"]["through"] == f"{BROKER_NAME}:{server.port}"
    assert document["metadata"]["differences"] == {
        "1": f"advertised at {BROKER_NAME}:9096, the view has {BROKER_NAME}:{server.port}",
        "2": "advertised at b-2.example:9096, not in the view",
    }

    # A wrong password: the fetch fails, told apart from the probes.
    monkeypatch.setenv(PASSWORD_VARIABLE, "wrong-Pa55")
    assert run_cli(argv) == 1
    out = capsys.readouterr().out
    assert "failed at KAFKA (SaslAuthenticate) (the credentials were refused)" in out
    assert "wrong-Pa55" not in out


def test_credentials_without_a_view_or_a_password_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="need --view"):
        run_cli(["--brokers", f"{HOST}:9096", "--scram-user", "canary"])
    monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)
    view = one_broker_view(tmp_path, 9096)
    with pytest.raises(ConfigError, match=PASSWORD_VARIABLE):
        run_cli(["--view", str(view), "--scram-user", "canary"])
    with pytest.raises(ConfigError, match="the view has no sasl_iam port"):
        run_cli(["--view", str(view), "--iam"])
