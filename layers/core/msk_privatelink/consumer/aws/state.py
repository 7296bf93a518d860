"""Read the consumer side: our endpoints, our hosted zone and its records."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from msk_privatelink import PROJECT
from msk_privatelink.aws.errors import translate
from msk_privatelink.aws.private_zones import (
    created_by_us,
    tag_dict,
    tagged_ours,
    zone_records,
    zone_tags,
    zones_in_vpc,
)
from msk_privatelink.consumer.sync import (
    TAG_CONSUMER_VPC,
    TAG_GENERATION,
    AliasTarget,
    ConsumerActual,
    ConsumerSettings,
    EndpointState,
    RecordState,
    ZoneState,
    zone_caller_reference_prefix,
)
from msk_privatelink.kernel.dns import normalize_dns
from msk_privatelink.kernel.naming import (
    TAG_BROKER_ID,
    TAG_CLUSTER_ARN,
    TAG_MANAGED_BY,
    is_owned,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_route53 import Route53Client


logger = logging.getLogger(__name__)

GONE_ENDPOINT_STATES = frozenset({"deleting", "deleted"})
ENDPOINT_NOT_FOUND = frozenset({"InvalidVpcEndpoint.NotFound", "InvalidVpcEndpointId.NotFound"})
# A zone tag read refused for one zone (e.g. shared from another account).
ZONE_TAGS_UNREADABLE = frozenset({"AccessDenied", "NoSuchHostedZone", "InvalidInput"})


def _generation(tags: dict[str, str]) -> int | None:
    raw = tags.get(TAG_GENERATION, "")
    return int(raw) if raw.isdigit() else None


def endpoint_dns(endpoint: Any) -> AliasTarget | None:
    """The endpoint's Regional DNS entry: the shortest name of its own (zonal
    entries add the Availability Zone to the first label)."""
    entries = [
        e for e in endpoint.get("DnsEntries", []) if e.get("DnsName") and e.get("HostedZoneId")
    ]
    own = [e for e in entries if e["DnsName"].startswith(endpoint["VpcEndpointId"])] or entries
    if not own:
        return None
    best = min(own, key=lambda e: len(e["DnsName"]))
    return AliasTarget(normalize_dns(best["DnsName"]), best["HostedZoneId"])


# -- read ------------------------------------------------------------------------


class ConsumerStateReader:
    def __init__(self, ec2: EC2Client, route53: Route53Client) -> None:
        self._ec2 = ec2
        self._route53 = route53

    def read(
        self, cluster_arn: str, settings: ConsumerSettings, zone_name: str | None
    ) -> ConsumerActual:
        zones, conflicts = self.zones(cluster_arn, settings, zone_name)
        return self.complete(cluster_arn, settings, zones, conflicts)

    def complete(
        self,
        cluster_arn: str,
        settings: ConsumerSettings,
        zones: Sequence[ZoneState],
        conflicts: Sequence[str],
    ) -> ConsumerActual:
        """Add the endpoints and our zones' records to what ``zones`` found."""
        try:
            with_records = tuple(
                ZoneState(z.zone_id, z.name, z.tagged, z.generation, self._records(z))
                for z in zones
            )
        except ClientError as exc:
            raise translate(exc, "ListResourceRecordSets") from exc
        return ConsumerActual(
            cluster_arn=cluster_arn,
            vpc_id=settings.vpc_id,
            endpoints=tuple(self.endpoints(cluster_arn, settings.vpc_id)),
            zones=with_records,
            conflicts=tuple(conflicts),
        )

    def zones(
        self, cluster_arn: str, settings: ConsumerSettings, zone_name: str | None
    ) -> tuple[list[ZoneState], list[str]]:
        """Our zones for the cluster among those associated with the VPC (no
        records yet), and foreign zones holding ``zone_name`` there."""
        try:
            summaries = zones_in_vpc(self._route53, settings.vpc_id, settings.region)
            tags = zone_tags(
                self._route53, [s["HostedZoneId"] for s in summaries], ZONE_TAGS_UNREADABLE
            )
            owned: list[ZoneState] = []
            conflicts: list[str] = []
            for summary in summaries:
                zone_id, name = summary["HostedZoneId"], normalize_dns(summary["Name"])
                own_tags = tags.get(zone_id, {})
                if tagged_ours(own_tags, cluster_arn, TAG_CONSUMER_VPC, settings.vpc_id):
                    owned.append(ZoneState(zone_id, name, True, _generation(own_tags)))
                elif name == zone_name:
                    prefix = zone_caller_reference_prefix(cluster_arn, settings.vpc_id, name)
                    if created_by_us(self._route53, zone_id, prefix):
                        owned.append(ZoneState(zone_id, name, False, None))
                    else:
                        conflicts.append(f"hosted zone {name} ({zone_id})")
        except ClientError as exc:
            raise translate(exc, "reading hosted zones") from exc
        return owned, conflicts

    def _records(self, zone: ZoneState) -> dict[tuple[str, str, str], RecordState]:
        records: dict[tuple[str, str, str], RecordState] = {}
        for raw in zone_records(self._route53, zone.zone_id, zone.name):
            alias = raw.get("AliasTarget")
            record = RecordState(
                name=normalize_dns(raw["Name"]),
                type=raw["Type"],
                set_identifier=raw.get("SetIdentifier"),
                weight=raw.get("Weight"),
                alias=AliasTarget(
                    alias["DNSName"], alias["HostedZoneId"], alias["EvaluateTargetHealth"]
                )
                if alias
                else None,
                raw=cast("dict[str, Any]", raw),
            )
            records[record.key] = record
        return records

    def endpoints(self, cluster_arn: str, vpc_id: str) -> list[EndpointState]:
        paginator = self._ec2.get_paginator("describe_vpc_endpoints")
        found: list[EndpointState] = []
        try:
            for page in paginator.paginate(
                Filters=[
                    {"Name": "vpc-id", "Values": [vpc_id]},
                    {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [PROJECT]},
                    {"Name": f"tag:{TAG_CLUSTER_ARN}", "Values": [cluster_arn]},
                ]
            ):
                for endpoint in page["VpcEndpoints"]:
                    tags = tag_dict(endpoint.get("Tags", []))
                    state = endpoint.get("State", "unknown")
                    # Filtered by the API, checked again here: never act on a filter's word.
                    if not is_owned(tags, cluster_arn) or state.lower() in GONE_ENDPOINT_STATES:
                        continue
                    broker = tags.get(TAG_BROKER_ID, "")
                    found.append(
                        EndpointState(
                            endpoint_id=endpoint["VpcEndpointId"],
                            service_name=endpoint.get("ServiceName", ""),
                            state=state,
                            subnet_ids=frozenset(endpoint.get("SubnetIds", [])),
                            security_group_ids=frozenset(
                                g["GroupId"] for g in endpoint.get("Groups", []) if "GroupId" in g
                            ),
                            dns=endpoint_dns(endpoint),
                            broker_id=int(broker) if broker.isdigit() else None,
                        )
                    )
        except ClientError as exc:
            raise translate(exc, "DescribeVpcEndpoints") from exc
        return found


# -- apply -----------------------------------------------------------------------
