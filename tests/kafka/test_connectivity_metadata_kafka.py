"""Metadata through the bootstrap against real Apache Kafka brokers.

Plaintext without credentials on a KRaft and a ZooKeeper-mode broker: the
Metadata v4 answer lists broker 1 at the address the listener advertises
(each listener its own port, which compare_brokers reports against another
listener's view). SASL/SCRAM on the ``scram_broker``'s SASL_PLAINTEXT
listener (SCRAM-SHA-512, the one mechanism it enables): the right password
authenticates and returns the brokers; a wrong one fails with an
authentication error at SaslAuthenticate, in the kafka step; another
mechanism, no credentials, or credentials on a listener without SASL each
fail at the request that notices. The prober's metadata check (what the
canary asks from inside a consumer network) on the same listener: the
brokers advertised, a view that differs named per broker, refused
credentials reported as such while the listener's probe passes.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from msk_privatelink.connectivity.bootstrap_metadata import (
    AuthenticationError,
    MetadataFetchError,
    MetadataResult,
    Stage,
    compare_brokers,
    fetch_metadata,
)
from msk_privatelink.connectivity.kafka_metadata import Scram
from msk_privatelink.connectivity.metadata_check import (
    MetadataOutcome,
    MetadataRequest,
    decode_outcomes,
    differences,
)
from msk_privatelink.connectivity.probe import ProbeSettings
from msk_privatelink.connectivity.prober import encode_request, handle
from msk_privatelink.connectivity.results import ProbeTarget, Step
from tests.kafka.broker import HOST, KafkaBroker, wait_for
from tests.kafka.conftest import SCRAM_LISTENER

pytestmark = pytest.mark.kafka

TIMEOUT = 15.0
# A user of this module's own: other modules' users on the shared broker stay as they are.
USER = "msk-privatelink-canary"
PASSWORD = "canary-Pa55word-4-metadata"


def fetch(port: int, auth: Scram | None = None) -> MetadataResult:
    return fetch_metadata(
        HOST,
        port,
        tls=None,
        server_hostname=HOST,
        auth=auth,
        timeout=TIMEOUT,
        deadline_at=time.monotonic() + 60.0,
    )


def scram_port(broker: KafkaBroker) -> int:
    return broker.extra_listeners[SCRAM_LISTENER][1]


@pytest.fixture(scope="module")
def scram(scram_broker: KafkaBroker) -> KafkaBroker:
    """The SCRAM broker with USER's SCRAM-SHA-512 credential, known to the
    broker (it learns new credentials from ZooKeeper, a moment later)."""
    admin = AdminClient({"bootstrap.servers": scram_broker.replication_bootstrap})
    upsert = UserScramCredentialUpsertion(
        USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), PASSWORD.encode()
    )
    admin.alter_user_scram_credentials([upsert])[USER].result(timeout=TIMEOUT)
    wait_for(
        f"SCRAM user {USER} authenticates",
        lambda: fetch(scram_port(scram_broker), Scram(USER, PASSWORD)),
        timeout=TIMEOUT,
        interval=0.2,
    )
    return scram_broker


# ---------------------------------------------------------------- plaintext


@pytest.mark.parametrize("mode", ["kraft", "zookeeper"])
def test_plaintext_without_auth_returns_the_broker_at_its_advertised_address(
    request: pytest.FixtureRequest, mode: str
) -> None:
    broker: KafkaBroker = request.getfixturevalue(f"{mode}_broker")

    result = fetch(broker.client_port)

    assert result.advertised == {1: (HOST, broker.client_port)}
    assert result.brokers[0].rack is None
    assert result.controller_id == 1
    assert result.cluster_id
    if broker.cluster_id is not None:  # KRaft: the id the storage was formatted with
        assert result.cluster_id == broker.cluster_id
    assert (result.connected_to, result.mechanism) == (HOST, None)


def test_each_listener_advertises_its_own_port_and_compare_brokers_reports_it(
    kraft_broker: KafkaBroker,
) -> None:
    expected = {1: (HOST, kraft_broker.client_port)}

    through_client = fetch(kraft_broker.client_port)
    through_replication = fetch(kraft_broker.replication_port)

    assert compare_brokers(expected, through_client.advertised) == []
    assert compare_brokers(expected, through_replication.advertised) == [
        f"broker 1: advertised at {HOST}:{kraft_broker.replication_port}, expected "
        f"{HOST}:{kraft_broker.client_port} (port differs)"
    ]


# -------------------------------------------------------------------- SCRAM


def test_scram_sha_512_with_the_right_password_returns_the_brokers(scram: KafkaBroker) -> None:
    result = fetch(scram_port(scram), Scram(USER, PASSWORD, "SCRAM-SHA-512"))

    assert result.advertised == {1: (HOST, scram_port(scram))}
    assert result.mechanism == "SCRAM-SHA-512"
    # SaslAuthenticate v1 was used (a v0 answer has no lifetime); 0: no
    # re-authentication required (connections.max.reauth.ms unset).
    assert result.session_lifetime_ms == 0
    assert compare_brokers({1: (HOST, scram_port(scram))}, result.advertised) == []


def test_a_wrong_password_fails_with_an_authentication_error_naming_the_step(
    scram: KafkaBroker,
) -> None:
    wrong = PASSWORD[::-1]

    with pytest.raises(AuthenticationError) as caught:
        fetch(scram_port(scram), Scram(USER, wrong))

    error = caught.value
    assert (error.step, error.stage) == (Step.KAFKA, Stage.SASL_AUTHENTICATE)
    assert str(error).startswith(
        "kafka step, SaslAuthenticate: authentication failed (SCRAM-SHA-512)"
    )
    assert wrong not in str(error)
    assert PASSWORD not in str(error)


def test_an_unknown_user_fails_with_an_authentication_error(scram: KafkaBroker) -> None:
    with pytest.raises(AuthenticationError, match="authentication failed"):
        fetch(scram_port(scram), Scram("no-such-user", PASSWORD))


def test_a_mechanism_the_listener_does_not_enable_fails_at_the_handshake(
    scram: KafkaBroker,
) -> None:
    with pytest.raises(MetadataFetchError) as caught:
        fetch(scram_port(scram), Scram(USER, PASSWORD, "SCRAM-SHA-256"))

    assert caught.value.stage is Stage.SASL_HANDSHAKE
    assert "does not enable SCRAM-SHA-256 (it enables: SCRAM-SHA-512)" in caught.value.detail


def test_no_credentials_on_the_scram_listener_fail_at_metadata(scram: KafkaBroker) -> None:
    with pytest.raises(MetadataFetchError) as caught:
        fetch(scram_port(scram))

    assert (caught.value.step, caught.value.stage) == (Step.KAFKA, Stage.METADATA)
    assert "a SASL listener, and no credentials given?" in caught.value.detail


def test_credentials_on_the_plaintext_listener_fail_at_the_handshake(scram: KafkaBroker) -> None:
    with pytest.raises(MetadataFetchError) as caught:
        fetch(scram.client_port, Scram(USER, PASSWORD))

    assert caught.value.stage is Stage.SASL_HANDSHAKE
    assert "ILLEGAL_SASL_STATE" in caught.value.detail


# ------------------------------------------- the prober's metadata check


CLUSTER = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/6f1c2b3a-1111-2222-3333-444455556666-2"


def prober_check(broker: KafkaBroker, password: str) -> tuple[dict[str, Any], MetadataOutcome]:
    """The prober's whole work as the canary asks it, through JSON both ways:
    probe the SCRAM listener, then fetch the metadata through it as the
    given user. (The listener is SASL_PLAINTEXT: the request's scheme says
    whether TLS comes first, and MSK's SCRAM listener is the TLS one.)"""
    port = scram_port(broker)
    target = ProbeTarget(broker="1", host=HOST, port=port, scheme="plaintext")
    asked = [
        MetadataRequest(
            cluster=CLUSTER, host=HOST, port=port, scheme="plaintext", auth=Scram(USER, password)
        )
    ]
    event = json.loads(json.dumps(encode_request([target], ProbeSettings(timeout=TIMEOUT), asked)))
    answer = json.loads(json.dumps(handle(event, 60.0)))
    (outcome,) = decode_outcomes(answer["metadata"], asked)
    return answer, outcome


def test_the_probers_metadata_check_lists_the_brokers_the_listener_advertises(
    scram: KafkaBroker,
) -> None:
    answer, outcome = prober_check(scram, PASSWORD)

    assert answer["summary"]["failed"] == 0
    assert outcome.ok
    assert outcome.brokers == ((1, HOST, scram_port(scram)),)
    assert differences({1: (frozenset({HOST}), scram_port(scram))}, outcome.brokers) == {}
    # A view that leads clients to port 9096 is not what this broker advertises.
    assert differences({1: (frozenset({HOST}), 9096)}, outcome.brokers) == {
        1: f"advertised at {HOST}:{scram_port(scram)}, the view has {HOST}:9096"
    }


def test_the_probers_metadata_check_reports_refused_credentials(scram: KafkaBroker) -> None:
    answer, outcome = prober_check(scram, "not-the-Pa55word")

    # The listener is reachable (the probe passed); only the secret is wrong.
    assert answer["summary"]["failed"] == 0
    assert (outcome.ok, outcome.step, outcome.stage, outcome.authentication) == (
        False,
        Step.KAFKA,
        "SaslAuthenticate",
        True,
    )
