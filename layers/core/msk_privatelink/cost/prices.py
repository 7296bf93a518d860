"""The price table: one entry per meter and Region, each with the AWS page it
comes from and whether the number was confirmed on that page.

Read on 2026-12-05. AWS renders most regional rates on its pricing pages from
a price feed at display time, so a stored copy of a page often holds the
billing rules and the pricing examples but not the rate table itself. Each
price therefore says what was confirmed:

- ``confirmed``: the number is stated on the AWS page named (in its text or
  its worked pricing example for the Region).
- ``unconfirmed``: the number is carried because the page's rate table could
  not be read; it is the rate commonly published for the Region, and must be
  checked on the page before a decision rests on it.
- ``missing``: no number could be confirmed and none is carried; the meter's
  quantity is still computed, its cost is left out and reported as unpriced
  until ``--prices FILE`` gives it.

Give your own (negotiated, other Region, newer) prices with ``--prices``
(``cost/overrides.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

PRICES_READ_ON = "2026-12-05"
# 8,760 hours a year over 12 months: the month every monthly figure uses.
HOURS_PER_MONTH = 730
# PrivateLink's data-processing tiers are per Region and month, in GB; the
# page names them 1 PB and 4 PB, counted here in binary units (1 PB = 1,048,576 GB).
GB_PER_PB = 1_048_576

ELB_PAGE = "https://aws.amazon.com/elasticloadbalancing/pricing/"
PRIVATELINK_PAGE = "https://aws.amazon.com/privatelink/pricing/"
EC2_PAGE = "https://aws.amazon.com/ec2/pricing/on-demand/"
MSK_PAGE = "https://aws.amazon.com/msk/pricing/"

PriceStatus = Literal["confirmed", "unconfirmed", "missing", "override"]


@dataclass(frozen=True)
class Meter:
    """A billed dimension: what is counted and in what unit."""

    name: str
    unit: str
    description: str


# Every meter the model prices; ``--prices`` accepts these names only.
METERS: Mapping[str, Meter] = {
    m.name: m
    for m in (
        Meter("nlb_hour", "load balancer-hour", "Network Load Balancer hour, per load balancer"),
        Meter("nlcu_hour", "NLCU-hour", "Network Load Balancer capacity unit (NLCU) hour"),
        Meter(
            "endpoint_az_hour",
            "endpoint-AZ-hour",
            "interface VPC endpoint hour, per Availability Zone it is provisioned in",
        ),
        Meter(
            "privatelink_gb_first_1pb",
            "GB",
            "PrivateLink data processed by interface endpoints, first 1 PB a month in a Region",
        ),
        Meter(
            "privatelink_gb_next_4pb",
            "GB",
            "PrivateLink data processed by interface endpoints, next 4 PB a month in a Region",
        ),
        Meter(
            "privatelink_gb_over_5pb",
            "GB",
            "PrivateLink data processed by interface endpoints, over 5 PB a month in a Region",
        ),
        Meter("inter_region_gb", "GB", "data transfer between AWS Regions (inter-Region)"),
        Meter(
            "msk_scheme_hour",
            "scheme-hour",
            "Amazon MSK multi-VPC private connectivity, per cluster and authentication scheme hour",
        ),
        Meter(
            "msk_gb",
            "GB",
            "Amazon MSK multi-VPC private connectivity, data processed",
        ),
    )
}


@dataclass(frozen=True)
class Price:
    """USD per unit of one meter in one Region (``usd`` None: not known)."""

    usd: float | None
    status: PriceStatus
    source: str
    note: str = ""


@dataclass(frozen=True)
class PriceTable:
    region: str
    # When the built-in prices were read; None for a Region only --prices names.
    read_on: str | None
    prices: Mapping[str, Price]

    def price(self, meter: str) -> Price:
        return self.prices.get(meter) or Price(None, "missing", "", "no price for this Region")


US_EAST_1 = PriceTable(
    region="us-east-1",
    read_on=PRICES_READ_ON,
    prices={
        "nlb_hour": Price(
            0.0225,
            "unconfirmed",
            ELB_PAGE,
            "the page's NLB rate table is rendered at display time and could not be read; "
            "its US East pricing examples state $0.0225 per load balancer-hour for the "
            "Application Load Balancer; the value carried is the one commonly quoted for the "
            "NLB in this Region: check it on the page",
        ),
        "nlcu_hour": Price(
            0.006,
            "confirmed",
            ELB_PAGE,
            "stated in the page's NLB pricing example; an NLCU holds, for TCP, 800 new "
            "connections a second, 100,000 active connections or 1 GB processed an hour",
        ),
        "endpoint_az_hour": Price(
            0.01,
            "unconfirmed",
            PRIVATELINK_PAGE,
            "the page confirms billing per endpoint per Availability Zone and per partial "
            "hour; its hourly rate table is rendered at display time and could not be read; "
            "the value carried is the one commonly quoted for this Region",
        ),
        "privatelink_gb_first_1pb": Price(
            0.01,
            "confirmed",
            PRIVATELINK_PAGE,
            "interface endpoint data processing, tier on all interface endpoints of the "
            "account in the Region",
        ),
        "privatelink_gb_next_4pb": Price(0.006, "confirmed", PRIVATELINK_PAGE),
        "privatelink_gb_over_5pb": Price(0.004, "confirmed", PRIVATELINK_PAGE),
        "inter_region_gb": Price(
            0.02,
            "unconfirmed",
            EC2_PAGE,
            "data transfer out of US East (N. Virginia) to another Region; the page's "
            "table is rendered at display time and could not be read; the pair US East "
            "(N. Virginia) - US East (Ohio) is commonly quoted lower ($0.01): check the pair "
            "your consumers use",
        ),
        "msk_scheme_hour": Price(
            None,
            "missing",
            MSK_PAGE,
            "the page's private connectivity rate could not be read; give it with --prices",
        ),
        "msk_gb": Price(
            None,
            "missing",
            MSK_PAGE,
            "the page's private connectivity rate could not be read; give it with --prices",
        ),
    },
)

BUILTIN: Mapping[str, PriceTable] = {US_EAST_1.region: US_EAST_1}
DEFAULT_REGION = US_EAST_1.region
