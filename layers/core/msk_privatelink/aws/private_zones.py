"""Route 53 private zones and records for both sides.

The provider's zone (shared-nlb) and the consumer's zone are found the same
way: the zones associated with a VPC, their tags read in batches, and the
untagged one of ours recognised by its CallerReference prefix. Their records
are read and changed the same way too. What makes a zone "ours" (which tags,
which prefix) stays with each side.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from msk_privatelink import PROJECT
from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.dns import normalize_dns
from msk_privatelink.kernel.naming import is_owned

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import ChangeTypeDef, ResourceRecordSetOutputTypeDef

ZONE_TAGS_BATCH = 10  # ListTagsForResources takes at most 10 ids
RECORD_BATCH = 100  # changes per ChangeResourceRecordSets call


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def tag_dict(items: Sequence[Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items}


# -- zones -----------------------------------------------------------------------


def zones_in_vpc(route53: Route53Client, vpc_id: str, region: str) -> list[Any]:
    """Summaries of the private zones associated with the VPC, every page."""
    summaries: list[Any] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"VPCId": vpc_id, "VPCRegion": region}
        if token:
            kwargs["NextToken"] = token
        page = route53.list_hosted_zones_by_vpc(**kwargs)
        # Zones a service owns (Cloud Map, ...) are never ours.
        summaries += [
            s for s in page["HostedZoneSummaries"] if "OwningService" not in s.get("Owner", {})
        ]
        token = page.get("NextToken")
        if not token:
            return summaries


def zone_tags(
    route53: Route53Client,
    zone_ids: Sequence[str],
    unreadable: Collection[str] = frozenset(),
) -> dict[str, dict[str, str]]:
    """Tags by zone id, in batches. A batch refused with an error code in
    ``unreadable`` is read again zone by zone, and a zone refused that way is
    left out (it cannot be one of ours: we tagged ours and may read them)."""
    tags: dict[str, dict[str, str]] = {}
    for chunk in chunks(zone_ids, ZONE_TAGS_BATCH):
        try:
            sets = route53.list_tags_for_resources(
                ResourceType="hostedzone", ResourceIds=list(chunk)
            )["ResourceTagSets"]
        except ClientError as exc:
            if error_code(exc) not in unreadable:
                raise
            sets = []
            for zone_id in chunk:  # find the zone we may not read; skip it
                try:
                    sets.append(
                        route53.list_tags_for_resource(
                            ResourceType="hostedzone", ResourceId=zone_id
                        )["ResourceTagSet"]
                    )
                except ClientError as one:
                    if error_code(one) not in unreadable:
                        raise
        for tag_set in sets:
            tags[tag_set.get("ResourceId", "")] = tag_dict(tag_set.get("Tags", []))
    return tags


def tagged_ours(tags: dict[str, str], cluster_arn: str, vpc_tag: str, vpc_id: str) -> bool:
    """Tagged as ours for this cluster and this VPC."""
    return is_owned(tags, cluster_arn) and tags.get(vpc_tag) == vpc_id


def created_by_us(route53: Route53Client, zone_id: str, reference_prefix: str) -> bool:
    """Whether we created the zone, by its CallerReference: after a crash
    between create and tag, the only mark of ours it carries."""
    reference = route53.get_hosted_zone(Id=zone_id)["HostedZone"]["CallerReference"]
    return reference.startswith(reference_prefix)


# -- records ---------------------------------------------------------------------


def zone_records(
    route53: Route53Client, zone_id: str, zone_name: str
) -> Iterator[ResourceRecordSetOutputTypeDef]:
    """Every record of the zone but its own SOA and NS, as Route 53 returns it."""
    paginator = route53.get_paginator("list_resource_record_sets")
    for page in paginator.paginate(HostedZoneId=zone_id):
        for raw in page["ResourceRecordSets"]:
            if normalize_dns(raw["Name"]) == zone_name and raw["Type"] in ("SOA", "NS"):
                continue  # the zone's own records, not ours to manage
            yield raw


def alias_upsert(
    name: str,
    record_type: str,
    alias_zone_id: str,
    dns_name: str,
    *,
    evaluate_target_health: bool = False,
    weighted: tuple[str, int] | None = None,
) -> ChangeTypeDef:
    """An UPSERT of an alias record; ``weighted`` is (set identifier, weight)."""
    record: dict[str, Any] = {
        "Name": name,
        "Type": record_type,
        "AliasTarget": {
            "HostedZoneId": alias_zone_id,
            "DNSName": dns_name,
            "EvaluateTargetHealth": evaluate_target_health,
        },
    }
    if weighted is not None:
        record["SetIdentifier"], record["Weight"] = weighted
    return cast("ChangeTypeDef", {"Action": "UPSERT", "ResourceRecordSet": record})


def record_delete(raw: Mapping[str, Any]) -> ChangeTypeDef:
    """A DELETE of a record exactly as it was read (Route 53 wants every field)."""
    return cast("ChangeTypeDef", {"Action": "DELETE", "ResourceRecordSet": dict(raw)})


def change_records(
    route53: Route53Client, cluster_arn: str, zone_id: str, changes: list[ChangeTypeDef]
) -> None:
    """One atomic change batch. Deletes in a zone that is gone are done."""
    try:
        route53.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={"Comment": f"{PROJECT}: {cluster_arn}", "Changes": changes},
        )
    except ClientError as exc:
        if error_code(exc) == "NoSuchHostedZone" and all(c["Action"] == "DELETE" for c in changes):
            return  # the zone went, and its records with it
        # InvalidChangeBatch: the zone changed since it was read; re-read next run.
        raise translate(exc, f"ChangeResourceRecordSets {zone_id}") from exc


def change_records_in_batches(
    route53: Route53Client, cluster_arn: str, zone_id: str, changes: list[ChangeTypeDef]
) -> None:
    """Changes that need not travel together, RECORD_BATCH to a call."""
    for i in range(0, len(changes), RECORD_BATCH):
        change_records(route53, cluster_arn, zone_id, changes[i : i + RECORD_BATCH])
