"""DNS names shared by the provider and the consumer side: how names compare,
and which zone may hold a cluster's broker names."""

from __future__ import annotations

import re
from collections.abc import Iterable

from msk_privatelink.kernel.errors import InvalidEventError

# Zones that would hold other clusters' names too: refused as a cluster's zone.
_SHARED_MSK_ZONE_RE = re.compile(
    r"(?:(?:c\d+\.)?kafka(?:-serverless)?\.)?(?:[a-z0-9-]+\.)?amazonaws\.com(?:\.cn)?"
)


def normalize_dns(name: str) -> str:
    """Route 53 and ELB return names with a trailing dot and any case."""
    return name.strip().rstrip(".").lower()


def cluster_zone_name(host_names: Iterable[str]) -> str:
    """The narrowest zone holding every host name: their common parent domain
    (``b-1.<cluster>.<id>.c2.kafka.<region>.amazonaws.com`` ->
    ``<cluster>.<id>.c2.kafka.<region>.amazonaws.com``). Brokers of one
    cluster share it; anything broader would shadow other names in the VPC."""
    parents = sorted({normalize_dns(h).split(".", 1)[-1] for h in host_names})
    if not parents:
        raise InvalidEventError("no broker host names: the cluster's domain is unknown")
    if len(parents) > 1:
        raise InvalidEventError(
            f"broker host names do not share one cluster domain ({', '.join(parents)}); "
            "a zone holding them all would shadow other names, refusing"
        )
    zone = parents[0]
    if zone.count(".") < 1 or _SHARED_MSK_ZONE_RE.fullmatch(zone):
        raise InvalidEventError(
            f"{zone!r} is shared by other clusters' names; a private zone for it would "
            "shadow them, refusing"
        )
    return zone
