"""Function settings: validated once, with every problem named."""

from __future__ import annotations

import pytest

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.reconcile.settings import ReconcilerSettings, RouterSettings

BASE = {
    "CONFIG_PARAMETER_PREFIX": "/msk-privatelink/prod/clusters",
    "EVENT_BUS_NAME": "bus",
    "STATE_TABLE_NAME": "table",
}


def test_defaults_and_conversions() -> None:
    settings = ReconcilerSettings.from_env({**BASE, "LEASE_SECONDS": "120"})
    assert settings.retry_delay_seconds == 30
    assert settings.lease_seconds == 120
    assert hash(settings) == hash(ReconcilerSettings.from_env({**BASE, "LEASE_SECONDS": "120"}))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EVENT_BUS_NAME": "bus"}, "CONFIG_PARAMETER_PREFIX: missing"),
        ({**BASE, "CONFIG_PARAMETER_PREFIX": "no-slash"}, "parameter path"),
        ({**BASE, "EVENT_BUS_NAME": ""}, "EVENT_BUS_NAME: must not be empty"),
        ({**BASE, "LEASE_SECONDS": "5"}, "LEASE_SECONDS: must be a whole number from 30"),
        ({**BASE, "RETRY_DELAY_SECONDS": "-1"}, "RETRY_DELAY_SECONDS"),
    ],
)
def test_bad_environments_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ReconcilerSettings.from_env(env)


def test_router_needs_its_queue() -> None:
    with pytest.raises(ConfigError, match="QUEUE_URL: missing"):
        RouterSettings.from_env({"CONFIG_PARAMETER_PREFIX": "/p"})
