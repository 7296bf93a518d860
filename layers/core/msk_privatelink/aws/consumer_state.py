"""Read the consumer side: our endpoints, our hosted zone and its records."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from .. import PROJECT
from ..consumer_sync import (
    TAG_CONSUMER_VPC,
    TAG_GENERATION,
    AliasTarget,
    ConsumerActual,
    ConsumerSettings,
    EndpointState,
    RecordState,
    ZoneState,
    normalize_dns,
    zone_caller_reference_prefix,
)
from ..naming import (
    TAG_BROKER_ID,
    TAG_CLUSTER_ARN,
    TAG_MANAGED_BY,
    is_owned,
)
from .errors import error_code, translate

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_route53 import Route53Client


logger = logging.getLogger(__name__)

ZONE_TAGS_BATCH = 10  # ListTagsForResources takes at most 10 ids
RECORD_BATCH = 100  # changes per ChangeResourceRecordSets call
GONE_ENDPOINT_STATES = frozenset({"deleting", "deleted"})
ENDPOINT_NOT_FOUND = frozenset({"InvalidVpcEndpoint.NotFound", "InvalidVpcEndpointId.NotFound"})
# A zone tag read refused for one zone (e.g. shared from another account).
ZONE_TAGS_UNREADABLE = frozenset({"AccessDenied", "NoSuchHostedZone", "InvalidInput"})


def _tags(items: Sequence[Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items}


def _generation(tags: dict[str, str]) -> int | None:
    raw = tags.get(TAG_GENERATION, "")
    return int(raw) if raw.isdigit() else None


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


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
            summaries = self._zones_in_vpc(settings.vpc_id, settings.region)
            tags = self._zone_tags([s["HostedZoneId"] for s in summaries])
            owned: list[ZoneState] = []
            conflicts: list[str] = []
            for summary in summaries:
                zone_id, name = summary["HostedZoneId"], normalize_dns(summary["Name"])
                zone_tags = tags.get(zone_id, {})
                if is_owned(zone_tags, cluster_arn) and (
                    zone_tags.get(TAG_CONSUMER_VPC) == settings.vpc_id
                ):
                    owned.append(ZoneState(zone_id, name, True, _generation(zone_tags)))
                elif name == zone_name:
                    reference = self._route53.get_hosted_zone(Id=zone_id)["HostedZone"][
                        "CallerReference"
                    ]
                    prefix = zone_caller_reference_prefix(cluster_arn, settings.vpc_id, name)
                    if reference.startswith(prefix):
                        owned.append(ZoneState(zone_id, name, False, None))
                    else:
                        conflicts.append(f"hosted zone {name} ({zone_id})")
        except ClientError as exc:
            raise translate(exc, "reading hosted zones") from exc
        return owned, conflicts

    def _zones_in_vpc(self, vpc_id: str, region: str) -> list[Any]:
        summaries: list[Any] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"VPCId": vpc_id, "VPCRegion": region}
            if token:
                kwargs["NextToken"] = token
            page = self._route53.list_hosted_zones_by_vpc(**kwargs)
            # Zones a service owns (Cloud Map, ...) are never ours.
            summaries += [
                s for s in page["HostedZoneSummaries"] if "OwningService" not in s.get("Owner", {})
            ]
            token = page.get("NextToken")
            if not token:
                return summaries

    def _zone_tags(self, zone_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        tags: dict[str, dict[str, str]] = {}
        for chunk in _chunks(zone_ids, ZONE_TAGS_BATCH):
            try:
                sets = self._route53.list_tags_for_resources(
                    ResourceType="hostedzone", ResourceIds=list(chunk)
                )["ResourceTagSets"]
            except ClientError as exc:
                if error_code(exc) not in ZONE_TAGS_UNREADABLE:
                    raise
                sets = []
                for zone_id in chunk:  # find the zone we may not read; skip it
                    try:
                        sets.append(
                            self._route53.list_tags_for_resource(
                                ResourceType="hostedzone", ResourceId=zone_id
                            )["ResourceTagSet"]
                        )
                    except ClientError as one:
                        if error_code(one) not in ZONE_TAGS_UNREADABLE:
                            raise
            for tag_set in sets:
                tags[tag_set.get("ResourceId", "")] = _tags(tag_set.get("Tags", []))
        return tags

    def _records(self, zone: ZoneState) -> dict[tuple[str, str, str], RecordState]:
        records: dict[tuple[str, str, str], RecordState] = {}
        paginator = self._route53.get_paginator("list_resource_record_sets")
        for page in paginator.paginate(HostedZoneId=zone.zone_id):
            for raw in page["ResourceRecordSets"]:
                name = normalize_dns(raw["Name"])
                if name == zone.name and raw["Type"] in ("SOA", "NS"):
                    continue  # the zone's own records, not ours to manage
                alias = raw.get("AliasTarget")
                record = RecordState(
                    name=name,
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
                    tags = _tags(endpoint.get("Tags", []))
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
