"""Broker network interfaces, subnets and security groups in moto's EC2 backend.

The simulator talks to moto's backend objects directly (not through an EC2
client) so it behaves the same in-process and inside the HTTP server, and so
the ENI ids and addresses it reports are the ones EC2 reports. moto is
imported inside the functions: the Lambda layer must never import it.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from msk_privatelink_dev.embedded.msk_contract import bad_request

if TYPE_CHECKING:
    from moto.ec2.models import EC2Backend

# AWS keeps the first four addresses and the last one of every subnet.
_RESERVED_AT_START = 4
_RANDOM_TRIES = 64


@dataclass(frozen=True)
class SubnetFacts:
    subnet_id: str
    vpc_id: str
    availability_zone: str
    cidr_block: str


def _ec2(account_id: str, region: str) -> EC2Backend:
    from moto.backends import get_backend

    return get_backend("ec2")[account_id][region]


def find_subnet(account_id: str, region: str, subnet_id: str) -> SubnetFacts | None:
    from moto.ec2.exceptions import InvalidSubnetIdError

    try:
        subnet = _ec2(account_id, region).get_subnet(subnet_id)
    except InvalidSubnetIdError:
        return None
    return SubnetFacts(
        subnet_id=subnet.id,
        vpc_id=subnet.vpc_id,
        availability_zone=subnet.availability_zone,
        cidr_block=subnet.cidr_block,
    )


def security_group_exists(account_id: str, region: str, group_id: str) -> bool:
    return _ec2(account_id, region).get_security_group_from_id(group_id) is not None


def default_security_group(account_id: str, region: str, vpc_id: str) -> str | None:
    group = _ec2(account_id, region).get_default_security_group(vpc_id)
    return None if group is None else group.id


def create_broker_eni(
    account_id: str,
    region: str,
    *,
    subnet_id: str,
    security_group_ids: tuple[str, ...],
    description: str,
    avoid_ips: frozenset[str] = frozenset(),
) -> tuple[str, str]:
    """Create an ENI in the subnet and return (eni id, private IP)."""
    ec2 = _ec2(account_id, region)
    subnet = ec2.get_subnet(subnet_id)
    address = _free_address(ec2, subnet_id, subnet.cidr_block, avoid_ips)
    eni = ec2.create_network_interface(
        subnet,
        address,
        group_ids=list(security_group_ids) or None,
        description=description,
    )
    return eni.id, address


def delete_eni(account_id: str, region: str, eni_id: str) -> None:
    from moto.ec2.exceptions import InvalidNetworkInterfaceIdError

    try:
        _ec2(account_id, region).delete_network_interface(eni_id)
    except InvalidNetworkInterfaceIdError:
        # Someone already removed it through the EC2 API; the broker is gone either way.
        return


def eni_exists(account_id: str, region: str, eni_id: str) -> bool:
    return eni_id in _ec2(account_id, region).enis


def _free_address(ec2: EC2Backend, subnet_id: str, cidr_block: str, avoid: frozenset[str]) -> str:
    # moto's own pick (random_private_ip) can return the network, broadcast or
    # an AWS-reserved address and never checks for addresses already in use,
    # so a replaced broker could keep its old IP. Pick a free one here.
    network = ipaddress.IPv4Network(cidr_block)
    used = {
        eni.private_ip_address for eni in ec2.enis.values() if eni.subnet.id == subnet_id
    } | set(avoid)
    first = int(network.network_address) + _RESERVED_AT_START
    last = int(network.broadcast_address) - 1
    if last < first:
        raise bad_request(f"Subnet {subnet_id} has no usable IP addresses.")
    for _ in range(_RANDOM_TRIES):
        candidate = str(ipaddress.IPv4Address(random.randint(first, last)))
        if candidate not in used:
            return candidate
    for value in range(first, last + 1):
        candidate = str(ipaddress.IPv4Address(value))
        if candidate not in used:
            return candidate
    raise bad_request(f"Subnet {subnet_id} does not have enough free IP addresses.")
