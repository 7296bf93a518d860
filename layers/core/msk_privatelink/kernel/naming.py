"""Deterministic resource names and the ownership tags.

Names are derived from the cluster ARN so that a run after a crash finds what
an earlier run created (ELBv2 names are unique per account and Region).
Ownership is decided by tags only: a resource with one of our names but
without our tags is someone else's and is never modified.
"""

from __future__ import annotations

import hashlib
import re

from msk_privatelink import PROJECT
from msk_privatelink.kernel.models import AuthScheme

TAG_MANAGED_BY = "msk-privatelink:managed-by"
TAG_CLUSTER_ARN = "msk-privatelink:cluster-arn"
TAG_BROKER_ID = "msk-privatelink:broker-id"
TAG_AUTH_SCHEME = "msk-privatelink:auth-scheme"
# Set on a load balancer only after its attributes were applied, so a crash
# between CreateLoadBalancer and ModifyLoadBalancerAttributes is repaired.
TAG_LB_ATTRIBUTES = "msk-privatelink:attributes"

# Digest of the principals last granted on an endpoint service: lets a run
# skip one permissions read per service while nothing changed (the scheduled
# sweep reads them anyway, so a change made by hand is still repaired).
TAG_PRINCIPALS_DIGEST = "msk-privatelink:principals-digest"

# shared-nlb: which part of the shared load balancer a target group serves
# ("broker" or "bootstrap"), and the VPC a provider hosted zone was made for.
TAG_ROLE = "msk-privatelink:role"
TAG_PROVIDER_VPC = "msk-privatelink:provider-vpc"
# On the shared load balancer: the id of its provider hosted zone, written
# after the zone is tagged. A no-op run trusts it instead of reading zone tags
# (Route 53 refuses a second private zone of the same name in one VPC).
TAG_PROVIDER_ZONE = "msk-privatelink:provider-zone"

MAX_ELB_NAME = 32


def cluster_token(cluster_arn: str) -> str:
    """A short, stable, name-safe token for a cluster: readable part + hash."""
    name = cluster_arn.split("/")[1].lower()
    readable = re.sub(r"[^a-z0-9]", "", name)[:8] or "cluster"
    digest = hashlib.sha256(cluster_arn.encode()).hexdigest()[:6]
    return f"{readable}-{digest}"


def name_prefix(cluster_arn: str) -> str:
    return f"mpl-{cluster_token(cluster_arn)}-"


def load_balancer_name(cluster_arn: str, broker_id: int) -> str:
    return _checked(f"{name_prefix(cluster_arn)}b{broker_id}")


def target_group_name(cluster_arn: str, broker_id: int, port: int) -> str:
    return _checked(f"{name_prefix(cluster_arn)}b{broker_id}-{port}")


def shared_load_balancer_name(cluster_arn: str, shard: int = 0) -> str:
    """shared-nlb: the load balancer of shard ``shard`` (0 carries the bootstrap
    listeners and keeps the name of the single load balancer earlier versions
    made, so an upgrade adopts it)."""
    suffix = "" if shard == 0 else str(shard + 1)
    return _checked(f"{name_prefix(cluster_arn)}shared{suffix}")


def shared_shard_index(cluster_arn: str, name: str) -> int | None:
    """The shard whose load balancer is called ``name`` (None: not a shared one)."""
    stem = f"{name_prefix(cluster_arn)}shared"
    if not name.startswith(stem):
        return None
    suffix = name[len(stem) :]
    if suffix == "":
        return 0
    # Shard k > 0 is "shared<k+1>", written without leading zeros.
    if suffix.isascii() and suffix.isdigit() and str(int(suffix)) == suffix and int(suffix) >= 2:
        return int(suffix) - 1
    return None


def is_shared_load_balancer_name(cluster_arn: str, name: str) -> bool:
    return shared_shard_index(cluster_arn, name) is not None


def shared_target_group_name(cluster_arn: str, broker_id: int, listener_port: int) -> str:
    """shared-nlb: one broker's target group behind listener ``listener_port``.

    ``s`` rather than nlb-per-broker's ``b``: switching patterns never adopts
    the other pattern's target groups.
    """
    return _checked(f"{name_prefix(cluster_arn)}s{broker_id}-{listener_port}")


def bootstrap_target_group_name(cluster_arn: str, listener_port: int) -> str:
    """shared-nlb: the target group holding every broker behind a bootstrap port."""
    return _checked(f"{name_prefix(cluster_arn)}boot-{listener_port}")


def provider_zone_caller_reference_prefix(cluster_arn: str, vpc_id: str, zone_name: str) -> str:
    """CallerReference prefix of the provider hosted zone: an untagged zone
    carrying it was created by a run that crashed before tagging it."""
    digest = hashlib.sha256(f"provider|{cluster_arn}|{vpc_id}|{zone_name}".encode()).hexdigest()
    return f"mpl-p{digest[:24]}-"


def _checked(name: str) -> str:
    if len(name) > MAX_ELB_NAME:
        raise ValueError(f"generated ELB name {name!r} exceeds {MAX_ELB_NAME} characters")
    return name


def ownership_tags(cluster_arn: str) -> dict[str, str]:
    return {TAG_MANAGED_BY: PROJECT, TAG_CLUSTER_ARN: cluster_arn}


def broker_tags(cluster_arn: str, broker_id: int) -> dict[str, str]:
    return {**ownership_tags(cluster_arn), TAG_BROKER_ID: str(broker_id)}


def target_group_tags(cluster_arn: str, broker_id: int, scheme: AuthScheme) -> dict[str, str]:
    return {**broker_tags(cluster_arn, broker_id), TAG_AUTH_SCHEME: scheme.value}


def bootstrap_target_group_tags(cluster_arn: str, scheme: AuthScheme) -> dict[str, str]:
    return {**ownership_tags(cluster_arn), TAG_AUTH_SCHEME: scheme.value, TAG_ROLE: "bootstrap"}


def provider_zone_tags(cluster_arn: str, vpc_id: str) -> dict[str, str]:
    return {**ownership_tags(cluster_arn), TAG_PROVIDER_VPC: vpc_id}


def is_owned(tags: dict[str, str], cluster_arn: str) -> bool:
    return tags.get(TAG_MANAGED_BY) == PROJECT and tags.get(TAG_CLUSTER_ARN) == cluster_arn


def principals_digest(principals: frozenset[str]) -> str:
    return hashlib.sha256("\n".join(sorted(principals)).encode()).hexdigest()[:32]


def client_token(*parts: str) -> str:
    """An idempotency token (<= 64 chars) for create calls that accept one."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:64]
