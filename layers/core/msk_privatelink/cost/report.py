"""The cost estimate as one document: what ``msk-privatelink cost --output
json`` prints (every field in docs/cost.md) and what its table is drawn
from, so both always say the same."""

from __future__ import annotations

from typing import Any

from msk_privatelink.cost.model import PatternCost, Scenario
from msk_privatelink.cost.prices import HOURS_PER_MONTH, METERS, PriceTable


def _usd(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def cost_document(
    s: Scenario,
    prices: PriceTable,
    patterns: tuple[PatternCost, ...],
    *,
    cluster_arn: str | None = None,
    configured_pattern: str | None = None,
) -> dict[str, Any]:
    return {
        "region": prices.region,
        "prices_read_on": prices.read_on,
        "hours_per_month": HOURS_PER_MONTH,
        "cluster_arn": cluster_arn,
        "configured_pattern": configured_pattern,
        "scenario": {
            "brokers": s.brokers,
            "azs": s.azs,
            "schemes": s.schemes,
            "consumer_accounts": s.consumer_accounts,
            "consumer_regions": s.consumer_regions,
            "gb_per_month": s.gb_per_month,
            "shared_nlb_load_balancers": s.shards,
            "msk_schemes": s.msk_schemes,
        },
        "patterns": [
            {
                "pattern": p.pattern,
                "available": p.available,
                "load_balancers": p.load_balancers,
                "endpoints_per_account": p.endpoints_per_account,
                "served_accounts": round(p.served_accounts, 4),
                "provider_usd": _usd(p.provider_usd),
                "consumers_usd": _usd(p.consumers_usd),
                "per_consumer_account_usd": _usd(p.per_consumer_account_usd),
                "total_usd": _usd(p.total_usd),
                "complete": not p.unpriced,
                "unpriced": list(p.unpriced),
                "notes": list(p.notes),
                "meters": [
                    {
                        "meter": line.meter,
                        "payer": line.payer,
                        "quantity": round(line.quantity, 4),
                        "unit": line.unit,
                        "unit_usd": line.unit_usd,
                        "usd": _usd(line.usd),
                        "price_status": line.price_status,
                        "source": line.source,
                    }
                    for line in p.lines
                ],
            }
            for p in patterns
        ],
        "prices": {
            meter: {
                "usd": price.usd,
                "unit": METERS[meter].unit,
                "status": price.status,
                "source": price.source,
                "note": price.note,
            }
            for meter in METERS
            for price in (prices.price(meter),)
        },
    }
