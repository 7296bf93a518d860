"""A consumer VPC's name resolution and PrivateLink path, read from the
embedded AWS, for probes run on this machine.

- **Resolver**: a name resolves through the private hosted zones associated
  with the consumer's VPC (``ListHostedZonesByVPC``), as the VPC's resolver
  does: an ``A`` alias to an interface endpoint's DNS name answers the
  endpoint's network interface addresses; plain ``A`` records answer their
  values; anything else does not resolve.
- **Route**: a connection to one of the consumer's endpoint addresses on a
  port reaches the load balancer behind the endpoint's service on that port;
  the NLB stand-in serves every listener of that load balancer on loopback on
  the listener's own port. Any other address is unreachable (a closed
  loopback port: refused at once).

Everything is read when asked, so a record or target the test changes is
seen by the next probe, as in a VPC.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from msk_privatelink.kernel.dns import normalize_dns

LOOPBACK = "127.0.0.1"


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


class ConsumerNetwork:
    def __init__(self, ec2: Any, route53: Any, vpc_id: str, region: str) -> None:
        self._ec2 = ec2
        self._route53 = route53
        self._vpc_id = vpc_id
        self._region = region
        self._closed = _closed_port()
        self.resolved: list[tuple[str, tuple[str, ...]]] = []

    def _endpoints(self) -> list[dict[str, Any]]:
        found = self._ec2.describe_vpc_endpoints()["VpcEndpoints"]
        return [
            e
            for e in found
            if e.get("VpcId") == self._vpc_id and e.get("State", "").lower() == "available"
        ]

    def _addresses(self, endpoint: dict[str, Any]) -> list[str]:
        ids = endpoint.get("NetworkInterfaceIds", [])
        if not ids:
            return []
        interfaces = self._ec2.describe_network_interfaces(NetworkInterfaceIds=ids)
        return [i["PrivateIpAddress"] for i in interfaces["NetworkInterfaces"]]

    def resolve(self, host: str, _port: int, _timeout: float) -> Sequence[str]:
        name = normalize_dns(host)
        zones = self._route53.list_hosted_zones_by_vpc(VPCId=self._vpc_id, VPCRegion=self._region)[
            "HostedZoneSummaries"
        ]
        # The most specific zone holding the name answers for it.
        holding = [
            z
            for z in zones
            if name == normalize_dns(z["Name"]) or name.endswith("." + normalize_dns(z["Name"]))
        ]
        if not holding:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        zone = max(holding, key=lambda z: len(z["Name"]))
        records = self._route53.list_resource_record_sets(HostedZoneId=zone["HostedZoneId"])[
            "ResourceRecordSets"
        ]
        answers: list[str] = []
        for record in records:
            if normalize_dns(record["Name"]) != name or record["Type"] != "A":
                continue
            alias = record.get("AliasTarget")
            if alias is None:
                answers += [r["Value"] for r in record.get("ResourceRecords", [])]
                continue
            target = normalize_dns(alias["DNSName"])
            for endpoint in self._endpoints():
                names = {normalize_dns(d["DnsName"]) for d in endpoint.get("DnsEntries", [])}
                if target in names:
                    answers += self._addresses(endpoint)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        self.resolved.append((host, tuple(answers)))
        return answers

    def route(self, address: str, port: int) -> tuple[str, int]:
        for endpoint in self._endpoints():
            if address in self._addresses(endpoint):
                return LOOPBACK, port
        return LOOPBACK, self._closed
