"""The embedded AWS: moto plus the MSK simulator, in this process.

Used by the demo and the tests. moto is imported on entry, never at import
time, because this package ships in the Lambda layer.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import boto3

from msk_privatelink_dev.embedded import (
    ec2_client_tokens,
    elb_arns,
    elb_limits,
    event_bus_routing,
    inprocess,
    vpce_connections,
)
from msk_privatelink_dev.embedded.moto_accounts import account_id_for
from msk_privatelink_dev.embedded.msk_simulator import MskSimulator

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig
    from moto.core.models import MockAWS

_FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}
# A named profile or a config file would win over the fake keys (and could
# point at a real account), so they are hidden while the embedded AWS runs.
_HIDDEN_ENVIRONMENT = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE")
_SMALLEST_SUBNET_PREFIX = 28


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnet_ids: tuple[str, ...]


class EmbeddedAws:
    """`with EmbeddedAws() as aws:` gives moto-backed clients and `aws.msk`."""

    def __init__(
        self,
        region: str = "us-east-1",
        *,
        complete_immediately: bool = True,
        moto_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.region = region
        self.msk = MskSimulator(region=region, complete_immediately=complete_immediately)
        self.endpoint_connections = vpce_connections.ConnectionsSimulator()
        # EC2's ClientToken idempotency for CreateVpcEndpoint; `.reused` lists
        # the endpoints answered from a token seen before.
        self.client_tokens = ec2_client_tokens.ClientTokens()
        self._moto_config = moto_config
        self._mock: MockAWS | None = None
        self._saved_environment: dict[str, str | None] = {}

    @property
    def account_id(self) -> str:
        return account_id_for(None)

    def __enter__(self) -> EmbeddedAws:
        # Handlers first: starting moto drops boto3's default session, and the
        # next one is built from BUILTIN_HANDLERS. This also refuses a second
        # embedded AWS before anything has been changed.
        inprocess.activate(self.msk)
        vpce_connections.activate(self.endpoint_connections)
        names = (*_FAKE_ENVIRONMENT, "AWS_DEFAULT_REGION", *_HIDDEN_ENVIRONMENT)
        self._saved_environment = {name: os.environ.get(name) for name in names}
        os.environ.update(_FAKE_ENVIRONMENT)
        os.environ["AWS_DEFAULT_REGION"] = self.region
        for name in _HIDDEN_ENVIRONMENT:
            os.environ.pop(name, None)
        try:
            from moto import mock_aws

            elb_arns.install()
            elb_limits.install()
            elb_limits.reset()
            event_bus_routing.install()
            self.client_tokens.clear()
            self.client_tokens.activate()
            config = cast("DefaultConfig | None", self._moto_config)
            self._mock = mock_aws(config=config)
            self._mock.start(reset=True)
        except BaseException:
            inprocess.deactivate()
            vpce_connections.deactivate()
            self.client_tokens.deactivate()
            self._restore_environment()
            raise
        self.msk.default_account_id = self.account_id
        self.msk.default_region = self.region
        self.msk.reset()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        inprocess.deactivate()
        vpce_connections.deactivate()
        self.client_tokens.deactivate()
        self.endpoint_connections.reset()
        self.msk.reset()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        self._restore_environment()

    def session(self) -> boto3.Session:
        return boto3.Session(region_name=self.region)

    def client(self, service_name: str, **kwargs: Any) -> Any:
        return self.session().client(service_name, **kwargs)  # type: ignore[call-overload]

    def set_elb_limit(self, name: str, value: int, region: str | None = None) -> None:
        """Give this account an Elastic Load Balancing quota other than AWS's default."""
        elb_limits.set_limit(self.account_id, region or self.region, name, value)

    def create_network(self, cidr: str = "10.0.0.0/16", subnet_count: int = 3) -> Network:
        """A VPC with `subnet_count` subnets, each in its own Availability Zone."""
        ec2 = self.client("ec2")
        zones = [
            zone["ZoneName"]
            for zone in ec2.describe_availability_zones()["AvailabilityZones"]
            if zone.get("State", "available") == "available"
        ]
        if subnet_count > len(zones):
            raise ValueError(f"{self.region} has only {len(zones)} Availability Zones")
        network = ipaddress.IPv4Network(cidr)
        prefix = min(
            network.prefixlen + max(4, (subnet_count - 1).bit_length()), _SMALLEST_SUBNET_PREFIX
        )
        blocks = list(network.subnets(new_prefix=prefix))[:subnet_count]
        if len(blocks) < subnet_count:
            raise ValueError(f"{cidr} is too small for {subnet_count} subnets")
        vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        subnet_ids = tuple(
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=str(block), AvailabilityZone=zone)["Subnet"][
                "SubnetId"
            ]
            for block, zone in zip(blocks, zones, strict=False)
        )
        return Network(vpc_id=vpc_id, subnet_ids=subnet_ids)

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment = {}
