"""Turn botocore errors into the project's own, by error code (never by message)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from msk_privatelink.kernel.errors import AwsCallError, MskPrivateLinkError, ThrottledError

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: ClientError, what: str) -> MskPrivateLinkError:
    """The project error for a failed call; callers ``raise translate(e, ...) from e``."""
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "")
    if code in THROTTLING_CODES:
        return ThrottledError(f"{what}: throttled ({code})")
    return AwsCallError(f"{what}: {code}: {message}")
