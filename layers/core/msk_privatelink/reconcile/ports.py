"""shared-nlb port check, before any plan: every listener port of the shared
load balancer must be in range, used once, and fit the listener quota.

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


def listener_count(schemes: int, brokers: int) -> int:
    """Listeners shared-nlb needs: per scheme one per broker plus the bootstrap one."""
    return schemes * (brokers + 1)


def reachable_broker_ids(listener_quota: int, schemes: int) -> range:
    """Every broker id a shared-nlb cluster with ``schemes`` schemes can have
    listeners for: beyond it the listener limit refuses the cluster anyway."""
    return range(1, max(1, listener_quota // max(1, schemes) - 1) + 1)


def check_ports(
    shared: SharedNlbConfig,
    schemes: Iterable[AuthScheme],
    broker_ids: Iterable[int],
    *,
    count_listeners: bool = True,
) -> None:
    """Raise ConfigError naming the numbers and what to change, or return.
    ``count_listeners``: also hold these brokers to the listener limit (a
    plan does; a document checked for every reachable id only wants clashes)."""
    schemes = tuple(sorted(set(schemes)))
    ids = tuple(sorted(set(broker_ids)))
    needed = listener_count(len(schemes), len(ids))
    if count_listeners and needed > shared.listener_quota:
        raise ConfigError(
            f"shared-nlb needs {needed} listeners ({len(schemes)} auth scheme(s) x "
            f"({len(ids)} brokers + 1 bootstrap)) but shared_nlb.listener_quota is "
            f"{shared.listener_quota}, and AWS does not raise 'Listeners per Network Load "
            "Balancer' above 50: expose fewer auth_schemes, or use the nlb-per-broker "
            "pattern"
        )
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
