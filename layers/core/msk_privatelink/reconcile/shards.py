"""shared-nlb shards: which load balancer carries which broker's listeners.

AWS caps listeners per Network Load Balancer at 50 and does not raise it
(Elastic Load Balancing, "Quotas for your Network Load Balancers"), so a
cluster whose brokers need more listeners than one load balancer holds is
spread over several, each with its own endpoint service. The assignment is a
pure function of the broker id and the shard capacity, and the capacity
depends on the configuration alone (never on today's broker count or on the
schemes the cluster happens to enable), so a scale-out only ever adds
brokers to the last shard or opens a new one: no existing broker moves.

Shard 0 also carries the bootstrap listeners (a target group serves one load
balancer only), so every shard keeps room for them and all shards hold the
same number of brokers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.models import AuthScheme
from msk_privatelink.kernel.naming import shared_shard_index

if TYPE_CHECKING:
    from msk_privatelink.reconcile.config import ClusterConfig, SharedNlbConfig
    from msk_privatelink.reconcile.resources import ActualState, DesiredState


def capacity_for(listener_quota: int, schemes: int) -> int:
    """Brokers per load balancer when each broker takes ``schemes`` listeners
    and the shard keeps room for the ``schemes`` bootstrap listeners."""
    return (listener_quota - schemes) // max(1, schemes)


def configured_scheme_count(auth_schemes: Iterable[AuthScheme] | None) -> int:
    """Schemes the capacity is sized for: the named ones, or every scheme MSK
    has when none is named (the cluster may enable another one later, and
    a capacity that shrank then would move brokers)."""
    return len(tuple(auth_schemes)) if auth_schemes is not None else len(AuthScheme)


def shard_capacity(shared: SharedNlbConfig, auth_schemes: Iterable[AuthScheme] | None) -> int:
    if shared.brokers_per_load_balancer is not None:
        return shared.brokers_per_load_balancer
    return capacity_for(shared.listener_quota, configured_scheme_count(auth_schemes))


def shard_of(broker_id: int, capacity: int) -> int:
    """Brokers 1..capacity on shard 0, the next ``capacity`` on shard 1, ..."""
    return (broker_id - 1) // capacity


def check_capacity(shared: SharedNlbConfig, auth_schemes: Iterable[AuthScheme] | None) -> None:
    """Raise ConfigError when a shard of this capacity would need more
    listeners than ``listener_quota``, or could hold no broker."""
    schemes = configured_scheme_count(auth_schemes)
    capacity = shard_capacity(shared, auth_schemes)
    needed = schemes * (capacity + 1)
    if capacity < 1:
        raise ConfigError(
            f"shared-nlb: listener_quota {shared.listener_quota} leaves no listener for a "
            f"broker beside the bootstrap listeners of {schemes} auth scheme(s) (auth_schemes "
            f"{'unset: sized for all ' + str(schemes) if auth_schemes is None else 'named'}); "
            "name fewer auth_schemes or raise listener_quota (at most 50)"
        )
    if needed > shared.listener_quota:
        raise ConfigError(
            f"a shared-nlb load balancer holding {capacity} broker(s) needs {needed} "
            f"listeners ({schemes} auth scheme(s) x ({capacity} brokers + 1 bootstrap)) but "
            f"shared_nlb.listener_quota is {shared.listener_quota}, and AWS does not raise "
            "'Listeners per Network Load Balancer' above 50: set "
            "shared_nlb.brokers_per_load_balancer to at most "
            f"{capacity_for(shared.listener_quota, schemes)}"
        )


def desired_placement(desired: DesiredState) -> dict[int, str]:
    return {
        spec.broker_id: spec.load_balancer
        for spec in desired.listeners.values()
        if spec.broker_id is not None
    }


def actual_placement(actual: ActualState) -> dict[int, str]:
    """Where each broker's listeners are now (by their target group's broker)."""
    placed: dict[int, str] = {}
    for listener in actual.listeners.values():
        tg = actual.target_groups.get(listener.target_group or "")
        if tg is not None and tg.broker_id is not None:
            placed.setdefault(tg.broker_id, listener.load_balancer)
    return placed


def keeping_capacity(placed: Mapping[int, int | None], limit: int) -> int | None:
    """The largest capacity up to ``limit`` that leaves every placed broker
    on the shard it is on (``placed``: shard per broker), or None."""
    if any(shard is None for shard in placed.values()):
        return None
    for capacity in range(limit, 0, -1):
        if all(shard_of(b, capacity) == shard for b, shard in placed.items()):
            return capacity
    return None


def refuse_moves(config: ClusterConfig, desired: DesiredState, actual: ActualState) -> None:
    """Raise ConfigError, before any write, when the plan would move an
    existing broker's listeners to another load balancer: its consumers would
    need a new endpoint first. This happens only when the capacity changed
    (``auth_schemes``, ``listener_quota`` or ``brokers_per_load_balancer``
    edited, or an upgrade from the single load balancer of earlier versions)."""
    placed = actual_placement(actual)
    moved = {
        broker_id: (placed[broker_id], lb)
        for broker_id, lb in sorted(desired_placement(desired).items())
        if broker_id in placed and placed[broker_id] != lb
    }
    if not moved:
        return
    shared = config.shared_nlb
    shards = {b: shared_shard_index(config.cluster_arn, lb) for b, lb in placed.items()}
    detail = ", ".join(f"broker {b} {src} -> {dst}" for b, (src, dst) in moved.items())
    limit = capacity_for(shared.listener_quota, configured_scheme_count(config.auth_schemes))
    keep = keeping_capacity(shards, limit)
    exposed = sorted({tg.scheme.value for tg in desired.target_groups.values()})
    keep_exposed = keeping_capacity(shards, capacity_for(shared.listener_quota, len(exposed)))
    if keep is not None:
        fix = f"set shared_nlb.brokers_per_load_balancer: {keep} to keep them where they are"
    elif keep_exposed is not None:
        # Typically an upgrade from the single load balancer with auth_schemes
        # unset: capacity is sized for every scheme MSK has until they are named.
        fix = (
            f"name the schemes you expose (auth_schemes: [{', '.join(exposed)}]) and set "
            f"shared_nlb.brokers_per_load_balancer: {keep_exposed} to keep them where they are"
        )
    else:
        fix = (
            "no shard capacity keeps every broker where it is (were listeners moved by "
            "hand?); put them back, or remove the cluster's resources with destroy first"
        )
    capacity = shard_capacity(shared, config.auth_schemes)
    raise ConfigError(
        f"{config.cluster_arn}: shared-nlb shard capacity {capacity} "
        f"would move {len(moved)} broker(s) to another load balancer ({detail}); "
        f"{fix}; nothing was changed"
    )
