"""Connections of one consumer account to the cluster's endpoint services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import translate
from msk_privatelink.kernel.errors import AwsCallError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# States in which a connection still exists (or is on its way).
LIVE_STATES = frozenset({"pendingAcceptance", "pending", "available"})


@dataclass(frozen=True)
class Connection:
    service_id: str
    endpoint_id: str
    owner: str
    state: str


class EndpointConnections:
    def __init__(self, ec2: EC2Client) -> None:
        self._ec2 = ec2

    def of_account(self, service_ids: list[str], owner: str) -> list[Connection]:
        if not service_ids:
            return []
        found: list[Connection] = []
        try:
            pages = self._ec2.get_paginator("describe_vpc_endpoint_connections").paginate(
                Filters=[
                    {"Name": "service-id", "Values": sorted(service_ids)},
                    {"Name": "vpc-endpoint-owner", "Values": [owner]},
                ]
            )
            for page in pages:
                found += [
                    Connection(c["ServiceId"], c["VpcEndpointId"], owner, c["VpcEndpointState"])
                    for c in page.get("VpcEndpointConnections", [])
                    if c.get("VpcEndpointOwner") == owner
                ]
        except ClientError as exc:
            raise translate(exc, "DescribeVpcEndpointConnections") from exc
        return found

    def accept(self, connections: list[Connection]) -> int:
        return self._decide(connections, accept=True)

    def reject(self, connections: list[Connection]) -> int:
        return self._decide(connections, accept=False)

    def _decide(self, connections: list[Connection], *, accept: bool) -> int:
        by_service: dict[str, list[str]] = {}
        for c in connections:
            by_service.setdefault(c.service_id, []).append(c.endpoint_id)
        verb = "Accept" if accept else "Reject"
        for service_id, endpoint_ids in sorted(by_service.items()):
            try:
                call = (
                    self._ec2.accept_vpc_endpoint_connections
                    if accept
                    else self._ec2.reject_vpc_endpoint_connections
                )
                result = call(ServiceId=service_id, VpcEndpointIds=sorted(endpoint_ids))
            except ClientError as exc:
                raise translate(exc, f"{verb}VpcEndpointConnections {service_id}") from exc
            failed = result.get("Unsuccessful", [])
            if failed:
                first = failed[0]
                raise AwsCallError(
                    f"{verb}VpcEndpointConnections {service_id}: {first.get('ResourceId')}: "
                    f"{first.get('Error', {}).get('Code')}: {first.get('Error', {}).get('Message')}"
                )
        return sum(len(ids) for ids in by_service.values())
