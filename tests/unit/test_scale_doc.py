"""docs/scale.md shows the quota table of kernel/quotas.py, and its walls are
the ones the code enforces."""

from __future__ import annotations

from pathlib import Path

from msk_privatelink.consumer.sync import MAX_BOOTSTRAP_ALIASES
from msk_privatelink.kernel.quotas import BY_KEY, markdown_table
from msk_privatelink.reconcile.config import SharedNlbConfig
from msk_privatelink.reconcile.shards import capacity_for

DOC = (Path(__file__).resolve().parents[2] / "docs" / "scale.md").read_text(encoding="utf-8")


def test_the_doc_shows_the_quota_table() -> None:
    assert markdown_table() in DOC, "docs/scale.md: paste kernel.quotas.markdown_table()"


def test_shared_nlb_shards_follow_the_listener_limit() -> None:
    limit = BY_KEY["listeners_per_nlb"].default
    assert SharedNlbConfig().listener_quota == limit
    walls = {schemes: capacity_for(limit, schemes) for schemes in (1, 2, 3, 4)}
    assert walls == {1: 49, 2: 24, 3: 15, 4: 11}
    assert "per shard 1 scheme: 49 brokers; 2: 24; 3: 15; 4: 11" in DOC
    shards = {schemes: -(-180 // walls[schemes]) for schemes in (1, 4)}
    assert "(180 brokers: 4 NLBs with one scheme, 17 with four)" in DOC
    assert shards == {1: 4, 4: 17}


def test_the_bootstrap_cap_is_routes_53s_weighted_record_limit() -> None:
    assert BY_KEY["weighted_records_per_name"].default == MAX_BOOTSTRAP_ALIASES
    assert "the 100 lowest broker ids" in DOC
