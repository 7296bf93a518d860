"""The cluster configuration as the reconciler must apply it: the operator's
document plus every admitted tenant (pure).

Admitted means PENDING or ACTIVE. A PENDING tenant is being onboarded: its
principal must be allowed before the consumer creates its endpoints. FAILED,
OFFBOARDING and OFFBOARDED tenants are not admitted, so any reconcile (the
workflow's own, an event-driven one or the schedule) revokes their
principal and drops a Region no admitted tenant needs any more. Revoking at
OFFBOARDING, before the consumer removes its endpoints, is deliberate:
existing connections are not cut by a revoke, and the account cannot create
new endpoints while the workflow rejects the ones left.
"""

from __future__ import annotations

from collections.abc import Iterable

from msk_privatelink.kernel.records import to_data
from msk_privatelink.onboarding.aws.tenants import ADMITTED_STATES, Tenant
from msk_privatelink.reconcile.config import ClusterConfig, parse_config


def admitted(tenants: Iterable[Tenant]) -> list[Tenant]:
    return [t for t in tenants if t.state in ADMITTED_STATES]


def with_tenants(config: ClusterConfig, tenants: Iterable[Tenant]) -> ClusterConfig:
    admitted_tenants = [t for t in admitted(tenants) if t.cluster_arn == config.cluster_arn]
    if not admitted_tenants:
        return config
    principals = set(config.allowed_principals) | {t.principal for t in admitted_tenants}
    regions = set(config.supported_regions) | {
        t.region for t in admitted_tenants if t.region != config.region
    }
    document = to_data(config)
    document["allowed_principals"] = sorted(principals)
    document["supported_regions"] = sorted(regions)
    return parse_config(document, f"configuration of {config.cluster_arn} with its tenants")
