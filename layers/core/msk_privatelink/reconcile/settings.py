"""Lambda settings: one frozen dataclass per function, validated once at cold start.

Plain dataclasses: environment variables are flat strings, and the router
(which reads nothing else) keeps its cold start close to boto3's own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar

from msk_privatelink.kernel.errors import ConfigError

S = TypeVar("S", bound="_EnvSettings")
PREFIX_RE = re.compile(r"/[A-Za-z0-9_./-]+", re.ASCII)
# Integer settings and their allowed range.
RANGES: dict[str, tuple[int, int]] = {
    "retry_delay_seconds": (0, 900),
    "lease_seconds": (30, 3600),
    "sweep_clusters_per_tick": (0, 1000),
    "elb_describe_calls_per_minute": (0, 2400),
    "ec2_describe_calls_per_minute": (0, 6000),
}


@dataclass(frozen=True)
class _EnvSettings:
    @classmethod
    def from_env(cls: type[S], env: Mapping[str, str] | None = None) -> S:
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in fields(cls):
            name = f.name.upper()
            if name not in source:
                if f.default is MISSING:
                    problems.append(f"{name}: missing")
                continue
            raw = source[name]
            if f.name in RANGES:
                low, high = RANGES[f.name]
                if not raw.isdigit() or not low <= int(raw) <= high:
                    problems.append(f"{name}: must be a whole number from {low} to {high}")
                    continue
                values[f.name] = int(raw)
            elif f.name == "config_parameter_prefix" and not PREFIX_RE.fullmatch(raw):
                problems.append(f"{name}: must be a parameter path such as /msk-privatelink/x")
            elif not raw:
                problems.append(f"{name}: must not be empty")
            else:
                values[f.name] = raw
        if problems:
            raise ConfigError(f"invalid function environment: {'; '.join(problems)}")
        return cls(**values)


@dataclass(frozen=True)
class RouterSettings(_EnvSettings):
    config_parameter_prefix: str
    queue_url: str
    # Where the sweep's tick counter lives; without it every tick sweeps
    # every cluster.
    state_table_name: str | None = None
    # 0: every cluster on every tick.
    sweep_clusters_per_tick: int = 0


@dataclass(frozen=True)
class DetectorSettings(_EnvSettings):
    config_parameter_prefix: str
    queue_url: str
    state_table_name: str


@dataclass(frozen=True)
class ReconcilerSettings(_EnvSettings):
    config_parameter_prefix: str
    event_bus_name: str
    state_table_name: str
    # How soon a failed record is delivered again (instead of the queue's
    # visibility timeout, which must stay long for slow batches).
    retry_delay_seconds: int = 30
    # Longer than the function timeout, so a live run never loses its lease;
    # a crashed run blocks its cluster for at most this long.
    lease_seconds: int = 300
    # Deep (scheduled) runs pace their Describe calls to these (0: unpaced).
    elb_describe_calls_per_minute: int = 0
    ec2_describe_calls_per_minute: int = 0
    # The Kafka admin function (broker-override); None when the stack has
    # none (no KafkaAdminSubnetIds), which broker-override clusters refuse.
    kafka_admin_function_name: str | None = None
