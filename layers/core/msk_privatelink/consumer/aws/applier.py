"""Apply a consumer plan in order; every step idempotent."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from itertools import groupby
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink import PROJECT
from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.consumer.sync import (
    RECORD_TYPE,
    RECORD_WRITE_STEPS,
    TAG_CONSUMER_VPC,
    TAG_GENERATION,
    AliasTarget,
    ConsumerActual,
    ConsumerChange,
    ConsumerPlan,
    ConsumerStep,
    RecordSpec,
    zone_caller_reference_prefix,
)
from msk_privatelink.kernel.dns import normalize_dns
from msk_privatelink.kernel.errors import AwsCallError, TerminalError
from msk_privatelink.kernel.naming import (
    TAG_BROKER_ID,
    TAG_CLUSTER_ARN,
    TAG_MANAGED_BY,
    client_token,
    cluster_token,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import ChangeTypeDef


from msk_privatelink.aws.private_zones import (
    RECORD_BATCH,
    alias_upsert,
    change_records,
    change_records_in_batches,
    record_delete,
)
from msk_privatelink.consumer.aws.state import (
    ENDPOINT_NOT_FOUND,
    GONE_ENDPOINT_STATES,
    endpoint_dns,
)

logger = logging.getLogger(__name__)

# States an endpoint never leaves for a serving one: a create answered with
# such an endpoint got an old one back for its token.
DEAD_ENDPOINT_STATES = GONE_ENDPOINT_STATES | {"rejected", "failed", "expired"}
# Dead endpoints one request may walk past: each was made by this very request
# and removed since (by hand, or rejected and replaced).
MAX_TOKEN_REUSES = 20


class ClientTokensExhaustedError(TerminalError):
    """Every client token of this request names an endpoint that cannot serve;
    retrying the request walks the same chain, a new request starts afresh."""


def _batch_key(index: int, change: ConsumerChange) -> tuple[str, str]:
    """Changes applied together in one call: record writes per zone (one
    atomic change batch), record deletes per zone, endpoint deletes."""
    if change.step in RECORD_WRITE_STEPS:
        return ("write-records", change.zone_name or "")
    if change.step is ConsumerStep.DELETE_RECORD:
        return ("delete-records", change.resource_id or "")
    if change.step is ConsumerStep.DELETE_ENDPOINT:
        return ("delete-endpoints", "")
    return ("single", str(index))


def _record_name(change: ConsumerChange) -> str:
    if change.record is not None:
        return change.record.name
    return normalize_dns(str(change.raw_record.get("Name", "")))


def _weighting(spec: RecordSpec) -> tuple[str, int] | None:
    """(set identifier, weight) of a weighted record, weight 1 when unset."""
    if spec.set_identifier is None:
        return None
    return spec.set_identifier, spec.weight if spec.weight is not None else 1


class ConsumerApplier:
    """Applies a consumer plan in order; the first failure ends the run (the
    next delivery re-reads and plans again). Every step is idempotent."""

    def __init__(
        self,
        ec2: EC2Client,
        route53: Route53Client,
        on_change: Callable[[ConsumerChange], None] | None = None,
    ) -> None:
        self._ec2 = ec2
        self._route53 = route53
        self._on_change = on_change
        self._cluster_arn = ""
        self._vpc_id = ""
        self._generation = 0
        self._attempt = ""
        self._zone_ids: dict[str, str] = {}
        self._targets: dict[str, AliasTarget] = {}

    def apply(
        self, plan: ConsumerPlan, actual: ConsumerActual, generation: int, attempt: str = ""
    ) -> list[ConsumerChange]:
        """``attempt`` names the request being served (the same for a retry
        of it after a crash, different for the next request): it goes into
        every endpoint's client token, so a later attempt never gets back an
        endpoint an earlier one made (and the provider rejected since)."""
        self._cluster_arn = actual.cluster_arn
        self._vpc_id = actual.vpc_id
        self._generation = generation
        self._attempt = attempt
        self._zone_ids = {z.name: z.zone_id for z in actual.zones}
        self._targets = {}
        applied: list[ConsumerChange] = []
        indexed = list(enumerate(plan.changes))
        for _, group in groupby(indexed, key=lambda ic: _batch_key(*ic)):
            batch = [change for _, change in group]
            self._run(batch)
            for change in batch:
                applied.append(change)
                if self._on_change is not None:
                    self._on_change(change)
        return applied

    def _run(self, batch: list[ConsumerChange]) -> None:
        step = batch[0].step
        if step in RECORD_WRITE_STEPS:
            self._write_records(batch)
        elif step is ConsumerStep.DELETE_RECORD:
            self._delete_records(batch)
        elif step is ConsumerStep.DELETE_ENDPOINT:
            self._delete_endpoints(batch)
        elif step is ConsumerStep.CREATE_ENDPOINT:
            self._create_endpoint(batch[0])
        elif step is ConsumerStep.MODIFY_ENDPOINT:
            self._modify_endpoint(batch[0])
        elif step is ConsumerStep.CREATE_ZONE:
            self._create_zone(batch[0])
        elif step is ConsumerStep.TAG_ZONE:
            assert batch[0].resource_id is not None
            self._tag_zone(batch[0].resource_id)
        elif step is ConsumerStep.DELETE_ZONE:
            self._delete_zone(batch[0])

    # -- endpoints ---------------------------------------------------------------

    def _create_endpoint(self, change: ConsumerChange) -> None:
        spec = change.endpoint
        assert spec is not None
        token_parts = [
            self._cluster_arn,
            spec.vpc_id,
            spec.service_name,
            ",".join(sorted(spec.subnet_ids)),
            ",".join(sorted(spec.security_group_ids)),
            *change.replaces,
            *([self._attempt] if self._attempt else []),
        ]
        kwargs: dict[str, Any] = {
            "VpcEndpointType": "Interface",
            "VpcId": spec.vpc_id,
            "ServiceName": spec.service_name,
            "SubnetIds": sorted(spec.subnet_ids),
            # Names come from our own zone, not from the service's private DNS.
            "PrivateDnsEnabled": False,
            "TagSpecifications": [
                {
                    "ResourceType": "vpc-endpoint",
                    "Tags": [
                        {"Key": TAG_MANAGED_BY, "Value": PROJECT},
                        {"Key": TAG_CLUSTER_ARN, "Value": self._cluster_arn},
                        *(
                            [{"Key": TAG_BROKER_ID, "Value": str(spec.broker_id)}]
                            if spec.broker_id is not None
                            else []
                        ),
                        {
                            "Key": "Name",
                            "Value": f"mpl-{cluster_token(self._cluster_arn)}-"
                            + (f"b{spec.broker_id}" if spec.broker_id is not None else "shared"),
                        },
                    ],
                }
            ],
        }
        if spec.security_group_ids:
            kwargs["SecurityGroupIds"] = sorted(spec.security_group_ids)
        if spec.service_region:
            kwargs["ServiceRegion"] = spec.service_region
        try:
            # Same request, same token: a retried create returns the first endpoint.
            created = self._ec2.create_vpc_endpoint(
                ClientToken=client_token(*token_parts), **kwargs
            )["VpcEndpoint"]
            reused = 0
            while created.get("State", "").lower() in DEAD_ENDPOINT_STATES:
                # EC2 answers a token it has seen with that endpoint as it is
                # now: one deleted, rejected or failed since can never serve.
                if reused == MAX_TOKEN_REUSES:
                    raise ClientTokensExhaustedError(
                        f"CreateVpcEndpoint {spec.service_name}: {reused + 1} client tokens of "
                        "this request named endpoints that can no longer serve; a new request "
                        "(onboarding again, or the next view) creates afresh"
                    )
                token_parts.append(created["VpcEndpointId"])
                created = self._ec2.create_vpc_endpoint(
                    ClientToken=client_token(*token_parts), **kwargs
                )["VpcEndpoint"]
                reused += 1
        except ClientError as exc:
            raise translate(exc, f"CreateVpcEndpoint {spec.service_name}") from exc
        target = endpoint_dns(created)
        if target is not None:
            self._targets[spec.service_name] = target

    def _modify_endpoint(self, change: ConsumerChange) -> None:
        assert change.resource_id is not None
        kwargs: dict[str, Any] = {"VpcEndpointId": change.resource_id}
        for param, values in (
            ("AddSubnetIds", change.add),
            ("RemoveSubnetIds", change.remove),
            ("AddSecurityGroupIds", change.add_groups),
            ("RemoveSecurityGroupIds", change.remove_groups),
        ):
            if values:
                kwargs[param] = sorted(values)
        try:
            self._ec2.modify_vpc_endpoint(**kwargs)
        except ClientError as exc:
            raise translate(exc, f"ModifyVpcEndpoint {change.key}") from exc

    def _delete_endpoints(self, batch: list[ConsumerChange]) -> None:
        ids = sorted({c.resource_id for c in batch if c.resource_id})
        try:
            result = self._ec2.delete_vpc_endpoints(VpcEndpointIds=ids)
        except ClientError as exc:
            if error_code(exc) in ENDPOINT_NOT_FOUND:
                return
            raise translate(exc, f"DeleteVpcEndpoints {', '.join(ids)}") from exc
        for failure in result.get("Unsuccessful", []):
            code = failure.get("Error", {}).get("Code", "")
            if code not in ENDPOINT_NOT_FOUND:
                raise AwsCallError(
                    f"endpoint {failure.get('ResourceId')} was not deleted: {code}: "
                    f"{failure.get('Error', {}).get('Message', '')}"
                )

    # -- zone ----------------------------------------------------------------------

    def _create_zone(self, change: ConsumerChange) -> None:
        zone = change.zone
        assert zone is not None
        prefix = zone_caller_reference_prefix(self._cluster_arn, zone.vpc_id, zone.name)
        # Deterministic per event: botocore's retries of this call repeat it,
        # so Route 53 creates the zone once. A run after a crash does not
        # create at all: it finds the zone (tagged, or by this prefix) first.
        reference = f"{prefix}g{self._generation}"
        kwargs: dict[str, Any] = {
            "Name": zone.name,
            "VPC": {"VPCRegion": zone.vpc_region, "VPCId": zone.vpc_id},
            "HostedZoneConfig": {"PrivateZone": True, "Comment": f"{PROJECT}: {self._cluster_arn}"},
        }
        try:
            try:
                created = self._route53.create_hosted_zone(CallerReference=reference, **kwargs)
            except ClientError as exc:
                if error_code(exc) != "HostedZoneAlreadyExists":
                    raise
                # The reference was used by a zone that is gone (we read none):
                # Route 53 never accepts a reference twice.
                reference = f"{reference}-{uuid.uuid4().hex[:12]}"
                created = self._route53.create_hosted_zone(CallerReference=reference, **kwargs)
        except ClientError as exc:
            raise translate(exc, f"CreateHostedZone {zone.name}") from exc
        zone_id = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
        self._zone_ids[zone.name] = zone_id
        self._tag_zone(zone_id)

    def _tag_zone(self, zone_id: str) -> None:
        try:
            self._route53.change_tags_for_resource(
                ResourceType="hostedzone",
                ResourceId=zone_id,
                AddTags=[
                    {"Key": TAG_MANAGED_BY, "Value": PROJECT},
                    {"Key": TAG_CLUSTER_ARN, "Value": self._cluster_arn},
                    {"Key": TAG_CONSUMER_VPC, "Value": self._vpc_id},
                ],
            )
        except ClientError as exc:
            raise translate(exc, f"ChangeTagsForResource {zone_id}") from exc

    def _delete_zone(self, change: ConsumerChange) -> None:
        assert change.resource_id is not None
        try:
            self._route53.delete_hosted_zone(Id=change.resource_id)
        except ClientError as exc:
            if error_code(exc) == "NoSuchHostedZone":
                return
            raise translate(exc, f"DeleteHostedZone {change.key}") from exc

    # -- records -------------------------------------------------------------------

    def _zone_id(self, change: ConsumerChange) -> str:
        zone_id = change.resource_id or self._zone_ids.get(change.zone_name or "")
        if zone_id is None:
            raise AwsCallError(f"hosted zone {change.zone_name} is not known; the next run retries")
        return zone_id

    def _alias(self, change: ConsumerChange) -> AliasTarget:
        assert change.record is not None
        target = change.target or self._targets.get(change.record.service_name)
        if target is None:
            raise AwsCallError(
                f"endpoint for {change.record.service_name} has no DNS name yet; "
                "the next run retries"
            )
        return target

    def _write_records(self, batch: list[ConsumerChange]) -> None:
        zone_id = self._zone_id(batch[0])
        # One atomic batch per group of names: a conflicting record and its
        # replacement always travel together.
        ordered = sorted(batch, key=lambda c: (_record_name(c), c.step, c.key))
        chunk: list[ChangeTypeDef] = []
        for _, same_name in groupby(ordered, key=_record_name):
            changes = [self._record_change(c) for c in same_name]
            if chunk and len(chunk) + len(changes) > RECORD_BATCH:
                change_records(self._route53, self._cluster_arn, zone_id, chunk)
                chunk = []
            chunk += changes
        if chunk:
            change_records(self._route53, self._cluster_arn, zone_id, chunk)

    def _record_change(self, change: ConsumerChange) -> ChangeTypeDef:
        if change.step is ConsumerStep.REPLACE_RECORD:
            return record_delete(change.raw_record)
        spec = change.record
        assert spec is not None
        alias = self._alias(change)
        return alias_upsert(
            spec.name,
            RECORD_TYPE,
            alias.hosted_zone_id,
            alias.dns_name,
            evaluate_target_health=alias.evaluate_target_health,
            weighted=_weighting(spec),
        )

    def _delete_records(self, batch: list[ConsumerChange]) -> None:
        zone_id = self._zone_id(batch[0])
        changes = [record_delete(c.raw_record) for c in batch]
        change_records_in_batches(self._route53, self._cluster_arn, zone_id, changes)

    def record_generation(self, zone_id: str, generation: int) -> None:
        try:
            self._route53.change_tags_for_resource(
                ResourceType="hostedzone",
                ResourceId=zone_id,
                AddTags=[{"Key": TAG_GENERATION, "Value": str(generation)}],
            )
        except ClientError as exc:
            raise translate(exc, f"ChangeTagsForResource {zone_id}") from exc


# -- one sync --------------------------------------------------------------------
