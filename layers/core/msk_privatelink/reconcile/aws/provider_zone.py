"""shared-nlb's provider hosted zone: read and write it on Route 53.

A private zone named for the cluster's own domain, associated with the
cluster VPC, holding an alias per broker name to the shared NLB: clients in
the cluster VPC then resolve broker names to the NLB and follow the
re-advertised ports. Only a zone tagged as ours for this cluster and VPC (or,
after a crash between create and tag, carrying our CallerReference prefix) is
ever modified; any other zone holding the domain is reported and left alone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from msk_privatelink import PROJECT
from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.aws.private_zones import (
    alias_upsert,
    change_records,
    change_records_in_batches,
    created_by_us,
    record_delete,
    tagged_ours,
    zone_records,
    zone_tags,
    zones_in_vpc,
)
from msk_privatelink.kernel.dns import normalize_dns
from msk_privatelink.kernel.errors import AwsCallError
from msk_privatelink.kernel.naming import TAG_PROVIDER_VPC, provider_zone_caller_reference_prefix
from msk_privatelink.reconcile.plan import Change
from msk_privatelink.reconcile.resources import (
    AliasRecordSpec,
    AliasRecordState,
    HostedZoneSpec,
    HostedZoneState,
)

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import ChangeTypeDef

BROKER_LABEL_RE = re.compile(r"b-(\d+)\.")

# (DNS name, canonical hosted zone id) of a load balancer, by its name.
AliasLookup = Callable[[str], tuple[str, str]]


def _broker_of(name: str) -> int | None:
    match = BROKER_LABEL_RE.match(name)
    return int(match.group(1)) if match else None


class ProviderZoneReader:
    def __init__(self, route53: Route53Client) -> None:
        self._route53 = route53

    def read(
        self,
        cluster_arn: str,
        vpc_id: str,
        region: str,
        zone_name: str | None,
        trusted_zone_id: str | None = None,
    ) -> tuple[tuple[HostedZoneState, ...], frozenset[str]]:
        """Our zones in the VPC with their records, and the names of foreign
        zones there that hold ``zone_name``.

        ``trusted_zone_id`` (the marker on our load balancer): when that zone
        is associated with the VPC under ``zone_name``, it is ours and no zone
        tags are read (no other private zone of that name can be there)."""
        try:
            summaries = zones_in_vpc(self._route53, vpc_id, region)
            trusted = [
                s
                for s in summaries
                if s["HostedZoneId"] == trusted_zone_id
                and zone_name is not None
                and normalize_dns(s["Name"]) == zone_name
            ]
            if trusted:
                zone_id = trusted[0]["HostedZoneId"]
                assert zone_name is not None
                zone = HostedZoneState(zone_id, zone_name, True, self._records(zone_id, zone_name))
                return (zone,), frozenset()
            tags = zone_tags(self._route53, [s["HostedZoneId"] for s in summaries])
            zones: list[HostedZoneState] = []
            foreign: set[str] = set()
            for summary in summaries:
                zone_id, name = summary["HostedZoneId"], normalize_dns(summary["Name"])
                own_tags = tags.get(zone_id, {})
                if tagged_ours(own_tags, cluster_arn, TAG_PROVIDER_VPC, vpc_id):
                    zones.append(HostedZoneState(zone_id, name, True, self._records(zone_id, name)))
                elif name == zone_name:
                    prefix = provider_zone_caller_reference_prefix(cluster_arn, vpc_id, name)
                    if created_by_us(self._route53, zone_id, prefix) and not own_tags:
                        zones.append(
                            HostedZoneState(zone_id, name, False, self._records(zone_id, name))
                        )
                    else:
                        foreign.add(name)
        except ClientError as exc:
            raise translate(exc, "reading the provider hosted zone") from exc
        return tuple(sorted(zones, key=lambda z: z.zone_id)), frozenset(foreign)

    def _records(self, zone_id: str, zone_name: str) -> dict[str, AliasRecordState]:
        records: dict[str, AliasRecordState] = {}
        for raw in zone_records(self._route53, zone_id, zone_name):
            name = normalize_dns(raw["Name"])
            alias = raw.get("AliasTarget")
            records[name] = AliasRecordState(
                name=name,
                type=raw["Type"],
                alias_dns_name=normalize_dns(alias["DNSName"]) if alias else None,
                broker_id=_broker_of(name),
                raw=cast("dict[str, Any]", raw),
            )
        return records


class ProviderZoneWriter:
    """The Route 53 steps of a plan. Idempotent like the rest of the applier."""

    def __init__(self, route53: Callable[[], Route53Client] | None) -> None:
        # A factory: nlb-per-broker never builds the Route 53 client.
        self._route53 = route53
        self._cluster_arn = ""
        self._zone_ids: dict[str, str] = {}

    def start(self, cluster_arn: str, zones: Sequence[HostedZoneState]) -> None:
        self._cluster_arn = cluster_arn
        self._zone_ids = {z.name: z.zone_id for z in zones}

    @property
    def _client(self) -> Route53Client:
        if self._route53 is None:
            raise AwsCallError("no Route 53 client for the provider hosted zone")
        return self._route53()

    def create_zone(self, change: Change) -> str:
        """Create (or adopt) and tag the zone; return its id."""
        spec = change.spec
        assert isinstance(spec, HostedZoneSpec)
        zone_id = change.resource_id
        if zone_id is None:
            prefix = provider_zone_caller_reference_prefix(
                self._cluster_arn, spec.vpc_id, spec.name
            )
            try:
                created = self._client.create_hosted_zone(
                    Name=spec.name,
                    # Unique per attempt; botocore's own retries repeat it, so
                    # Route 53 creates the zone once. A run after a crash finds
                    # the zone (tagged, or by this prefix) and does not create.
                    CallerReference=f"{prefix}{uuid.uuid4().hex[:12]}",
                    VPC={"VPCRegion": cast("Any", spec.vpc_region), "VPCId": spec.vpc_id},
                    HostedZoneConfig={
                        "PrivateZone": True,
                        "Comment": f"{PROJECT}: {self._cluster_arn} (provider)",
                    },
                )
            except ClientError as exc:
                raise translate(exc, f"CreateHostedZone {spec.name}") from exc
            zone_id = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
        self._zone_ids[spec.name] = zone_id
        try:
            self._client.change_tags_for_resource(
                ResourceType="hostedzone",
                ResourceId=zone_id,
                AddTags=[{"Key": k, "Value": v} for k, v in spec.tags],
            )
        except ClientError as exc:
            raise translate(exc, f"ChangeTagsForResource {zone_id}") from exc
        return zone_id

    def upsert_records(self, batch: Sequence[Change], alias_of: AliasLookup) -> None:
        """One atomic change batch per zone for every record the plan upserts."""
        by_zone: dict[str, list[ChangeTypeDef]] = {}
        for change in batch:
            spec = change.spec
            assert isinstance(spec, AliasRecordSpec)
            zone_id = change.resource_id or self._zone_ids.get(spec.zone)
            if zone_id is None:
                raise AwsCallError(f"hosted zone {spec.zone} is not known; the next run retries")
            dns_name, alias_zone = alias_of(spec.load_balancer)
            by_zone.setdefault(zone_id, []).append(
                alias_upsert(spec.name, "A", alias_zone, dns_name)
            )
        for zone_id, changes in by_zone.items():
            change_records_in_batches(self._client, self._cluster_arn, zone_id, changes)

    def delete_record(self, change: Change) -> None:
        assert change.resource_id is not None
        assert change.record is not None
        change_records(
            self._client, self._cluster_arn, change.resource_id, [record_delete(change.record)]
        )

    def delete_zone(self, change: Change) -> None:
        assert change.resource_id is not None
        try:
            self._client.delete_hosted_zone(Id=change.resource_id)
        except ClientError as exc:
            if error_code(exc) == "NoSuchHostedZone":
                return
            if error_code(exc) == "HostedZoneNotEmpty":
                raise AwsCallError(
                    f"hosted zone {change.key} still holds records; the next run retries"
                ) from exc
            raise translate(exc, f"DeleteHostedZone {change.key}") from exc
