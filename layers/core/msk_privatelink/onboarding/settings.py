"""Environment of the onboarding task function and of the tenant merge,
validated once at cold start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.patterns import REGION_RE
from msk_privatelink.reconcile.settings import PREFIX_RE

# AWS Organizations ids (Organizations API Reference, "Organization": Id pattern).
ORGANIZATION_ID_RE = re.compile(r"o-[a-z0-9]{10,32}")
QUEUE_URL_RE = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]+)?/[0-9]{12}/[A-Za-z0-9_-]{1,80}")


@dataclass(frozen=True)
class OnboardingSettings:
    config_parameter_prefix: str
    event_bus_name: str
    state_table_name: str
    tenant_table_name: str
    # When set, the provider bus admits the answers of this organization's
    # accounts in one statement instead of one statement per account.
    consumer_organization_id: str | None = None
    # Regions (besides the cluster's own) consumers may connect from; the
    # endpoint services offer a Region only while a tenant needs it.
    allowed_consumer_regions: frozenset[str] = frozenset()
    lease_seconds: int = 300
    # The stack's Kafka admin function (broker-override clusters), if any.
    kafka_admin_function_name: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OnboardingSettings:
        source = os.environ if env is None else env
        problems: list[str] = []

        def required(name: str) -> str:
            value = source.get(name, "")
            if not value:
                problems.append(f"{name}: missing")
            return value

        prefix = required("CONFIG_PARAMETER_PREFIX")
        if prefix and not PREFIX_RE.fullmatch(prefix):
            problems.append("CONFIG_PARAMETER_PREFIX: must be a parameter path")
        organization = source.get("CONSUMER_ORGANIZATION_ID") or None
        if organization and not ORGANIZATION_ID_RE.fullmatch(organization):
            problems.append("CONSUMER_ORGANIZATION_ID: must be an organization id (o-...)")
        regions = frozenset(
            r.strip() for r in source.get("ALLOWED_CONSUMER_REGIONS", "").split(",") if r.strip()
        )
        bad = sorted(r for r in regions if not REGION_RE.fullmatch(r))
        if bad:
            problems.append(f"ALLOWED_CONSUMER_REGIONS: not Region names: {bad}")
        lease = source.get("LEASE_SECONDS", "300")
        if not lease.isdigit() or not 30 <= int(lease) <= 3600:
            problems.append("LEASE_SECONDS: must be a whole number from 30 to 3600")
        values = {
            "event_bus_name": required("EVENT_BUS_NAME"),
            "state_table_name": required("STATE_TABLE_NAME"),
            "tenant_table_name": required("TENANT_TABLE_NAME"),
        }
        if problems:
            raise ConfigError(f"invalid function environment: {'; '.join(problems)}")
        return cls(
            config_parameter_prefix=prefix,
            consumer_organization_id=organization,
            allowed_consumer_regions=regions,
            lease_seconds=int(lease),
            kafka_admin_function_name=source.get("KAFKA_ADMIN_FUNCTION_NAME") or None,
            **values,
        )


@dataclass(frozen=True)
class DeliverySettings:
    """ConsumerDeliveryFunction's environment."""

    tenant_table_name: str
    queue_url: str
    dead_letter_queue_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeliverySettings:
        source = os.environ if env is None else env
        problems: list[str] = []
        values: dict[str, str] = {}
        for name, key in (
            ("TENANT_TABLE_NAME", "tenant_table_name"),
            ("DELIVERY_QUEUE_URL", "queue_url"),
            ("DELIVERY_DEAD_LETTER_QUEUE_URL", "dead_letter_queue_url"),
        ):
            value = source.get(name, "")
            if not value:
                problems.append(f"{name}: missing")
            elif name.endswith("_URL") and not QUEUE_URL_RE.fullmatch(value):
                problems.append(f"{name}: must be an SQS queue URL")
            values[key] = value
        if problems:
            raise ConfigError(f"invalid function environment: {'; '.join(problems)}")
        return cls(**values)


def tenant_table_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The reconciler's tenant table (TENANT_TABLE_NAME), if the stack has one."""
    source = os.environ if env is None else env
    value = source.get("TENANT_TABLE_NAME")
    if value is not None and not value:
        raise ConfigError("invalid function environment: TENANT_TABLE_NAME: must not be empty")
    return value
