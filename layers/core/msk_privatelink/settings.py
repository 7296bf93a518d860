"""Lambda settings: one model per function, validated once at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

S = TypeVar("S", bound="_EnvSettings")


class _EnvSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    @classmethod
    def from_env(cls: type[S], env: Mapping[str, str] | None = None) -> S:
        source = os.environ if env is None else env
        values = {name: source[name.upper()] for name in cls.model_fields if name.upper() in source}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid function environment: {problems}") from exc


class RouterSettings(_EnvSettings):
    config_parameter_prefix: str = Field(pattern=r"^/[A-Za-z0-9_./-]+$")
    queue_url: str = Field(min_length=1)


class ReconcilerSettings(_EnvSettings):
    config_parameter_prefix: str = Field(pattern=r"^/[A-Za-z0-9_./-]+$")
    event_bus_name: str = Field(min_length=1)
    state_table_name: str = Field(min_length=1)
    # How soon a failed record is delivered again (instead of the queue's
    # visibility timeout, which must stay long for slow batches).
    retry_delay_seconds: int = Field(default=30, ge=0, le=900)
    # Longer than the function timeout, so a live run never loses its lease;
    # a crashed run blocks its cluster for at most this long.
    lease_seconds: int = Field(default=300, ge=30, le=3600)
