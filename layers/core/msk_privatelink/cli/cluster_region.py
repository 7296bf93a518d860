"""The Region a command works in: the cluster ARN's own (every command that
takes a cluster shares this check, without importing cli/main.py)."""

from __future__ import annotations

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.patterns import CLUSTER_ARN_RE


def cluster_region(arn: str, region: str | None) -> str:
    """The cluster's Region, from its ARN; ``--region`` may only repeat it
    (any other Region answers every call with "not found")."""
    if not CLUSTER_ARN_RE.fullmatch(arn):
        raise ConfigError(
            f"{arn!r} is not an MSK cluster ARN "
            "(arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)"
        )
    home = arn.split(":")[3]
    if region and region != home:
        raise ConfigError(
            f"the cluster {arn} is in {home}, not in --region {region}: "
            f"drop --region or use --region {home}"
        )
    return home
