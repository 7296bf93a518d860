"""An MSK IAM authentication token, for the metadata check on ``sasl_iam``.

The token is what MSK's IAM SASL signer libraries send as the OAUTHBEARER
token: a SigV4 pre-signed ``GET https://kafka.<region>.amazonaws.com/?Action=
kafka-cluster:Connect`` (signing name ``kafka-cluster``, valid 900 seconds),
with a ``User-Agent`` query parameter added after signing, base64url-encoded
without padding (Amazon MSK Developer Guide, "IAM access control"; the
reference implementation is aws-msk-iam-sasl-signer-python, against which
tests/unit/test_canary_iam_token.py checks this one). Signing is local: no
AWS call is made, and the canary's own role is the principal the cluster
sees, so the cluster's policy must admit it (docs/connectivity.md).
"""

from __future__ import annotations

import base64

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from msk_privatelink import __version__

SIGNING_NAME = "kafka-cluster"
ACTION = "kafka-cluster:Connect"
EXPIRES_SECONDS = 900
USER_AGENT = f"msk-privatelink/{__version__}"


def msk_iam_token(credentials: ReadOnlyCredentials, region: str) -> str:
    if not credentials.access_key or not credentials.secret_key:
        raise ValueError("no AWS credentials to sign an MSK IAM token with")
    request = AWSRequest(
        method="GET", url=f"https://kafka.{region}.amazonaws.com/", params={"Action": ACTION}
    )
    SigV4QueryAuth(credentials, SIGNING_NAME, region, expires=EXPIRES_SECONDS).add_auth(request)
    # Not signed: added after, as the signer libraries do.
    request.params = {"User-Agent": USER_AGENT}
    url = request.prepare().url
    assert url is not None
    return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
