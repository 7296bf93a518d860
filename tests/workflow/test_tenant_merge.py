"""The reconciler applies the cluster configuration merged with its admitted
tenants: PENDING and ACTIVE tenants are allowed (on every endpoint service,
including ones a scale-out creates, before BrokerEndpointsChanged goes out);
FAILED, OFFBOARDING and OFFBOARDED tenants are revoked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.onboarding.aws.tenants import Tenant, TenantRegistry, create_tenant_table
from msk_privatelink.onboarding.tenancy import with_tenants
from msk_privatelink.reconcile.service import ReconcileService
from msk_privatelink.reconcile.settings import ReconcilerSettings
from msk_privatelink_dev.embedded import EmbeddedAws
from tests.factories import config as make_config
from tests.integration.harness import BUS, PREFIX, TABLE, World, create_world

pytestmark = pytest.mark.workflow

ACCOUNT = "111122223333"
OTHER = "444455556666"
TENANT_TABLE = "tenants"


def tenant(state: str, account: str = ACCOUNT, region: str = "us-east-1", **kw: Any) -> Tenant:
    fields: dict[str, Any] = {
        "cluster_arn": make_config().cluster_arn,
        "account_id": account,
        "region": region,
        "vpc_id": "vpc-0123456789abcdef0",
        "state": state,
        "request_digest": "d",
        "request": "{}",
        "consumer_bus_arn": f"arn:aws:events:{region}:{account}:event-bus/b",
    }
    fields.update(kw)
    return Tenant(**fields)


@pytest.mark.parametrize(
    ("state", "admitted"),
    [
        ("PENDING", True),
        ("ACTIVE", True),
        ("FAILED", False),
        ("OFFBOARDING", False),
        ("OFFBOARDED", False),
    ],
)
def test_only_pending_and_active_tenants_are_merged(state: str, admitted: bool) -> None:
    base = make_config(allowed_principals=("arn:aws:iam::999999999999:root",))
    merged = with_tenants(base, [tenant(state), tenant(state, OTHER, "eu-west-1")])

    principals = {f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{OTHER}:root"}
    assert "arn:aws:iam::999999999999:root" in merged.allowed_principals
    assert (principals <= set(merged.allowed_principals)) is admitted
    assert ("eu-west-1" in merged.supported_regions) is admitted
    # The cluster's own Region is implied, never listed.
    assert "us-east-1" not in merged.supported_regions


def test_tenants_of_other_clusters_are_ignored() -> None:
    base = make_config()
    stranger = tenant("ACTIVE", cluster_arn=base.cluster_arn.replace("demo", "other"))
    assert with_tenants(base, [stranger]) == base


@pytest.fixture
def world_with_tenants() -> Iterator[tuple[World, TenantRegistry, ReconcileService]]:
    with EmbeddedAws() as aws:
        w = create_world(aws)
        clients = AwsClients(aws.session(), region=aws.region)
        create_tenant_table(clients.dynamodb, TENANT_TABLE)
        registry = TenantRegistry(clients.dynamodb, TENANT_TABLE)
        settings = ReconcilerSettings(
            config_parameter_prefix=PREFIX, event_bus_name=BUS, state_table_name=TABLE
        )
        yield w, registry, ReconcileService(clients, settings, tenants=registry)


def register(registry: TenantRegistry, w: World, account: str, region: str, state: str) -> None:
    registry.register(
        cluster_arn=w.cluster_arn,
        account_id=account,
        region=region,
        vpc_id="vpc-0123456789abcdef0",
        consumer_bus_arn=f"arn:aws:events:{region}:{account}:event-bus/b",
        request_digest=f"digest-{account}",
        request="{}",
    )
    if state != "PENDING":
        registry.transition(w.cluster_arn, account, allowed_from=frozenset({"PENDING"}), to=state)  # type: ignore[arg-type]


def grants(w: World) -> dict[str, tuple[set[str], set[str]]]:
    """Per endpoint service: allowed principals and Supported Regions."""
    ec2 = w.aws.client("ec2")
    out = {}
    for s in ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]:
        perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=s["ServiceId"])
        out[s["ServiceId"]] = (
            {p["Principal"] for p in perms["AllowedPrincipals"]},
            {r["Region"] for r in s.get("SupportedRegions", []) if r["Region"] != w.aws.region},
        )
    return out


def test_scale_out_allows_active_tenants_on_new_services_before_announcing(
    world_with_tenants: tuple[World, TenantRegistry, ReconcileService],
) -> None:
    w, registry, service = world_with_tenants
    register(registry, w, ACCOUNT, w.aws.region, "ACTIVE")
    register(registry, w, OTHER, "eu-west-1", "ACTIVE")
    service.reconcile_cluster(w.cluster_arn)
    w.published()
    w.aws.msk.scale(w.cluster_arn, 6)

    # Given a hook that looks at every service when the event is put
    seen_at_publish: list[dict[str, tuple[set[str], set[str]]]] = []

    def snapshot(model: Any, **_: Any) -> None:
        if model.name == "PutEvents":
            seen_at_publish.append(grants(w))

    service.reconciler._publisher._events.meta.events.register(  # type: ignore[union-attr]
        "before-call.events.PutEvents", snapshot
    )
    # When the reconciler follows the scale-out
    outcome = service.reconcile_cluster(w.cluster_arn)

    # Then the event went out once, after every (new) service allowed both tenants
    assert outcome.generation is not None
    [at_publish] = seen_at_publish
    assert len(at_publish) == 6
    for principals, regions in at_publish.values():
        assert {f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{OTHER}:root"} <= principals
        assert regions == {"eu-west-1"}


@pytest.mark.parametrize("state", ["FAILED", "OFFBOARDED"])
def test_tenants_no_longer_admitted_are_revoked(
    world_with_tenants: tuple[World, TenantRegistry, ReconcileService], state: str
) -> None:
    w, registry, service = world_with_tenants
    register(registry, w, OTHER, "eu-west-1", "ACTIVE")
    register(registry, w, ACCOUNT, w.aws.region, "ACTIVE")
    service.reconcile_cluster(w.cluster_arn)
    assert all(f"arn:aws:iam::{OTHER}:root" in p for p, _ in grants(w).values())

    if state == "OFFBOARDED":
        registry.transition(
            w.cluster_arn, OTHER, allowed_from=frozenset({"ACTIVE"}), to="OFFBOARDING"
        )
        service.reconcile_cluster(w.cluster_arn)
        # Revoked already while OFFBOARDING (see onboarding/tenancy.py).
        assert not any(f"arn:aws:iam::{OTHER}:root" in p for p, _ in grants(w).values())
    registry.transition(
        w.cluster_arn, OTHER, allowed_from=frozenset({"ACTIVE", "OFFBOARDING"}), to=state
    )
    service.reconcile_cluster(w.cluster_arn)

    after = grants(w)
    assert len(after) == 3
    for principals, regions in after.values():
        assert f"arn:aws:iam::{OTHER}:root" not in principals
        assert f"arn:aws:iam::{ACCOUNT}:root" in principals
        assert regions == set()
