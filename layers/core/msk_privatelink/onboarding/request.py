"""The workflows' input: an onboarding or offboarding request, validated.

Field names are camelCase, as in the events between accounts. Only the
fields that identify what is built on both sides go into the request digest;
the waiting knobs (timeouts, poll interval) may differ between two runs of
the same request.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, TypeVar

from msgspec import UNSET, UnsetType

from msk_privatelink.kernel.consumer_events import (
    CONSUMER_BUS_NAME,
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
from msk_privatelink.kernel.errors import TerminalError
from msk_privatelink.kernel.records import (
    CamelRecord,
    InvalidRecord,
    Meta,
    anchored,
    force_setattr,
    parse,
    to_data,
)

AZ_ID_PATTERN = anchored(r"[a-z]{3,4}[0-9]{1,2}-az[0-9]{1,2}")
EVENT_BUS_ARN_PATTERN = anchored(
    r"arn:aws[a-z-]*:events:[a-z]{2}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}"
    r":event-bus/[A-Za-z0-9._-]{1,256}"
)
AvailabilityZoneId = Annotated[str, Meta(pattern=AZ_ID_PATTERN)]
EventBusArn = Annotated[str, Meta(pattern=EVENT_BUS_ARN_PATTERN)]

# Step Functions' callback wait: one hour by default, at most a week here.
DEFAULT_CALLBACK_TIMEOUT = 3600
DEFAULT_HEARTBEAT = 3600
DEFAULT_POLL_SECONDS = 15
DEFAULT_POLL_ATTEMPTS = 40
WaitSeconds = Annotated[int, Meta(ge=1, le=604_800)]


class InvalidRequestError(TerminalError):
    """The workflow input is not a valid request; nothing was written."""


class _Input(CamelRecord, frozen=True, kw_only=True):
    def to_json_dict(self) -> dict[str, Any]:
        return to_data(self)


class _Waits(_Input, frozen=True, kw_only=True):
    callback_timeout_seconds: WaitSeconds = DEFAULT_CALLBACK_TIMEOUT
    # Absent: the whole callback timeout (the consumer stack sends no
    # heartbeats, so a shorter one would only cut the wait short). Filled in
    # by __post_init__, so it is always an int once the request exists (see
    # ``heartbeat``); null is refused like any other non-integer.
    heartbeat_seconds: WaitSeconds | UnsetType = UNSET

    def __post_init__(self) -> None:
        if isinstance(self.heartbeat_seconds, UnsetType):
            force_setattr(self, "heartbeat_seconds", self.callback_timeout_seconds)
        if self.heartbeat > self.callback_timeout_seconds:
            raise ValueError("heartbeatSeconds must not exceed callbackTimeoutSeconds")

    @property
    def heartbeat(self) -> int:
        """``heartbeat_seconds``, typed: never unset after __post_init__."""
        assert not isinstance(self.heartbeat_seconds, UnsetType)
        return self.heartbeat_seconds


class OnboardingRequest(_Waits, frozen=True, kw_only=True):
    cluster_arn: ClusterArn
    consumer_account_id: AccountId
    consumer_region: Region
    vpc_id: VpcId
    subnet_ids: Annotated[tuple[SubnetId, ...], Meta(min_length=1, max_length=MAX_SUBNETS)]
    security_group_ids: Annotated[
        tuple[SecurityGroupId, ...], Meta(max_length=MAX_SECURITY_GROUPS)
    ] = ()
    # The consumer's subnets' Availability Zone IDs, one per subnet, in order.
    # The provider cannot read another account's subnets, so a same-Region
    # consumer states them and the provider checks them against the cluster's.
    availability_zone_ids: Annotated[
        tuple[AvailabilityZoneId, ...], Meta(max_length=MAX_SUBNETS)
    ] = ()
    consumer_event_bus_arn: EventBusArn | None = None
    poll_seconds: Annotated[int, Meta(ge=0, le=3600)] = DEFAULT_POLL_SECONDS
    poll_attempts: Annotated[int, Meta(ge=1, le=1000)] = DEFAULT_POLL_ATTEMPTS
    # The consumer stack's connectivity canary probes this cluster (unless
    # the stack's ConnectivityCanary parameter turns the canary off).
    connectivity_canary: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
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
            if not parts[5].startswith(f"event-bus/{CONSUMER_BUS_NAME}"):
                # The provider's delivery role may put events only on buses
                # so named (template.yaml, ConsumerEventsRole): any other
                # name would be subscribed and then never receive an event.
                raise ValueError(
                    f"consumerEventBusArn: the bus name must start with {CONSUMER_BUS_NAME}"
                    " (the consumer stack's ConsumerEventBusName)"
                )

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
            # Only when turned off: requests made before the field existed
            # keep their digest.
            **({} if self.connectivity_canary else {"connectivityCanary": False}),
        }

    def digest(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


R = TypeVar("R", bound=_Input)


class OffboardingRequest(_Waits, frozen=True, kw_only=True):
    cluster_arn: ClusterArn
    consumer_account_id: AccountId


def parse_request(model: type[R], payload: Any) -> R:
    """Validate workflow input, naming the offending field (the first one)."""
    if not isinstance(payload, dict):
        raise InvalidRequestError("the request must be a JSON object")
    try:
        return parse(model, payload)
    except InvalidRecord as exc:
        raise InvalidRequestError(
            f"invalid {model.__name__}: {exc.path or '<request>'}: {exc.reason}"
        ) from exc
