"""The private addresses of the interface endpoints a canary checks names
against: DescribeVpcEndpoints for each endpoint's state and network
interfaces, DescribeNetworkInterfaces for their addresses.

Both reads filter instead of naming ids: named ids fail the whole call
(``InvalidVpcEndpointId.NotFound``) when one of them is gone, and a gone
endpoint is exactly what the canary must report, not trip over. Endpoints
are found by the cluster tag consumer-sync puts on every endpoint it creates
(one read per cluster, the filter the consumer side itself reads with);
their interfaces by id.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from msk_privatelink import PROJECT
from msk_privatelink.aws.errors import translate
from msk_privatelink.canary.plan import EndpointAddresses
from msk_privatelink.kernel.naming import TAG_CLUSTER_ARN, TAG_MANAGED_BY

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# EC2 takes at most 200 values per filter (Amazon EC2 API reference,
# "Filter": "Maximum of 200 values").
MAX_FILTER_VALUES = 200
GONE = frozenset({"deleting", "deleted"})


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), MAX_FILTER_VALUES):
        yield list(values[start : start + MAX_FILTER_VALUES])


def endpoint_addresses(ec2: EC2Client, cluster_arn: str) -> dict[str, EndpointAddresses]:
    """By endpoint id, every endpoint this project made for the cluster in
    this account (any VPC); the caller keeps the ones its view names."""
    states: dict[str, str] = {}
    interfaces: dict[str, list[str]] = {}
    try:
        pages = ec2.get_paginator("describe_vpc_endpoints").paginate(
            Filters=[
                {"Name": f"tag:{TAG_CLUSTER_ARN}", "Values": [cluster_arn]},
                {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [PROJECT]},
            ]
        )
        for page in pages:
            for endpoint in page.get("VpcEndpoints", []):
                endpoint_id = endpoint["VpcEndpointId"]
                state = endpoint.get("State", "unknown")
                if state.lower() in GONE:
                    continue  # listed for a while after deletion; serves nothing
                states[endpoint_id] = state
                interfaces[endpoint_id] = list(endpoint.get("NetworkInterfaceIds", []))
    except ClientError as exc:
        raise translate(exc, "DescribeVpcEndpoints") from exc
    addresses = _interface_addresses(ec2, [i for ids in interfaces.values() for i in ids])
    return {
        endpoint_id: EndpointAddresses(
            endpoint_id,
            state,
            frozenset(a for i in interfaces[endpoint_id] for a in addresses.get(i, ())),
        )
        for endpoint_id, state in states.items()
    }


def _interface_addresses(ec2: EC2Client, interface_ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    try:
        for chunk in _chunks(sorted(set(interface_ids))):
            pages = ec2.get_paginator("describe_network_interfaces").paginate(
                Filters=[{"Name": "network-interface-id", "Values": chunk}]
            )
            for page in pages:
                for interface in page.get("NetworkInterfaces", []):
                    private = [
                        p["PrivateIpAddress"]
                        for p in interface.get("PrivateIpAddresses", [])
                        if p.get("PrivateIpAddress")
                    ]
                    if not private and interface.get("PrivateIpAddress"):
                        private = [interface["PrivateIpAddress"]]
                    # An endpoint answers on IPv6 too when its IP address type says so.
                    private += [
                        v6["Ipv6Address"]
                        for v6 in interface.get("Ipv6Addresses", [])
                        if v6.get("Ipv6Address")
                    ]
                    found[interface["NetworkInterfaceId"]] = private
    except ClientError as exc:
        raise translate(exc, "DescribeNetworkInterfaces") from exc
    return found
