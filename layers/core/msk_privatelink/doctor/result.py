"""A check's result, and the document and exit code the results make."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Exit codes: 0 nothing failed (warnings alone do not fail a pre-flight),
# 1 at least one check failed.
EXIT_OK = 0
EXIT_FAILED = 1


class Outcome(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    check: str  # stable id, e.g. "security-groups"
    outcome: Outcome
    detail: str
    fix: str = ""  # empty when the check passes
    source: str = ""  # the AWS documentation page behind the check

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "result": self.outcome.value,
            "detail": self.detail,
            "fix": self.fix,
            "source": self.source,
        }


def passed(check: str, detail: str, source: str = "") -> CheckResult:
    return CheckResult(check, Outcome.PASS, detail, "", source)


def warned(check: str, detail: str, fix: str, source: str = "") -> CheckResult:
    return CheckResult(check, Outcome.WARN, detail, fix, source)


def failed(check: str, detail: str, fix: str, source: str = "") -> CheckResult:
    return CheckResult(check, Outcome.FAIL, detail, fix, source)


def not_checked(check: str, because: str, source: str = "") -> CheckResult:
    """A check whose input another check already reports as broken: it cannot
    say pass, and failing it again would count one problem twice."""
    return warned(check, f"not checked: {because}", "fix the failing check named here", source)


def exit_code(results: Sequence[CheckResult]) -> int:
    return EXIT_FAILED if any(r.outcome is Outcome.FAIL for r in results) else EXIT_OK


def doctor_document(
    cluster_arn: str | None,
    region: str | None,
    stack_name: str | None,
    results: Sequence[CheckResult],
) -> dict[str, Any]:
    """``doctor --output json`` (docs/doctor.md lists every field)."""
    counts = Counter(r.outcome.value for r in results)
    return {
        "cluster_arn": cluster_arn,
        "region": region,
        "stack_name": stack_name,
        "checks": [r.to_dict() for r in results],
        "summary": {outcome.value: counts.get(outcome.value, 0) for outcome in Outcome},
        "exit_code": exit_code(results),
    }
