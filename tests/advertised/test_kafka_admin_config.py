"""How the admin client is configured per scheme, and how the SCRAM secret is read."""

from __future__ import annotations

import json
import sys
import time

import pytest

from msk_privatelink.advertised.kafka_admin import (
    KafkaAdminError,
    ScramCredentials,
    SecretError,
    client_config,
    iam_token_provider,
    read_scram_secret,
)
from msk_privatelink.advertised.request import AdminConnection
from msk_privatelink.kernel.models import AuthScheme
from msk_privatelink_dev.embedded import EmbeddedAws

SIGNER = "aws_msk_iam_sasl_signer"
PASSWORD = "pa55-word-of-the-admin"


def connection(auth: AuthScheme, *, tls: bool = True) -> AdminConnection:
    return AdminConnection(
        bootstrap="b-1.x:9096",
        auth=auth,
        region="eu-west-1",
        scram_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_a-AbCdEf",
        tls=tls,
    )


@pytest.mark.parametrize(
    ("auth", "tls", "protocol"),
    [
        (AuthScheme.PLAINTEXT, True, "PLAINTEXT"),
        (AuthScheme.TLS, True, "SSL"),
        (AuthScheme.SASL_SCRAM, True, "SASL_SSL"),
        (AuthScheme.SASL_SCRAM, False, "SASL_PLAINTEXT"),
    ],
)
def test_security_protocol_per_scheme(auth: AuthScheme, tls: bool, protocol: str) -> None:
    config = client_config(
        connection(auth, tls=tls), credentials=ScramCredentials("admin", PASSWORD)
    )
    assert config["security.protocol"] == protocol
    assert config["bootstrap.servers"] == "b-1.x:9096"
    if auth is AuthScheme.SASL_SCRAM:
        assert config["sasl.mechanism"] == "SCRAM-SHA-512"
        assert (config["sasl.username"], config["sasl.password"]) == ("admin", PASSWORD)


def test_scram_without_credentials_and_credentials_repr() -> None:
    with pytest.raises(KafkaAdminError):
        client_config(connection(AuthScheme.SASL_SCRAM))
    assert PASSWORD not in repr(ScramCredentials("admin", PASSWORD))


def test_iam_uses_oauthbearer_with_the_given_token_provider() -> None:
    def provider(_config: str) -> tuple[str, float]:
        return "token", time.time() + 900

    config = client_config(connection(AuthScheme.SASL_IAM), token_provider=provider)

    assert (config["security.protocol"], config["sasl.mechanism"]) == ("SASL_SSL", "OAUTHBEARER")
    assert config["oauth_cb"] is provider


def test_iam_tokens_are_signed_with_the_callers_credentials() -> None:
    with EmbeddedAws(region="eu-west-1"):
        token, expiry = iam_token_provider("eu-west-1")("")
    assert token
    assert expiry > time.time()


def test_without_the_signer_iam_fails_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, SIGNER, None)
    with pytest.raises(KafkaAdminError, match="aws-msk-iam-sasl-signer-python"):
        client_config(connection(AuthScheme.SASL_IAM))


@pytest.mark.integration
def test_secret_problems_are_clear_and_show_nothing_of_the_secret() -> None:
    with EmbeddedAws() as aws:
        secrets = aws.client("secretsmanager")
        good = secrets.create_secret(
            Name="AmazonMSK_admin",
            SecretString=json.dumps({"username": "admin", "password": PASSWORD}),
        )["ARN"]
        not_json = secrets.create_secret(Name="AmazonMSK_raw", SecretString=PASSWORD)["ARN"]
        no_user = secrets.create_secret(
            Name="AmazonMSK_half", SecretString=json.dumps({"password": PASSWORD})
        )["ARN"]
        missing = good.replace("AmazonMSK_admin", "AmazonMSK_gone")

        assert read_scram_secret(secrets, good) == ScramCredentials("admin", PASSWORD)
        for arn in (not_json, no_user, missing):
            with pytest.raises(SecretError) as excinfo:
                read_scram_secret(secrets, arn)
            assert PASSWORD not in str(excinfo.value)
            assert excinfo.value.__cause__ is None
            assert excinfo.value.__suppress_context__
