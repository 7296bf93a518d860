"""``--prices FILE``: the user's own prices, per Region, over the built-in table.

The file is YAML or JSON, read the way cluster configurations are
(``reconcile/documents.py``: JSON first, PyYAML imported only for YAML)::

    us-east-1:
      msk_scheme_hour: 0.0225
      msk_gb: 0.006
    eu-west-1:            # a Region the built-in table lacks: every meter
      nlb_hour: 0.0252    # not given stays unpriced
      ...

A price given here replaces the built-in one whatever its status.
"""

from __future__ import annotations

from pathlib import Path

from msk_privatelink.cost.prices import BUILTIN, METERS, Price, PriceTable
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.patterns import REGION_RE
from msk_privatelink.reconcile.documents import load_mapping

Overrides = dict[str, dict[str, float]]


def load_overrides(path: Path) -> Overrides:
    """Region -> meter -> USD per unit, validated; errors name the file and the fix."""
    source = f"price file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}") from exc
    return parse_overrides(load_mapping(text, source), source)


def parse_overrides(document: dict[str, object], source: str) -> Overrides:
    valid = ", ".join(METERS)
    out: Overrides = {}
    for region, prices in document.items():
        if not isinstance(region, str) or not REGION_RE.fullmatch(region):
            raise ConfigError(
                f"{source}: {region!r} is not an AWS Region name; the file maps Regions "
                "(us-east-1, ...) to meter prices"
            )
        if not isinstance(prices, dict):
            raise ConfigError(f"{source}: {region} must map meter names to USD prices")
        out[region] = {}
        for meter, usd in prices.items():
            if meter not in METERS:
                raise ConfigError(f"{source}: {region}: unknown meter {meter!r}; valid: {valid}")
            # bool is an int: "nlb_hour: yes" must not price at $1.
            if isinstance(usd, bool) or not isinstance(usd, int | float) or usd < 0:
                raise ConfigError(
                    f"{source}: {region}.{meter} must be a non-negative number of USD per "
                    f"{METERS[meter].unit}, got {usd!r}"
                )
            out[region][meter] = float(usd)
    return out


def price_table(region: str, overrides: Overrides | None = None, source: str = "") -> PriceTable:
    """The built-in table of ``region`` with ``overrides`` applied; a Region
    neither has is refused, naming the Regions there are prices for."""
    given = (overrides or {}).get(region)
    builtin = BUILTIN.get(region)
    if builtin is None and given is None:
        known = sorted({*BUILTIN, *(overrides or {})})
        raise ConfigError(
            f"no prices for Region {region}: the price table has {', '.join(known)}; "
            f"pick one with --region, or give {region}'s prices in a --prices file"
        )
    prices = dict(builtin.prices) if builtin else {}
    for meter, usd in (given or {}).items():
        prices[meter] = Price(usd, "override", source or "--prices")
    return PriceTable(region, builtin.read_on if builtin else None, prices)
