"""The consumer VPC's interface endpoint quota, checked before endpoints are created.

"Interface VPC endpoints per VPC" (Service Quotas: Amazon VPC, L-29B6F2EB;
AWS PrivateLink quotas: 50, adjustable) counts every interface endpoint in
the VPC, whoever made it. A plan that would create more than the VPC has
room for is refused before its first write, naming the quota: EC2 would
refuse the endpoint that crosses it after the ones before it were made, and
the zone would name brokers without a path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import translate
from msk_privatelink.kernel.errors import QuotaExceededError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_service_quotas import ServiceQuotasClient

QUOTA_CODE = "L-29B6F2EB"
QUOTA_NAME = "Interface VPC endpoints per VPC"
DEFAULT = 50
GONE = frozenset({"deleting", "deleted", "rejected", "failed", "expired"})


class EndpointQuota:
    def __init__(
        self, ec2: EC2Client, service_quotas: Callable[[], ServiceQuotasClient] | None
    ) -> None:
        self._ec2 = ec2
        self._service_quotas = service_quotas

    def check(self, vpc_id: str, creates: int) -> None:
        """Raise QuotaExceededError when ``creates`` more interface endpoints
        do not fit in ``vpc_id``."""
        if creates <= 0:
            return
        value, source = self._quota()
        present = self._interface_endpoints(vpc_id)
        if present + creates > value:
            raise QuotaExceededError(
                f"'{QUOTA_NAME}' is {value} for {vpc_id} ({source}); it has {present} and "
                f"this change creates {creates}: raise it in Service Quotas (Amazon VPC, "
                f"'{QUOTA_NAME}', {QUOTA_CODE}); "
                "nothing was changed (AWS PrivateLink, 'AWS PrivateLink quotas')"
            )

    def _quota(self) -> tuple[int, str]:
        if self._service_quotas is None:
            return DEFAULT, "AWS's default"
        try:
            answer = self._service_quotas().get_service_quota(
                ServiceCode="vpc", QuotaCode=QUOTA_CODE
            )
        except ClientError as exc:
            # Without servicequotas:GetServiceQuota (an older stack) the
            # documented default is the best guess; EC2 stays the judge.
            code = exc.response.get("Error", {}).get("Code", "")
            return DEFAULT, f"AWS's default: the account's value could not be read ({code})"
        return int(answer["Quota"].get("Value", DEFAULT)), "the account's value"

    def _interface_endpoints(self, vpc_id: str) -> int:
        count = 0
        try:
            pages = self._ec2.get_paginator("describe_vpc_endpoints").paginate(
                Filters=[
                    {"Name": "vpc-id", "Values": [vpc_id]},
                    {"Name": "vpc-endpoint-type", "Values": ["Interface"]},
                ]
            )
            for page in pages:
                count += sum(
                    1
                    for endpoint in page.get("VpcEndpoints", [])
                    if endpoint.get("State", "").lower() not in GONE
                )
        except ClientError as exc:
            raise translate(exc, f"counting the interface endpoints of {vpc_id}") from exc
        return count
