"""The canary function's environment, validated once at cold start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from msk_privatelink.canary.plan import PREFIX_RE
from msk_privatelink.canary.probers import DEFAULT_TIMEOUT, ProberSettings
from msk_privatelink.connectivity.probe import ProbeSettings
from msk_privatelink.connectivity.prober import RESERVE_SECONDS
from msk_privatelink.kernel.consumer_events import CONSUMER_BUS_NAME
from msk_privatelink.kernel.errors import ConfigError

_CHECKS: dict[str, re.Pattern[str]] = {
    "APPLIED_VIEWS_TABLE": re.compile(r"[A-Za-z0-9_.-]{3,255}", re.ASCII),
    "CONSUMER_EVENT_BUS_NAME": re.compile(r"[A-Za-z0-9._\-/]{1,256}", re.ASCII),
    "CONSUMER_ACCOUNT_ID": re.compile(r"[0-9]{12}", re.ASCII),
    "AWS_REGION": re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}", re.ASCII),
    "PROBER_ROLE_ARN": re.compile(
        r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}", re.ASCII
    ),
    "PROBER_LAYER_ARN": re.compile(
        r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]{1,140}:[0-9]+", re.ASCII
    ),
    "PROBER_NAME_PREFIX": PREFIX_RE,
    "PROBE_TIMEOUT_SECONDS": re.compile(r"[0-9]{1,2}(\.[0-9]+)?", re.ASCII),
    "PROBE_DEADLINE_SECONDS": re.compile(r"[0-9]{1,3}", re.ASCII),
    "METADATA_IAM_AUTH": re.compile(r"enabled|disabled", re.ASCII),
}
_DEFAULTS = {
    "CONSUMER_EVENT_BUS_NAME": CONSUMER_BUS_NAME,
    "PROBE_TIMEOUT_SECONDS": "3",
    "PROBE_DEADLINE_SECONDS": "60",
    "METADATA_IAM_AUTH": "disabled",
}


@dataclass(frozen=True)
class CanaryEnvironment:
    views_table: str
    event_bus_name: str
    account_id: str
    region: str
    prober: ProberSettings
    probe: ProbeSettings
    # The metadata check signs MSK IAM tokens (canary/iam_token.py).
    metadata_iam: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CanaryEnvironment:
        source = os.environ if env is None else env
        values: dict[str, str] = {}
        problems: list[str] = []
        for name, pattern in _CHECKS.items():
            raw = source.get(name, _DEFAULTS.get(name))
            if raw is None:
                problems.append(f"{name}: missing")
            elif not pattern.fullmatch(raw):
                problems.append(f"{name}: {raw[:60]!r} is not valid")
            else:
                values[name] = raw
        if problems:
            raise ConfigError(f"invalid function environment: {'; '.join(problems)}")
        deadline = float(values["PROBE_DEADLINE_SECONDS"])
        limit = DEFAULT_TIMEOUT - RESERVE_SECONDS
        if deadline > limit:
            raise ConfigError(
                f"invalid function environment: PROBE_DEADLINE_SECONDS {deadline:g} exceeds "
                f"{limit:g} (the prober function's {DEFAULT_TIMEOUT} s timeout, less what its "
                "answer needs)"
            )
        return cls(
            views_table=values["APPLIED_VIEWS_TABLE"],
            event_bus_name=values["CONSUMER_EVENT_BUS_NAME"],
            account_id=values["CONSUMER_ACCOUNT_ID"],
            region=values["AWS_REGION"],
            prober=ProberSettings(
                role_arn=values["PROBER_ROLE_ARN"],
                layer_arn=values["PROBER_LAYER_ARN"],
                name_prefix=values["PROBER_NAME_PREFIX"],
            ),
            # ProbeSettings checks the bounds (timeout <= 30 s, deadline <= 600 s).
            probe=ProbeSettings(
                timeout=float(values["PROBE_TIMEOUT_SECONDS"]),
                deadline=deadline,
            ),
            metadata_iam=values["METADATA_IAM_AUTH"] == "enabled",
        )
