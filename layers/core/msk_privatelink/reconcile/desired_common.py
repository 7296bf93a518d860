"""What both patterns' desired state starts from: the schemes and subnets to
expose, and tags in the form the resource records hold."""

from __future__ import annotations

from msk_privatelink.kernel.errors import ConfigError, UnsupportedClusterError
from msk_privatelink.kernel.models import AuthScheme, ClusterInventory
from msk_privatelink.reconcile.config import ClusterConfig


def resolve_schemes(config: ClusterConfig, inventory: ClusterInventory) -> tuple[AuthScheme, ...]:
    """The schemes to expose: configured ones, which the cluster must have enabled."""
    if config.auth_schemes is None:
        if not inventory.enabled_schemes:
            raise UnsupportedClusterError(
                f"cluster {inventory.cluster_arn} has no client authentication scheme enabled"
            )
        return tuple(sorted(inventory.enabled_schemes))
    missing = [s.value for s in config.auth_schemes if s not in inventory.enabled_schemes]
    if missing:
        enabled = ", ".join(sorted(s.value for s in inventory.enabled_schemes)) or "none"
        raise ConfigError(
            f"auth_schemes {missing} are not enabled on cluster {inventory.cluster_arn} "
            f"(enabled: {enabled})"
        )
    return config.auth_schemes


def tag_tuple(tags: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(tags.items()))


def resolve_subnets(config: ClusterConfig, inventory: ClusterInventory) -> frozenset[str]:
    subnets = frozenset(config.subnet_ids or inventory.client_subnet_ids)
    if not subnets:
        raise UnsupportedClusterError(f"cluster {inventory.cluster_arn} reports no client subnets")
    return subnets
