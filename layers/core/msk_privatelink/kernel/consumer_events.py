"""Versioned events between the provider account and consumer accounts.

Provider -> consumer (put on the provider bus, routed to the consumer's bus by
a per-tenant rule), ``source = "msk-privatelink"``:
- ``ConsumerOnboardingRequested``: build the consumer side for a cluster.
- ``ConsumerOffboardingRequested``: remove it.

Consumer -> provider (put on the consumer's own bus, forwarded to the provider
bus by the consumer stack's rule), ``source = "msk-privatelink.consumer"``:
- ``ConsumerEndpointsReady``: the consumer's answer to a request (with the
  Step Functions task token), and, without a token, after every
  ``BrokerEndpointsChanged`` it applied.
- ``ConsumerConnectivityReport``: what the connectivity canary found.

Provider announcements (provider bus), ``source = "msk-privatelink"``:
- ``ConsumerOnboarded`` / ``ConsumerOffboarded``.

Every event is a frozen msgspec struct (kernel/records.py) that refuses unknown
fields; JSON keys are camelCase.
The JSON Schema of each is rendered into docs/events.md by
``python -m msk_privatelink.kernel.event_docs``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from msk_privatelink.kernel.events import EVENT_SOURCE, SCHEMA_VERSION, BrokerEndpointsChanged
from msk_privatelink.kernel.records import CamelRecord, Meta, anchored, to_data, to_json

CONSUMER_EVENT_SOURCE = "msk-privatelink.consumer"
PROVIDER_EVENT_SOURCE = EVENT_SOURCE
CONSUMER_BUS_NAME = "msk-privatelink-consumer"

# Anchored at both ends (records.anchored: no trailing newline either), ASCII
# classes only.
CLUSTER_ARN_PATTERN = anchored(
    r"arn:aws[a-z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9-]{1,64}/[A-Za-z0-9-]+"
)
ACCOUNT_ID_PATTERN = anchored(r"[0-9]{12}")
REGION_PATTERN = anchored(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
VPC_ID_PATTERN = anchored(r"vpc-[0-9a-f]{8,17}")
SUBNET_ID_PATTERN = anchored(r"subnet-[0-9a-f]{8,17}")
SECURITY_GROUP_ID_PATTERN = anchored(r"sg-[0-9a-f]{8,17}")
VPC_ENDPOINT_ID_PATTERN = anchored(r"vpce-[0-9a-f]{8,17}")
# Step Functions task tokens: 1..2048 characters (SendTaskSuccess's limit),
# printable ASCII (they are base64-like).
TASK_TOKEN_PATTERN = anchored(r"[\x21-\x7e]+")
MAX_TASK_TOKEN = 2048
# SendTaskFailure's `cause` holds 32768 characters; a reason stays well below.
MAX_REASON = 1024
# A VPC endpoint takes one subnet per Availability Zone, at most 16 groups.
MAX_SUBNETS = 32
MAX_SECURITY_GROUPS = 16

ClusterArn = Annotated[str, Meta(pattern=CLUSTER_ARN_PATTERN, max_length=2048)]
AccountId = Annotated[str, Meta(pattern=ACCOUNT_ID_PATTERN)]
Region = Annotated[str, Meta(pattern=REGION_PATTERN, max_length=32)]
VpcId = Annotated[str, Meta(pattern=VPC_ID_PATTERN)]
SubnetId = Annotated[str, Meta(pattern=SUBNET_ID_PATTERN)]
SecurityGroupId = Annotated[str, Meta(pattern=SECURITY_GROUP_ID_PATTERN)]
TaskToken = Annotated[
    str, Meta(min_length=1, max_length=MAX_TASK_TOKEN, pattern=TASK_TOKEN_PATTERN)
]
Generation = Annotated[int, Meta(ge=1, description="Generation of the cluster's view.")]

ConsumerState = Literal["ready", "removed", "failed"]


class _Detail(CamelRecord, frozen=True, kw_only=True):
    def to_detail_json(self) -> str:
        return to_json(self)


def without_default_flag(record: CamelRecord, key: str, value: bool) -> str:
    """``record`` as compact JSON, leaving out ``key`` while it holds its
    default (true)."""
    data = to_data(record)
    if value:
        data.pop(key, None)
    return msgspec.json.encode(data).decode()


class _Tenant(_Detail, frozen=True, kw_only=True):
    """Who an event concerns: one cluster in one consumer account, Region and VPC."""

    # Not part of the detail: EventBridge carries it as the event's detail-type.
    detail_type: ClassVar[str]
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    cluster_arn: ClusterArn
    consumer_account_id: AccountId
    consumer_region: Region
    vpc_id: VpcId


class ConsumerOnboardingRequested(_Tenant, frozen=True, kw_only=True):
    """Provider -> consumer: build the interface endpoints, the cluster's private
    hosted zone and its records in `vpcId`, then answer with
    `ConsumerEndpointsReady` carrying `taskToken`. `endpoints` is the cluster's
    current view (a full `BrokerEndpointsChanged` detail); `generation` equals
    its generation. The consumer remembers the VPC, subnets and security groups
    for the later `BrokerEndpointsChanged` events of the cluster."""

    detail_type: ClassVar[Literal["ConsumerOnboardingRequested"]] = "ConsumerOnboardingRequested"
    subnet_ids: Annotated[tuple[SubnetId, ...], Meta(min_length=1, max_length=MAX_SUBNETS)]
    # Empty: EC2 gives the endpoints the VPC's default security group.
    security_group_ids: Annotated[
        tuple[SecurityGroupId, ...], Meta(max_length=MAX_SECURITY_GROUPS)
    ] = ()
    connectivity_canary: Annotated[
        bool,
        Meta(
            description="The consumer stack's connectivity canary probes this cluster "
            "(when the stack runs one)."
        ),
    ] = True
    task_token: TaskToken
    generation: Generation
    endpoints: BrokerEndpointsChanged

    def to_detail_json(self) -> str:
        # connectivityCanary is written only when false: a consumer stack of
        # an earlier version (which refuses unknown fields) keeps accepting
        # every request that does not turn the canary off.
        return without_default_flag(self, "connectivityCanary", self.connectivity_canary)

    def __post_init__(self) -> None:
        if self.endpoints.cluster_arn != self.cluster_arn:
            raise ValueError(
                f"endpoints describe {self.endpoints.cluster_arn}, not {self.cluster_arn}"
            )
        if self.endpoints.generation != self.generation:
            raise ValueError(
                f"generation {self.generation} differs from the view's generation "
                f"{self.endpoints.generation}"
            )
        if len(set(self.subnet_ids)) != len(self.subnet_ids):
            raise ValueError("subnetIds lists a subnet twice")
        if len(set(self.security_group_ids)) != len(self.security_group_ids):
            raise ValueError("securityGroupIds lists a group twice")


class ConsumerOffboardingRequested(_Tenant, frozen=True, kw_only=True):
    """Provider -> consumer: remove every interface endpoint, record and hosted
    zone the consumer stack created for the cluster in `vpcId` (nothing else),
    then answer with `ConsumerEndpointsReady` state `removed` carrying
    `taskToken`."""

    detail_type: ClassVar[Literal["ConsumerOffboardingRequested"]] = "ConsumerOffboardingRequested"
    task_token: TaskToken
    generation: Generation


class ConsumerEndpoint(_Detail, frozen=True, kw_only=True):
    service_name: Annotated[
        str, Meta(min_length=1, max_length=255, description="VPC endpoint service name.")
    ]
    vpc_endpoint_id: Annotated[
        str,
        Meta(pattern=VPC_ENDPOINT_ID_PATTERN, description="The consumer's interface endpoint."),
    ]


class ConsumerEndpointsReady(_Tenant, frozen=True, kw_only=True):
    """Consumer -> provider: the consumer side of the cluster in `vpcId` is
    `ready` (endpoints, zone and records match view `generation`), `removed`
    (offboarded), or `failed` (`reason` says why; nothing is half-applied that
    a retry would not finish). The answer to a request carries its
    `taskToken`; the report after a `BrokerEndpointsChanged` has none."""

    detail_type: ClassVar[Literal["ConsumerEndpointsReady"]] = "ConsumerEndpointsReady"
    generation: Generation
    state: ConsumerState
    reason: Annotated[str, Meta(max_length=MAX_REASON)] = ""
    task_token: TaskToken | None = None
    endpoints: tuple[ConsumerEndpoint, ...] = ()

    def __post_init__(self) -> None:
        if self.state == "failed" and not self.reason:
            raise ValueError("state failed needs a reason")
        if self.state != "failed" and self.reason:
            raise ValueError(f"state {self.state} carries no reason")
        if self.state == "removed" and self.endpoints:
            raise ValueError("state removed lists no endpoint")


ConnectivityState = Literal["reachable", "unreachable", "pending", "unchecked"]
ConnectivityStep = Literal["dns", "tcp", "tls", "kafka", "ok"]
# A report stays a few kilobytes whatever the cluster's size: the failures
# listed are the first ones (broker id order), the counts are complete.
MAX_REPORTED_FAILURES = 50
MAX_REPORTED_PROBLEMS = 10


class BrokerConnectivity(_Detail, frozen=True, kw_only=True):
    """One name and port a client connects to, and the step it failed at."""

    broker: Annotated[
        str, Meta(min_length=1, max_length=16, description='Broker id, or "bootstrap".')
    ]
    scheme: Annotated[str, Meta(min_length=1, max_length=16)]
    port: Annotated[int, Meta(ge=1, le=65535)]
    step: Annotated[ConnectivityStep, Meta(description="Where the probe stopped.")]
    detail: Annotated[str, Meta(max_length=256)] = ""


class ConsumerConnectivityReport(_Tenant, frozen=True, kw_only=True):
    """Consumer -> provider: what the consumer stack's connectivity canary
    found from `vpcId` for view `generation`: every broker name on every port
    of the view resolved to this account's endpoint, connected, completed TLS
    where the scheme uses it, and answered Kafka ApiVersions (`reachable`),
    or not (`unreachable`, the first failures listed with the step that
    failed); `pending` while an endpoint is not accepted yet; `unchecked`
    when the canary could not probe (`problems` says why). Where the consumer
    gave the canary credentials, it also fetched the cluster's metadata
    through the bootstrap: `probes` then counts each broker compared, and a
    broker advertised at another name or port than the view holds is a
    failure at step `kafka` whose detail starts with `metadata:`. Sent after
    every canary run, on the consumer's bus like `ConsumerEndpointsReady`."""

    detail_type: ClassVar[Literal["ConsumerConnectivityReport"]] = "ConsumerConnectivityReport"
    generation: Generation
    checked_at: Annotated[str, Meta(min_length=20, max_length=40, description="ISO 8601, UTC.")]
    state: ConnectivityState
    probes: Annotated[int, Meta(ge=0, description="Names and ports probed.")]
    failed: Annotated[int, Meta(ge=0, description="Probes that failed.")]
    pending: Annotated[
        tuple[str, ...],
        Meta(max_length=MAX_REPORTED_FAILURES, description="Brokers whose endpoint is pending."),
    ] = ()
    failures: Annotated[tuple[BrokerConnectivity, ...], Meta(max_length=MAX_REPORTED_FAILURES)] = ()
    problems: Annotated[
        tuple[Annotated[str, Meta(max_length=256)], ...],
        Meta(max_length=MAX_REPORTED_PROBLEMS),
    ] = ()

    def __post_init__(self) -> None:
        if self.failed > self.probes:
            raise ValueError(f"{self.failed} failed of {self.probes} probes")
        if (self.state == "unreachable") != (self.failed > 0):
            raise ValueError(f"state {self.state} with {self.failed} failed probes")
        if len(self.failures) > self.failed:
            raise ValueError("more failures listed than failed")


