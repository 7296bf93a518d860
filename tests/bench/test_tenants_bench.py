"""`make bench`'s tenant rows as a regression guard: nothing on the provider
bus grows with tenants, the delivery function makes one PutEvents call per
ten tenants, and the reconciler's own work for a scale-out does not grow
with them (small counts here; the bench runs 10, 100 and 1,000)."""

from __future__ import annotations

import math

import pytest

from bench import tenants

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rows() -> list[tenants.TenantRow]:
    # Two tenants through the workflow, then twelve more registered directly.
    return tenants.measure([2, 14], lambda _: None, workflow_tenants=2)


def test_the_provider_bus_does_not_grow_with_tenants(rows: list[tenants.TenantRow]) -> None:
    small, large = rows
    assert small.provider_rules == large.provider_rules
    assert small.policy_chars_organization == large.policy_chars_organization
    # Without an organization: one statement (about 237 characters) per account.
    growth = large.policy_chars_per_account - small.policy_chars_per_account
    assert growth == 237 * (large.tenants - small.tenants)
    assert small.statement_chars == large.statement_chars == 237


def test_delivery_is_one_put_events_per_ten_tenants(rows: list[tenants.TenantRow]) -> None:
    for row in rows:
        assert row.delivery_calls["PutEvents"] == math.ceil(row.tenants / 10)
        assert row.delivery_calls["Query"] == 1


def test_the_reconcilers_tenant_work_for_a_scale_out_does_not_grow(
    rows: list[tenants.TenantRow],
) -> None:
    small, large = rows
    assert small.brokers == large.brokers == (3, 6)
    assert small.reconcile_tenant_calls == large.reconcile_tenant_calls
    assert small.reconcile_calls["PutEvents"] == large.reconcile_calls["PutEvents"] == 1
    # Each onboarding went through the workflow and was counted.
    assert small.onboardings == 2
    assert small.per_onboarding > 0


def test_the_report_states_the_quota_and_the_way_out(rows: list[tenants.TenantRow]) -> None:
    text = "\n".join(tenants.render(rows))
    assert "ConsumerOrganizationId" in text
    assert "10,240" in text
    assert "about 43 accounts" in text
