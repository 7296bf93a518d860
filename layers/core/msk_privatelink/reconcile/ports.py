"""shared-nlb port check, before any plan: every listener port of the shared
load balancers must be in range and used once.

Pure: the same answer for the same configuration and broker ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.models import AuthScheme

if TYPE_CHECKING:
    from msk_privatelink.reconcile.config import SharedNlbConfig

MAX_PORT = 65535


def check_ports(
    shared: SharedNlbConfig,
    schemes: Iterable[AuthScheme],
    broker_ids: Iterable[int],
) -> None:
    """Raise ConfigError naming the numbers and what to change, or return.
    Ports are unique across shards too: a consumer's endpoints share the
    broker names' zone, and a broker keeps its port whichever shard holds it."""
    schemes = tuple(sorted(set(schemes)))
    ids = tuple(sorted(set(broker_ids)))
    users: dict[int, list[str]] = {}
    out_of_range: list[str] = []
    for scheme in schemes:
        port = shared.bootstrap_port(scheme)
        users.setdefault(port, []).append(f"bootstrap_ports.{scheme.value}")
        for broker_id in ids:
            port = shared.broker_port(scheme, broker_id)
            if not 1 <= port <= MAX_PORT:
                out_of_range.append(f"broker {broker_id} {scheme.value} -> {port}")
                continue
            users.setdefault(port, []).append(f"broker {broker_id} {scheme.value}")
    if out_of_range:
        raise ConfigError(
            f"shared-nlb listener ports out of range 1..{MAX_PORT}: "
            f"{', '.join(out_of_range)}; lower shared_nlb.port_bases"
        )
    clashes = {port: who for port, who in sorted(users.items()) if len(who) > 1}
    if clashes:
        detail = "; ".join(f"port {port}: {' and '.join(who)}" for port, who in clashes.items())
        raise ConfigError(
            f"shared-nlb listener ports collide ({detail}); move shared_nlb.port_bases "
            "or shared_nlb.bootstrap_ports so that base + broker id never meets "
            "another scheme's range or a bootstrap port"
        )
