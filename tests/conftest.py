"""Test-wide environment: no real AWS credentials, no tracing, no network."""

from __future__ import annotations

import os

# Set before anything creates a boto3 session: a session made without fake
# credentials would try the real network.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "msk-privatelink",
        "POWERTOOLS_METRICS_NAMESPACE": "MskPrivateLink",
        "POWERTOOLS_DEV": "false",
    }
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)
