"""Turn botocore errors into the project's own, by error code (never by message)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from msk_privatelink.kernel.errors import (
    AwsCallError,
    MskPrivateLinkError,
    QuotaExceededError,
    ThrottledError,
)

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


# Error codes that mean an account or resource quota was reached (error shapes
# of botocore's elbv2, route53 and events models), with the quota behind each
# and whether AWS lets it be raised (Elastic Load Balancing "Quotas for your
# Network Load Balancers", Route 53 "Quotas", EventBridge "Quotas"). Retrying
# such a call only repeats the refusal until the message reaches the DLQ.
QUOTA_CODES: dict[str, str] = {
    "TooManyLoadBalancers": "Network Load Balancers per Region (default 50, adjustable)",
    "TooManyTargetGroups": "target groups per Region (default 3,000, adjustable)",
    "TooManyListeners": "listeners per Network Load Balancer (50, not adjustable)",
    "TooManyTargets": "targets per Network Load Balancer or target group (adjustable)",
    "TooManyRegistrationsForTargetId": "registrations of one target (not adjustable)",
    "TooManyUniqueTargetGroupsPerLoadBalancer": (
        "target groups per Network Load Balancer (adjustable)"
    ),
    "TooManyTags": "tags per resource (50, not adjustable)",
    "TooManyHostedZones": "Route 53 hosted zones per account (default 500, adjustable)",
    "TooManyVPCAssociationAuthorizations": (
        "Route 53 VPC association authorizations per hosted zone (adjustable)"
    ),
    "LimitsExceeded": "a Route 53 quota (records per hosted zone, VPCs per private zone)",
    "LimitExceededException": (
        "an EventBridge quota (rules per event bus, default 300, adjustable; "
        "targets per rule, 5, not adjustable)"
    ),
    "PolicyLengthExceededException": (
        "EventBridge event bus policy size (10,240 characters, adjustable)"
    ),
}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: ClientError, what: str) -> MskPrivateLinkError:
    """The project error for a failed call; callers ``raise translate(e, ...) from e``."""
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "")
    if code in THROTTLING_CODES:
        return ThrottledError(f"{what}: throttled ({code})")
    if code in QUOTA_CODES:
        return QuotaExceededError(
            f"{what}: {code}: {message} - the AWS quota on {QUOTA_CODES[code]} is reached; "
            "retrying will not help: raise it in Service Quotas where it is adjustable, "
            "or reconcile fewer resources in this account and Region"
        )
    return AwsCallError(f"{what}: {code}: {message}")
