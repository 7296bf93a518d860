"""The workflows' input: an onboarding or offboarding request, validated.

Field names are camelCase, as in the events between accounts. Only the
fields that identify what is built on both sides go into the request digest;
the waiting knobs (timeouts, poll interval) may differ between two runs of
the same request.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from ..consumer_events import (
    MAX_SECURITY_GROUPS,
    MAX_SUBNETS,
    AccountId,
    ClusterArn,
    Region,
    SecurityGroupId,
    SubnetId,
    VpcId,
    consumer_bus_arn,
)
from ..errors import TerminalError

AZ_ID_PATTERN = r"^[a-z]{3,4}[0-9]{1,2}-az[0-9]{1,2}$"
EVENT_BUS_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:events:[a-z]{2}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}"
    r":event-bus/[A-Za-z0-9._-]{1,256}$"
)
AvailabilityZoneId = Annotated[str, Field(pattern=AZ_ID_PATTERN)]

# Step Functions' callback wait: one hour by default, at most a week here.
DEFAULT_CALLBACK_TIMEOUT = 3600
DEFAULT_HEARTBEAT = 3600
DEFAULT_POLL_SECONDS = 15
DEFAULT_POLL_ATTEMPTS = 40


class InvalidRequestError(TerminalError):
    """The workflow input is not a valid request; nothing was written."""


class _Input(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class _Waits(_Input):
    callback_timeout_seconds: int = Field(default=DEFAULT_CALLBACK_TIMEOUT, ge=1, le=604_800)
    heartbeat_seconds: int = Field(default=DEFAULT_HEARTBEAT, ge=1, le=604_800)

    @model_validator(mode="before")
    @classmethod
    def _default_heartbeat(cls, data: Any) -> Any:
        # No heartbeat given: the whole callback timeout (the consumer stack
        # sends no heartbeats, so a shorter one would only cut the wait short).
        if isinstance(data, dict) and not {"heartbeatSeconds", "heartbeat_seconds"} & set(data):
            timeout = data.get("callbackTimeoutSeconds", data.get("callback_timeout_seconds"))
            if isinstance(timeout, int) and not isinstance(timeout, bool):
                return {**data, "heartbeatSeconds": timeout}
        return data

    @model_validator(mode="after")
    def _heartbeat_within_timeout(self) -> Self:
        if self.heartbeat_seconds > self.callback_timeout_seconds:
            raise ValueError("heartbeatSeconds must not exceed callbackTimeoutSeconds")
        return self


class OnboardingRequest(_Waits):
    cluster_arn: ClusterArn
    consumer_account_id: AccountId
    consumer_region: Region
    vpc_id: VpcId
    subnet_ids: tuple[SubnetId, ...] = Field(min_length=1, max_length=MAX_SUBNETS)
    security_group_ids: tuple[SecurityGroupId, ...] = Field(
        default=(), max_length=MAX_SECURITY_GROUPS
    )
    # The consumer's subnets' Availability Zone IDs, one per subnet, in order.
    # The provider cannot read another account's subnets, so a same-Region
    # consumer states them and the provider checks them against the cluster's.
    availability_zone_ids: tuple[AvailabilityZoneId, ...] = Field(
        default=(), max_length=MAX_SUBNETS
    )
    consumer_event_bus_arn: Annotated[str, Field(pattern=EVENT_BUS_ARN_PATTERN)] | None = None
    poll_seconds: int = Field(default=DEFAULT_POLL_SECONDS, ge=0, le=3600)
    poll_attempts: int = Field(default=DEFAULT_POLL_ATTEMPTS, ge=1, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.subnet_ids)) != len(self.subnet_ids):
            raise ValueError("subnetIds lists a subnet twice")
        if len(set(self.security_group_ids)) != len(self.security_group_ids):
            raise ValueError("securityGroupIds lists a group twice")
        if self.availability_zone_ids and len(self.availability_zone_ids) != len(self.subnet_ids):
            raise ValueError(
                "availabilityZoneIds must give one Availability Zone ID per subnet, in order"
            )
        if len(set(self.availability_zone_ids)) != len(self.availability_zone_ids):
            raise ValueError("availabilityZoneIds: an interface endpoint takes one subnet per zone")
        if self.consumer_event_bus_arn is not None:
            parts = self.consumer_event_bus_arn.split(":")
            if parts[4] != self.consumer_account_id:
                raise ValueError("consumerEventBusArn must be in the consumer account")
        return self

    @property
    def bus_arn(self) -> str:
        partition = self.cluster_arn.split(":")[1]
        return self.consumer_event_bus_arn or consumer_bus_arn(
            self.consumer_account_id, self.consumer_region, partition
        )

    @property
    def cluster_region(self) -> str:
        return self.cluster_arn.split(":")[3]

    @property
    def provider_account_id(self) -> str:
        return self.cluster_arn.split(":")[4]

    @property
    def cross_region(self) -> bool:
        return self.consumer_region != self.cluster_region

    def identity(self) -> dict[str, Any]:
        """What the digest covers: everything built on either side."""
        return {
            "clusterArn": self.cluster_arn,
            "consumerAccountId": self.consumer_account_id,
            "consumerRegion": self.consumer_region,
            "vpcId": self.vpc_id,
            "subnetIds": sorted(self.subnet_ids),
            "securityGroupIds": sorted(self.security_group_ids),
            "availabilityZoneIds": sorted(self.availability_zone_ids),
            "consumerEventBusArn": self.bus_arn,
        }

    def digest(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


R = TypeVar("R", bound=_Input)


class OffboardingRequest(_Waits):
    cluster_arn: ClusterArn
    consumer_account_id: AccountId


def parse_request(model: type[R], payload: Any) -> R:
    """Validate workflow input, naming every offending field."""
    if not isinstance(payload, dict):
        raise InvalidRequestError("the request must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<request>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidRequestError(f"invalid {model.__name__}: {problems}") from exc
