"""The account's Elastic Load Balancing quotas, read with DescribeAccountLimits
and kept for a while: quotas change only when someone raises them, and a
plan that creates something reads them once per period, not per cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import translate

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

# A raised quota is seen within this many seconds.
LIMITS_TTL_SECONDS = 900.0


class AccountLimits:
    def __init__(
        self,
        elbv2: ElasticLoadBalancingv2Client,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._elbv2 = elbv2
        self._clock = clock
        self._cached: dict[str, int] | None = None
        self._read_at = 0.0

    def read(self) -> dict[str, int]:
        now = self._clock()
        if self._cached is None or now - self._read_at >= LIMITS_TTL_SECONDS:
            self._cached = self._describe()
            self._read_at = now
        return dict(self._cached)

    def _describe(self) -> dict[str, int]:
        limits: dict[str, int] = {}
        marker: str | None = None
        try:
            while True:
                page = (
                    self._elbv2.describe_account_limits(Marker=marker)
                    if marker
                    else self._elbv2.describe_account_limits()
                )
                for limit in page.get("Limits", []):
                    name, value = limit.get("Name"), limit.get("Max", "")
                    if name and value.isdigit():
                        limits[name] = int(value)
                marker = page.get("NextMarker")
                if not marker:
                    return limits
        except ClientError as exc:
            raise translate(exc, "reading the account's load balancer quotas") from exc
