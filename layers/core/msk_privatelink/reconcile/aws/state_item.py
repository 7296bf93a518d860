"""The cluster's item in the state table: its key and the attribute the
change detector reads (the rest belongs to the publisher)."""

from __future__ import annotations

BROKERS_FINGERPRINT = "brokersFingerprint"
_PREFIX = "cluster#"


def state_item_key(cluster_arn: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"{_PREFIX}{cluster_arn}"}}


def cluster_of(key: str) -> str:
    """The cluster ARN of a ``pk`` value."""
    return key.removeprefix(_PREFIX)


# The scheduled sweep's tick counter (the router's item, not a cluster's).
SWEEP_TICK_KEY: dict[str, dict[str, str]] = {"pk": {"S": "sweep#tick"}}