class ConsumerOnboarded(_Tenant, frozen=True, kw_only=True):
    """Provider announcement: the consumer account's endpoints for the cluster
    are connected and verified; the tenant is active."""

    detail_type: ClassVar[Literal["ConsumerOnboarded"]] = "ConsumerOnboarded"
    generation: Generation


class ConsumerOffboarded(_Tenant, frozen=True, kw_only=True):
    """Provider announcement: the consumer account no longer reaches the cluster;
    its permissions and routing were removed."""

    detail_type: ClassVar[Literal["ConsumerOffboarded"]] = "ConsumerOffboarded"
    generation: Generation


CONSUMER_EVENT_MODELS: tuple[type[_Tenant], ...] = (
    ConsumerOnboardingRequested,
    ConsumerOffboardingRequested,
    ConsumerEndpointsReady,
    ConsumerConnectivityReport,
    ConsumerOnboarded,
    ConsumerOffboarded,
)

# Which source puts each detail-type on a bus.
SOURCES: dict[str, str] = {
    "ConsumerOnboardingRequested": PROVIDER_EVENT_SOURCE,
    "ConsumerOffboardingRequested": PROVIDER_EVENT_SOURCE,
    "ConsumerEndpointsReady": CONSUMER_EVENT_SOURCE,
    "ConsumerConnectivityReport": CONSUMER_EVENT_SOURCE,
    "ConsumerOnboarded": PROVIDER_EVENT_SOURCE,
    "ConsumerOffboarded": PROVIDER_EVENT_SOURCE,
}


def consumer_bus_arn(account_id: str, region: str, partition: str = "aws") -> str:
    """The consumer bus by convention (onboarding input may name another)."""
    return f"arn:{partition}:events:{region}:{account_id}:event-bus/{CONSUMER_BUS_NAME}"
