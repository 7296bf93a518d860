"""The connectivity check against a real Apache Kafka broker.

One KRaft broker with its plaintext CLIENT listener and a TLS listener
(``CLIENT_TLS``, a PEM certificate for the broker name made by a test CA):
ApiVersions v0 is answered on both, directly and through the loopback NLB
stand-in (TCP passthrough, as an NLB forwards); a certificate for another
name fails at TLS; a stopped broker fails at TCP, naming the broker.

The broker name (``b-1.<cluster domain>``) resolves to the broker's loopback
address through an injected resolver, so the TLS handshake verifies the
name while connecting to an address, as through an interface endpoint.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from msk_privatelink.connectivity.probe import ProbeSettings, check
from msk_privatelink.connectivity.results import ProbeResult, ProbeTarget, Step
from msk_privatelink_dev.embedded import EmbeddedAws
from tests.kafka.broker import HOST, KafkaBroker, KafkaRuntime, start_broker
from tests.kafka.nlb_standin import NlbStandIn, Target, free_port_block

pytestmark = pytest.mark.kafka

BROKER_NAME = "b-1.connectivity.abc123.c2.kafka.us-east-1.amazonaws.com"
OTHER_NAME = "b-1.someone-else.example.com"
TLS_LISTENER = "CLIENT_TLS"
# What the reconciler registers for broker 1 (its ENI IP, the broker port);
# the stand-in translates it to the real listener.
SIMULATED_TARGET = Target("10.0.0.11", 9092)
TIMEOUT = 10.0


@dataclass(frozen=True)
class Tls:
    ca_file: Path
    chain_pem: str
    key_pem: str


def _make_tls(directory: Path, dns_name: str) -> Tls:
    """A test CA and a certificate it signs for ``dns_name`` (PEM, key PKCS#8)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connectivity test CA")])
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return Tls(
        ca_file=ca_file,
        chain_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )


def _property(pem: str) -> str:
    # server.properties is read by java.util.Properties: "\n" is a newline.
    return pem.strip().replace("\n", "\\n")


@dataclass(frozen=True)
class TlsBroker:
    broker: KafkaBroker
    tls: Tls

    @property
    def tls_port(self) -> int:
        return self.broker.extra_listeners[TLS_LISTENER][1]


@pytest.fixture(scope="module")
def tls_broker(
    kafka_rt: KafkaRuntime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsBroker]:
    """A KRaft broker with CLIENT (plaintext) and CLIENT_TLS (SSL, PEM key store)."""
    tls = _make_tls(tmp_path_factory.mktemp("connectivity-pki"), BROKER_NAME)
    prefix = f"listener.name.{TLS_LISTENER.lower()}."
    broker = start_broker(
        kafka_rt,
        "kraft",
        tmp_path_factory.mktemp("kafka-connectivity"),
        extra_listeners={TLS_LISTENER: "SSL"},
        extra_properties={
            f"{prefix}ssl.keystore.type": "PEM",
            f"{prefix}ssl.keystore.certificate.chain": _property(tls.chain_pem),
            f"{prefix}ssl.keystore.key": _property(tls.key_pem),
            f"{prefix}ssl.client.auth": "none",
        },
    )
    try:
        yield TlsBroker(broker, tls)
    finally:
        broker.stop()


def to_loopback(*names: str) -> Callable[[str, int, float], list[str]]:
    """A resolver answering the loopback address for ``names``."""

    def resolve(host: str, port: int, timeout: float) -> list[str]:
        assert host in names, f"unexpected lookup of {host}"
        return [HOST]

    return resolve


def probe(
    target: ProbeTarget, resolver: Callable[[str, int, float], list[str]], ca_file: Path | None
) -> ProbeResult:
    report = check([target], ProbeSettings(timeout=TIMEOUT, ca_file=ca_file), resolver=resolver)
    return report.results[0]


# ---------------------------------------------------------------------- tests


def test_a_stopped_broker_fails_at_tcp_naming_the_broker(
    kafka_rt: KafkaRuntime, tmp_path: Path
) -> None:
    # Given a broker that answers the check
    broker = start_broker(kafka_rt, "kraft", tmp_path)
    target = ProbeTarget(broker="1", host=BROKER_NAME, port=broker.client_port, scheme="plaintext")
    try:
        before = probe(target, to_loopback(BROKER_NAME), None)
    finally:
        # When it stops
        broker.stop()

    after = probe(target, to_loopback(BROKER_NAME), None)

    # Then the check fails at TCP, naming the broker and its endpoint
    assert (before.step, before.ok) == (Step.OK, True), before.detail
    assert (after.step, after.ok) == (Step.TCP, False)
    assert after.target.broker == "1"
    assert f"{BROKER_NAME}:{broker.client_port}" in after.detail
    assert "connection refused" in after.detail


def test_apiversions_succeeds_on_the_plaintext_listener(tls_broker: TlsBroker) -> None:
    target = ProbeTarget(
        broker="1", host=BROKER_NAME, port=tls_broker.broker.client_port, scheme="plaintext"
    )

    result = probe(target, to_loopback(BROKER_NAME), None)

    assert (result.step, result.ok) == (Step.OK, True), result.detail
    # Kafka 3.9 serves ApiVersions up to v4 and knows dozens of APIs.
    assert "ApiVersions v0-v4" in result.detail
    assert int(result.detail.split("ApiVersions: ")[1].split(" APIs")[0]) > 20


def test_apiversions_succeeds_on_the_tls_listener_verifying_the_broker_name(
    tls_broker: TlsBroker,
) -> None:
    target = ProbeTarget(broker="1", host=BROKER_NAME, port=tls_broker.tls_port, scheme="tls")

    result = probe(target, to_loopback(BROKER_NAME), tls_broker.tls.ca_file)

    assert (result.step, result.ok) == (Step.OK, True), result.detail
    assert result.connected_to == HOST


def test_the_tls_listener_under_another_name_fails_at_tls(tls_broker: TlsBroker) -> None:
    target = ProbeTarget(broker="1", host=OTHER_NAME, port=tls_broker.tls_port, scheme="tls")

    result = probe(target, to_loopback(OTHER_NAME), tls_broker.tls.ca_file)

    assert (result.step, result.ok) == (Step.TLS, False)
    assert result.detail.startswith("hostname mismatch")
    assert OTHER_NAME in result.detail


def test_the_wrong_scheme_fails_at_the_step_that_notices(tls_broker: TlsBroker) -> None:
    plaintext_to_tls = ProbeTarget(
        broker="1", host=BROKER_NAME, port=tls_broker.tls_port, scheme="plaintext"
    )
    tls_to_plaintext = ProbeTarget(
        broker="1", host=BROKER_NAME, port=tls_broker.broker.client_port, scheme="tls"
    )

    first = probe(plaintext_to_tls, to_loopback(BROKER_NAME), None)
    second = probe(tls_to_plaintext, to_loopback(BROKER_NAME), tls_broker.tls.ca_file)

    assert (first.step, first.ok) == (Step.KAFKA, False)
    assert "a TLS listener probed as plaintext?" in first.detail
    assert (second.step, second.ok) == (Step.TLS, False)
    assert "plaintext listener" in second.detail


@pytest.fixture
def standin_ports(tls_broker: TlsBroker) -> Iterator[dict[str, int]]:
    """An NLB (moto) with a listener per scheme, each forwarding to broker 1's
    registered address; the stand-in serves it, translating that address to
    the real plaintext or TLS listener."""
    with EmbeddedAws() as aws:
        network = aws.create_network(subnet_count=2)
        elbv2 = aws.client("elbv2")
        lb_arn = elbv2.create_load_balancer(
            Name="connectivity", Type="network", Scheme="internal", Subnets=list(network.subnet_ids)
        )["LoadBalancers"][0]["LoadBalancerArn"]
        first = free_port_block(2)
        ports = {"plaintext": first, "tls": first + 1}
        tls_target = Target(SIMULATED_TARGET.ip, 9094)
        for scheme, port, target in (
            ("plaintext", ports["plaintext"], SIMULATED_TARGET),
            ("tls", ports["tls"], tls_target),
        ):
            group_arn = elbv2.create_target_group(
                Name=f"b1-{scheme}",
                Protocol="TCP",
                Port=target.port,
                VpcId=network.vpc_id,
                TargetType="ip",
            )["TargetGroups"][0]["TargetGroupArn"]
            elbv2.register_targets(
                TargetGroupArn=group_arn, Targets=[{"Id": target.ip, "Port": target.port}]
            )
            elbv2.create_listener(
                LoadBalancerArn=lb_arn,
                Protocol="TCP",
                Port=port,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
            )
        table = {
            SIMULATED_TARGET: (HOST, tls_broker.broker.client_port),
            tls_target: (HOST, tls_broker.tls_port),
        }
        with NlbStandIn(elbv2, lb_arn, table):
            yield ports


def test_apiversions_succeeds_through_the_nlb_standin(
    tls_broker: TlsBroker, standin_ports: dict[str, int]
) -> None:
    targets = [
        ProbeTarget(broker="1", host=BROKER_NAME, port=port, scheme=scheme)
        for scheme, port in sorted(standin_ports.items())
    ]

    report = check(
        targets,
        ProbeSettings(timeout=TIMEOUT, ca_file=tls_broker.tls.ca_file),
        resolver=to_loopback(BROKER_NAME),
    )

    assert report.ok, [r.detail for r in report.results]
    assert [r.target.scheme for r in report.results] == ["plaintext", "tls"]
