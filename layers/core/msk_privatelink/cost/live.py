"""A cost scenario from the cluster as it stands (pure: the caller reads
the configuration and the inventory).

The figures are the ones the reconciler itself would use: the schemes it
exposes (``resolve_schemes``), the subnets, one per AZ, its load balancers
sit in (``resolve_subnets``), the shards the brokers fall on
(``reconcile/shards.py``), and the consumers the configuration admits: one
account per distinct account in ``allowed_principals`` (tenants merged in
by the caller), one Region for the cluster's plus one per remote
``supported_regions`` entry.
"""

from __future__ import annotations

import math

from msk_privatelink.cost.model import Scenario
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.models import AuthScheme, ClusterInventory
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.desired_common import resolve_schemes, resolve_subnets
from msk_privatelink.reconcile.shards import shard_capacity, shard_of


def consumer_accounts_of(config: ClusterConfig) -> int:
    # arn:aws:iam::<account>:root|role/...|user/...: several principals of
    # one account share its endpoints.
    return len({principal.split(":")[4] for principal in config.allowed_principals})


def live_scenario(
    config: ClusterConfig,
    inventory: ClusterInventory,
    *,
    gb_per_month: float,
    consumer_accounts: int | None = None,
    consumer_regions: int | None = None,
) -> Scenario:
    """``consumer_accounts``/``consumer_regions``: given by the user, they
    replace what the configuration says (planning ahead of onboarding)."""
    broker_ids = [b.broker_id for b in inventory.brokers]
    if not broker_ids:
        raise ConfigError(
            f"cluster {inventory.cluster_arn} lists no brokers yet (state {inventory.state}); "
            "run again once it is ACTIVE, or give the figures with --brokers ... instead"
        )
    schemes = resolve_schemes(config, inventory)
    capacity = shard_capacity(config.shared_nlb, config.auth_schemes)
    accounts = consumer_accounts if consumer_accounts is not None else consumer_accounts_of(config)
    regions = consumer_regions if consumer_regions is not None else 1 + len(config.remote_regions)
    if accounts < 1:
        raise ConfigError(
            f"{config.cluster_arn} admits no consumer account (allowed_principals is empty"
            " and no --tenant-table named one): give --consumer-accounts N to price consumers"
        )
    # The configuration cannot say which principal sits in which Region, so
    # the cluster's own always counts (it is implied) even when every
    # account is remote; the model spreads accounts evenly over the Regions.
    if regions < 1:
        raise ConfigError(f"--consumer-regions must be a positive integer, got {regions}")
    if not math.isfinite(gb_per_month) or gb_per_month < 0:
        raise ConfigError(f"--gb-per-month must be a number of GB >= 0, got {gb_per_month!r}")
    return Scenario(
        brokers=len(broker_ids),
        azs=len(resolve_subnets(config, inventory)),
        schemes=len(schemes),
        consumer_accounts=accounts,
        consumer_regions=regions,
        gb_per_month=float(gb_per_month),
        shards=len({shard_of(b, capacity) for b in broker_ids}),
        # Multi-VPC private connectivity serves IAM, TLS and SASL/SCRAM only.
        msk_schemes=sum(1 for s in schemes if s is not AuthScheme.PLAINTEXT),
    )
