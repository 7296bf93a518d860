"""The monthly cost of one cluster's private connectivity, per pattern.

A scenario (brokers, AZs, schemes, consumer accounts and Regions, GB a month)
becomes metered quantities, each priced from a ``PriceTable``. The model is
deliberately plain; its assumptions (docs/cost.md says why each holds):

- Traffic is spread evenly over brokers, hours, consumer accounts and
  consumer Regions; ``gb_per_month`` is every byte through the load
  balancers, both directions, all consumers together.
- NLCUs come from bytes only (1 NLCU = 1 GB processed in an hour, TCP), so a
  month's NLCU-hours equal its GB whatever the number of load balancers.
  Connection counts are assumed below the other two NLCU dimensions.
- Each consumer account makes one interface endpoint per endpoint service
  (one per broker for nlb-per-broker, one per shard for shared-nlb), in as
  many AZs as the cluster has.
- PrivateLink data-processing tiers apply per consumer account and Region,
  as if this cluster were the account's only interface-endpoint traffic.
- Consumers outside the cluster's Region add inter-Region data transfer for
  their share of the bytes; all prices are the cluster Region's.
- The provider pays the load balancers; each consumer account pays its
  endpoints, their data processing and inter-Region transfer.
- Amazon MSK multi-VPC private connectivity: each consumer account's
  connection is charged per cluster and authentication scheme hour, plus
  data processed; it serves the cluster's Region only and authenticated
  schemes only, and its charges stand in for the endpoints' (AWS lets a
  service include its endpoints' cost in its own price).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from msk_privatelink.cost.prices import GB_PER_PB, HOURS_PER_MONTH, METERS, PriceTable
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.reconcile.config import LISTENERS_PER_NLB
from msk_privatelink.reconcile.shards import capacity_for

Pattern = Literal["nlb-per-broker", "shared-nlb", "msk-multi-vpc"]
Payer = Literal["provider", "consumer"]
PATTERNS: tuple[Pattern, ...] = ("nlb-per-broker", "shared-nlb", "msk-multi-vpc")
# The client authentication schemes MSK has (plaintext, TLS, SASL/SCRAM, IAM).
MAX_SCHEMES = 4
TIER_LIMITS_GB = (GB_PER_PB, 5 * GB_PER_PB)


@dataclass(frozen=True)
class Scenario:
    """What drives the cost; ``shards`` is shared-nlb's load balancer count and
    ``msk_schemes`` the schemes MSK multi-VPC connectivity would serve."""

    brokers: int
    azs: int
    schemes: int
    consumer_accounts: int
    consumer_regions: int
    gb_per_month: float
    shards: int
    msk_schemes: int


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def scenario(
    *,
    brokers: int,
    azs: int,
    schemes: int,
    consumer_accounts: int,
    consumer_regions: int,
    gb_per_month: float,
) -> Scenario:
    """A scenario from figures a person gives, checked against what MSK
    allows; shared-nlb's shards as reconcile/shards.py sizes them for
    ``schemes`` named schemes."""
    for name, value in (
        ("--brokers", brokers),
        ("--azs", azs),
        ("--schemes", schemes),
        ("--consumer-accounts", consumer_accounts),
        ("--consumer-regions", consumer_regions),
    ):
        _positive(name, value)
    if azs not in (2, 3):
        raise ConfigError(f"--azs must be 2 or 3 (an MSK cluster spans 2 or 3 AZs), got {azs}")
    if brokers % azs:
        lower = brokers - brokers % azs
        near = " or ".join(str(n) for n in sorted({lower or azs, lower + azs}))
        raise ConfigError(
            f"--brokers {brokers} is not a multiple of --azs {azs}: MSK places the same number "
            f"of brokers in each AZ; use {near}"
        )
    if schemes > MAX_SCHEMES:
        raise ConfigError(
            f"--schemes must be 1..{MAX_SCHEMES} (plaintext, tls, sasl_scram, sasl_iam), "
            f"got {schemes}"
        )
    if consumer_regions > consumer_accounts:
        raise ConfigError(
            f"--consumer-regions {consumer_regions} exceeds --consumer-accounts "
            f"{consumer_accounts}: every consumer Region holds at least one account"
        )
    if isinstance(gb_per_month, bool) or not math.isfinite(gb_per_month) or gb_per_month < 0:
        raise ConfigError(f"--gb-per-month must be a number of GB >= 0, got {gb_per_month!r}")
    capacity = capacity_for(LISTENERS_PER_NLB, schemes)
    return Scenario(
        brokers=brokers,
        azs=azs,
        schemes=schemes,
        consumer_accounts=consumer_accounts,
        consumer_regions=consumer_regions,
        gb_per_month=float(gb_per_month),
        shards=math.ceil(brokers / capacity),
        # Without the scheme names, every scheme counts: plaintext is the
        # caller's to leave out (live state does).
        msk_schemes=schemes,
    )


@dataclass(frozen=True)
class Line:
    """One meter of one pattern: how much a month, at what price, paid by whom."""

    meter: str
    payer: Payer
    quantity: float
    unit_usd: float | None
    price_status: str
    source: str

    @property
    def usd(self) -> float | None:
        return None if self.unit_usd is None else self.quantity * self.unit_usd

    @property
    def unit(self) -> str:
        return METERS[self.meter].unit


@dataclass(frozen=True)
class PatternCost:
    pattern: Pattern
    load_balancers: int
    endpoints_per_account: int
    # Accounts the pattern serves (MSK: those in the cluster's Region).
    served_accounts: float
    lines: tuple[Line, ...]
    notes: tuple[str, ...] = field(default=())
    available: bool = True

    def _sum(self, payer: Payer | None) -> float | None:
        """None when a meter of ``payer`` (any payer: None) has no price: a
        partial sum would read as the cost."""
        lines = [line for line in self.lines if payer in (None, line.payer)]
        costs = [line.usd for line in lines if line.quantity]
        if any(cost is None for cost in costs):
            return None
        return sum(cost for cost in costs if cost is not None)

    @property
    def provider_usd(self) -> float | None:
        return self._sum("provider")

    @property
    def consumers_usd(self) -> float | None:
        return self._sum("consumer")

    @property
    def per_consumer_account_usd(self) -> float | None:
        consumers = self.consumers_usd
        if consumers is None or not self.served_accounts:
            return None if consumers is None else 0.0
        return consumers / self.served_accounts

    @property
    def total_usd(self) -> float | None:
        return self._sum(None)

    @property
    def unpriced(self) -> tuple[str, ...]:
        """Meters with a quantity but no price: the totals leave them out."""
        return tuple(line.meter for line in self.lines if line.usd is None and line.quantity)


def tiered_gb(gb: float) -> tuple[float, float, float]:
    """One account's GB in a month split over PrivateLink's three tiers."""
    first, second = TIER_LIMITS_GB
    return (min(gb, first), min(max(gb - first, 0.0), second - first), max(gb - second, 0.0))


class _Lines:
    def __init__(self, prices: PriceTable) -> None:
        self._prices = prices
        self.lines: list[Line] = []

    def add(self, meter: str, payer: Payer, quantity: float) -> None:
        price = self._prices.price(meter)
        self.lines.append(Line(meter, payer, quantity, price.usd, price.status, price.source))


def _privatelink(s: Scenario, prices: PriceTable, pattern: Pattern, nlbs: int) -> PatternCost:
    hours = HOURS_PER_MONTH
    out = _Lines(prices)
    out.add("nlb_hour", "provider", nlbs * hours)
    # GB/h per load balancer-hour, summed over every load balancer-hour.
    out.add("nlcu_hour", "provider", s.gb_per_month)
    out.add("endpoint_az_hour", "consumer", s.consumer_accounts * nlbs * s.azs * hours)
    per_account = tiered_gb(s.gb_per_month / s.consumer_accounts)
    for meter, gb in zip(
        ("privatelink_gb_first_1pb", "privatelink_gb_next_4pb", "privatelink_gb_over_5pb"),
        per_account,
        strict=True,
    ):
        out.add(meter, "consumer", gb * s.consumer_accounts)
    remote_share = (s.consumer_regions - 1) / s.consumer_regions
    out.add("inter_region_gb", "consumer", s.gb_per_month * remote_share)
    return PatternCost(
        pattern=pattern,
        load_balancers=nlbs,
        endpoints_per_account=nlbs,
        served_accounts=s.consumer_accounts,
        lines=tuple(out.lines),
    )


def _msk_multi_vpc(s: Scenario, prices: PriceTable) -> PatternCost:
    local_share = 1 / s.consumer_regions
    accounts = s.consumer_accounts * local_share
    out = _Lines(prices)
    out.add("msk_scheme_hour", "consumer", accounts * s.msk_schemes * HOURS_PER_MONTH)
    out.add("msk_gb", "consumer", s.gb_per_month * local_share)
    notes: list[str] = []
    if s.consumer_regions > 1:
        notes.append(
            f"serves the cluster's Region only: the consumers of the other "
            f"{s.consumer_regions - 1} Region(s) ({s.gb_per_month * (1 - local_share):,.0f} GB a "
            "month) are not served and not counted"
        )
    if not s.msk_schemes:
        notes.append("not available: it serves IAM, TLS and SASL/SCRAM clients, not plaintext")
    return PatternCost(
        pattern="msk-multi-vpc",
        load_balancers=0,
        endpoints_per_account=0,
        served_accounts=accounts,
        lines=tuple(out.lines),
        notes=tuple(notes),
        available=bool(s.msk_schemes),
    )


def estimate(s: Scenario, prices: PriceTable) -> tuple[PatternCost, ...]:
    """The three ways to connect the consumers, side by side."""
    return (
        _privatelink(s, prices, "nlb-per-broker", s.brokers),
        _privatelink(s, prices, "shared-nlb", s.shards),
        _msk_multi_vpc(s, prices),
    )
