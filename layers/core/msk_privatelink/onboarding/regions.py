"""Regions that PrivateLink cross-Region connectivity supports.

Source: https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-regions.html
("Cross-Region connectivity", supported Regions). Both the cluster's Region
and the consumer's Region must be listed. Review this list when AWS adds
Regions; a Region missing here is refused with a clear message, never
attempted.
"""

from __future__ import annotations

CROSS_REGION_SOURCE = "https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-regions.html"

CROSS_REGION_CONNECTIVITY_REGIONS: frozenset[str] = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
        "ap-northeast-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "sa-east-1",
    }
)
