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

ROLE_ARN_PREFIX = "arn:aws"
SQS_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:sqs:[a-z]{2}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:[A-Za-z0-9_-]{1,80}"
)


@dataclass(frozen=True)
class OnboardingSettings:
    config_parameter_prefix: str
    event_bus_name: str
    state_table_name: str
    tenant_table_name: str
    # The provider-side role EventBridge uses to put events on consumer buses.
    consumer_events_role_arn: str
    # Where EventBridge puts the events it could not deliver to a consumer bus.
    consumer_delivery_dead_letter_arn: str
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
        role = required("CONSUMER_EVENTS_ROLE_ARN")
        if role and not role.startswith(ROLE_ARN_PREFIX):
            problems.append("CONSUMER_EVENTS_ROLE_ARN: must be an IAM role ARN")
        dead_letters = required("CONSUMER_DELIVERY_DEAD_LETTER_ARN")
        if dead_letters and not SQS_ARN_RE.fullmatch(dead_letters):
            problems.append("CONSUMER_DELIVERY_DEAD_LETTER_ARN: must be an SQS queue ARN")
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
            consumer_events_role_arn=role,
            consumer_delivery_dead_letter_arn=dead_letters,
            allowed_consumer_regions=regions,
            lease_seconds=int(lease),
            kafka_admin_function_name=source.get("KAFKA_ADMIN_FUNCTION_NAME") or None,
            **values,
        )


def tenant_table_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The reconciler's tenant table (TENANT_TABLE_NAME), if the stack has one."""
    source = os.environ if env is None else env
    value = source.get("TENANT_TABLE_NAME")
    if value is not None and not value:
        raise ConfigError("invalid function environment: TENANT_TABLE_NAME: must not be empty")
    return value
