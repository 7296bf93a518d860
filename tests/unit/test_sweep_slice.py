"""The scheduled sweep's slices (pure)."""

from __future__ import annotations

from collections import Counter

from msk_privatelink.reconcile.triggers import sweep_slice

CLUSTERS = [f"arn:aws:kafka:us-east-1:123456789012:cluster/c{i:02d}/x" for i in range(50)]


def test_consecutive_ticks_cover_every_cluster_once_in_even_slices() -> None:
    seen: Counter[str] = Counter()
    sizes = []
    for tick in range(17, 22):  # any 5 consecutive ticks
        chosen = sweep_slice(CLUSTERS, tick, 12)
        sizes.append(len(chosen))
        seen.update(chosen)
    assert seen == Counter(CLUSTERS)
    assert sizes == [10, 10, 10, 10, 10]


def test_clusters_that_fit_are_all_swept_every_tick() -> None:
    assert sweep_slice(CLUSTERS[:12], 3, 12) == sorted(CLUSTERS[:12])
    assert sweep_slice(CLUSTERS, 3, 0) == sorted(CLUSTERS)
