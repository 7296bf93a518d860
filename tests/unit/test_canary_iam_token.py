"""The canary's MSK IAM token against the reference signer
(aws-msk-iam-sasl-signer-python, the library MSK's documentation points
Python clients to): with the same credentials, Region and signing time the
signed URL is the same, parameter for parameter, signature included; only
the unsigned User-Agent names its own client."""

from __future__ import annotations

import base64
import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
from botocore.credentials import CredentialProvider, Credentials, ReadOnlyCredentials

from msk_privatelink.canary.iam_token import USER_AGENT, msk_iam_token
from msk_privatelink.connectivity.kafka_metadata import OAuthBearer

# AWS's documented example key pair (SigV4 examples); never a real one.
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN"
NOW = datetime.datetime(2026, 12, 5, 21, 40, 7, tzinfo=datetime.UTC)


class _Fixed(CredentialProvider):  # type: ignore[misc]
    METHOD = "fixed"

    def load(self) -> Credentials:
        return Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)


def decoded(token: str) -> tuple[str, dict[str, list[str]]]:
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore's signers read the time through this one function.
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW)


@pytest.mark.usefixtures("frozen")
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-2"])
def test_the_token_is_the_reference_signers_url(region: str) -> None:
    ours = msk_iam_token(ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), region)
    reference, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider(
        region, _Fixed()
    )

    our_url, our_params = decoded(ours)
    their_url, their_params = decoded(reference)
    assert our_url == their_url == f"https://kafka.{region}.amazonaws.com/"
    assert our_params.pop("User-Agent") == [USER_AGENT]
    assert their_params.pop("User-Agent")[0].startswith("aws-msk-iam-sasl-signer-python/")
    assert our_params == their_params
    assert our_params["Action"] == ["kafka-cluster:Connect"]
    assert our_params["X-Amz-Expires"] == ["900"]
    assert our_params["X-Amz-Credential"] == [
        f"{ACCESS_KEY}/20261205/{region}/kafka-cluster/aws4_request"
    ]
    assert our_params["X-Amz-Security-Token"] == [SESSION_TOKEN]
    assert expiry_ms == (int(NOW.timestamp()) + 900) * 1000
    # base64url without padding: a b64token Kafka's OAUTHBEARER accepts.
    assert "=" not in ours
    assert OAuthBearer(ours).token == ours


def test_no_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="no AWS credentials"):
        msk_iam_token(ReadOnlyCredentials("", "", None), "us-east-1")
