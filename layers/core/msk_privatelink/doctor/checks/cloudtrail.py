"""Check 1: a trail delivers the write management events the stack's
CloudTrail-based rules match.

Severity: at worst a warning. Without such a trail the ``KafkaApiCalls`` and
``MskNetworkInterfaceCalls`` rules never fire, but nothing goes wrong: the
change detector still finds broker changes within ``ChangeDetectorSchedule``
and the schedule reconciles everything within ``ReconcileSchedule``; only
the reaction is slower. A pre-flight that failed here would block accounts
that work.
"""

from __future__ import annotations

from msk_privatelink.doctor.facts import ManagementEvents, Trail, Unread
from msk_privatelink.doctor.result import CheckResult, passed, warned
from msk_privatelink.doctor.sources import EVENTBRIDGE_CLOUDTRAIL_PAGE

CHECK = "cloudtrail"
CONSEQUENCE = (
    "the KafkaApiCalls and MskNetworkInterfaceCalls rules never fire: broker changes wait "
    "for the change detector (ChangeDetectorSchedule, default every minute), every other "
    "change for ReconcileSchedule (default every 5 minutes)"
)
READ_ACTIONS = "cloudtrail:DescribeTrails, cloudtrail:GetEventSelectors, cloudtrail:GetTrailStatus"


def applies_to(trail: Trail, region: str) -> bool:
    """A trail records the Region's events when it is multi-Region or lives there."""
    return trail.multi_region or trail.home_region == region


def _problem(trail: Trail) -> str | None:
    """Why this trail does not feed the rules; None when it does."""
    if isinstance(trail.management, Unread):
        return f"cannot read the selectors of trail {trail.name}: {trail.management}"
    if not trail.management.has_writes:
        return f"trail {trail.name} logs {trail.management.value} management events"
    if isinstance(trail.logging, Unread):
        return f"cannot read the status of trail {trail.name}: {trail.logging}"
    if not trail.logging:
        return f"trail {trail.name} is not logging"
    return None


def check_cloudtrail(region: str, trails: tuple[Trail, ...] | Unread) -> CheckResult:
    if isinstance(trails, Unread):
        return warned(
            CHECK,
            f"cannot read the trails: {trails}; if no trail logs management events, {CONSEQUENCE}",
            f"allow {READ_ACTIONS} to run this check",
            EVENTBRIDGE_CLOUDTRAIL_PAGE,
        )
    candidates = [t for t in trails if applies_to(t, region)]
    feeding = [t for t in candidates if _problem(t) is None]
    if feeding:
        names = ", ".join(t.name for t in feeding)
        return passed(
            CHECK,
            f"{names} logs write management events in {region} and is logging",
            EVENTBRIDGE_CLOUDTRAIL_PAGE,
        )
    if not candidates:
        return warned(
            CHECK,
            f"no trail records {region}: {CONSEQUENCE}",
            "create a multi-Region trail with management events and start it: "
            "aws cloudtrail create-trail --name NAME --s3-bucket-name BUCKET "
            "--is-multi-region-trail; aws cloudtrail start-logging --name NAME",
            EVENTBRIDGE_CLOUDTRAIL_PAGE,
        )
    problems = [p for p in (_problem(t) for t in candidates) if p]
    fixes = []
    for trail in candidates:
        if isinstance(trail.management, ManagementEvents) and not trail.management.has_writes:
            fixes.append(
                f"log write management events on {trail.name} (basic selector ReadWriteType "
                "All or WriteOnly with IncludeManagementEvents true; advanced: eventCategory "
                "Management without readOnly true)"
            )
        elif trail.logging is False:
            fixes.append(f"aws cloudtrail start-logging --name {trail.arn}")
        elif isinstance(trail.logging, Unread) or isinstance(trail.management, Unread):
            fixes.append(f"allow {READ_ACTIONS} on {trail.arn}")
    return warned(
        CHECK,
        f"{'; '.join(problems)}: {CONSEQUENCE}",
        "; ".join(fixes),
        EVENTBRIDGE_CLOUDTRAIL_PAGE,
    )
