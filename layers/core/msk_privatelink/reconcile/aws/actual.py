"""Read the actual state: only resources tagged as ours for this cluster.

Reads are batched: one paginated listing per kind, tags 20 ARNs per call, then
the floor the APIs allow (target health per target group, listeners per load
balancer, permissions per endpoint service).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from msgspec.structs import replace

from msk_privatelink.aws.errors import translate
from msk_privatelink.kernel.naming import (
    TAG_BROKER_ID,
    TAG_LB_ATTRIBUTES,
    TAG_PRINCIPALS_DIGEST,
    TAG_PROVIDER_ZONE,
    is_owned,
    name_prefix,
    principals_digest,
)
from msk_privatelink.reconcile.resources import (
    LOAD_BALANCER_ATTRIBUTES,
    ActualState,
    EndpointServiceState,
    ListenerState,
    LoadBalancerState,
    Target,
    TargetGroupState,
    attributes_token,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

DESCRIBE_TAGS_BATCH = 20
# nlb-per-broker's "-b<id>-<port>" and shared-nlb's "-s<id>-<port>".
TARGET_GROUP_NAME_RE = re.compile(r"-[bs](\d+)-\d+$")
# Endpoint services on their way out are gone for planning purposes; their
# load balancer is deleted once the service deletion has finished.
GONE_SERVICE_STATES = frozenset({"Deleting", "Deleted"})
# A Supported Region being removed is no longer offered.
LIVE_REGION_STATES = frozenset({"Pending", "Available"})
# Targets in these states are on their way out and no longer serve traffic.
GONE_TARGET_STATES = frozenset({"draining"})


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _broker_id(tags: dict[str, str]) -> int | None:
    raw = tags.get(TAG_BROKER_ID)
    return int(raw) if raw is not None and raw.isdigit() else None


def _broker_id_from_name(name: str) -> int | None:
    match = TARGET_GROUP_NAME_RE.search(name)
    return int(match.group(1)) if match else None


class ActualStateReader:
    def __init__(self, elbv2: ElasticLoadBalancingv2Client, ec2: EC2Client) -> None:
        self._elbv2 = elbv2
        self._ec2 = ec2

    def read(
        self,
        cluster_arn: str,
        expected_principals: frozenset[str] | None = None,
        *,
        read_attributes: bool = False,
    ) -> ActualState:
        """Owned resources of the cluster. With ``expected_principals``, a
        service whose digest tag matches them is not asked for its permissions.
        With ``read_attributes``, each load balancer's attributes are read
        rather than trusted from the marker tag the applier sets after
        applying them: the marker cannot see a change made by hand."""
        prefix = name_prefix(cluster_arn)
        conflicts: list[str] = []
        try:
            lbs, lb_conflicts, region_nlbs = self._owned_load_balancers(cluster_arn, prefix)
            if read_attributes:
                lbs = [self._with_read_attributes(lb) for lb in lbs]
            conflicts.extend(lb_conflicts)
            tgs, tg_conflicts, tg_names_by_arn, region_tgs = self._owned_target_groups(
                cluster_arn, prefix, frozenset(lb.arn for lb in lbs)
            )
            conflicts.extend(tg_conflicts)
            listeners = self._listeners(lbs, tg_names_by_arn)
        except ClientError as exc:
            raise translate(exc, "reading load balancers") from exc
        try:
            services = self._endpoint_services(
                cluster_arn, lbs, cluster_arn.split(":")[3], expected_principals
            )
        except ClientError as exc:
            raise translate(exc, "reading endpoint services") from exc
        return ActualState(
            cluster_arn=cluster_arn,
            load_balancers={lb.name: lb for lb in lbs},
            target_groups={tg.name: tg for tg in tgs},
            listeners={listener.key: listener for listener in listeners},
            endpoint_services={svc.key: svc for svc in services},
            conflicts=tuple(sorted(conflicts)),
            region_network_load_balancers=region_nlbs,
            region_target_groups=region_tgs,
        )

    def _tags(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        tags: dict[str, dict[str, str]] = {}
        for chunk in _chunks(arns, DESCRIBE_TAGS_BATCH):
            for desc in self._elbv2.describe_tags(ResourceArns=list(chunk))["TagDescriptions"]:
                tags[desc["ResourceArn"]] = {t["Key"]: t.get("Value", "") for t in desc["Tags"]}
        return tags

    def _owned_load_balancers(
        self, cluster_arn: str, prefix: str
    ) -> tuple[list[LoadBalancerState], list[str], int]:
        candidates: list[Any] = []
        network = 0
        for page in self._elbv2.get_paginator("describe_load_balancers").paginate():
            network += sum(1 for lb in page["LoadBalancers"] if lb.get("Type") == "network")
            candidates.extend(
                lb for lb in page["LoadBalancers"] if lb["LoadBalancerName"].startswith(prefix)
            )
        tags = self._tags([lb["LoadBalancerArn"] for lb in candidates])
        owned: list[LoadBalancerState] = []
        conflicts: list[str] = []
        for lb in candidates:
            lb_tags = tags.get(lb["LoadBalancerArn"], {})
            if not is_owned(lb_tags, cluster_arn):
                conflicts.append(lb["LoadBalancerName"])
                continue
            owned.append(
                LoadBalancerState(
                    name=lb["LoadBalancerName"],
                    arn=lb["LoadBalancerArn"],
                    broker_id=_broker_id(lb_tags),
                    subnet_ids=frozenset(
                        az["SubnetId"] for az in lb.get("AvailabilityZones", []) if "SubnetId" in az
                    ),
                    attributes_token=lb_tags.get(TAG_LB_ATTRIBUTES),
                    dns_name=lb.get("DNSName", ""),
                    state=lb.get("State", {}).get("Code", "unknown"),
                    canonical_zone_id=lb.get("CanonicalHostedZoneId", ""),
                    zone_marker=lb_tags.get(TAG_PROVIDER_ZONE),
                )
            )
        return owned, conflicts, network

    def _with_read_attributes(self, lb: LoadBalancerState) -> LoadBalancerState:
        """``lb`` with the token of the attributes it really has, for the keys
        this project manages (others are not ours to judge)."""
        answer = self._elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb.arn)
        values = {a["Key"]: a.get("Value", "") for a in answer["Attributes"] if "Key" in a}
        managed = tuple((k, values[k]) for k, _ in LOAD_BALANCER_ATTRIBUTES if k in values)
        return replace(lb, attributes_token=attributes_token(managed))

    def _owned_target_groups(
        self, cluster_arn: str, prefix: str, owned_lb_arns: frozenset[str]
    ) -> tuple[list[TargetGroupState], list[str], dict[str, str], int]:
        candidates: list[Any] = []
        every = 0
        for page in self._elbv2.get_paginator("describe_target_groups").paginate():
            every += len(page["TargetGroups"])
            candidates.extend(
                tg for tg in page["TargetGroups"] if tg["TargetGroupName"].startswith(prefix)
            )
        # A target group serving only our own load balancers is ours (only our
        # listeners point at it); the rest must prove it with tags. Deletes
        # always check tags first (see the applier).
        attached = [
            tg
            for tg in candidates
            if tg.get("LoadBalancerArns") and set(tg["LoadBalancerArns"]) <= owned_lb_arns
        ]
        attached_arns = {tg["TargetGroupArn"] for tg in attached}
        tags = self._tags(
            [tg["TargetGroupArn"] for tg in candidates if tg["TargetGroupArn"] not in attached_arns]
        )
        owned: list[TargetGroupState] = []
        conflicts: list[str] = []
        names_by_arn: dict[str, str] = {}
        for tg in candidates:
            arn = tg["TargetGroupArn"]
            verified = arn not in attached_arns
            if verified and not is_owned(tags.get(arn, {}), cluster_arn):
                conflicts.append(tg["TargetGroupName"])
                continue
            names_by_arn[arn] = tg["TargetGroupName"]
            health = self._elbv2.describe_target_health(TargetGroupArn=arn)
            targets = frozenset(
                Target(d["Target"]["Id"], int(d["Target"].get("Port", tg["Port"])))
                for d in health["TargetHealthDescriptions"]
                if d.get("TargetHealth", {}).get("State") not in GONE_TARGET_STATES
            )
            owned.append(
                TargetGroupState(
                    name=tg["TargetGroupName"],
                    arn=arn,
                    broker_id=_broker_id(tags[arn])
                    if verified
                    else _broker_id_from_name(tg["TargetGroupName"]),
                    port=int(tg["Port"]),
                    vpc_id=tg.get("VpcId", ""),
                    targets=targets,
                    tags_verified=verified,
                )
            )
        return owned, conflicts, names_by_arn, every

    def _listeners(
        self, lbs: list[LoadBalancerState], tg_names_by_arn: dict[str, str]
    ) -> list[ListenerState]:
        listeners: list[ListenerState] = []
        paginator = self._elbv2.get_paginator("describe_listeners")
        for lb in lbs:
            for page in paginator.paginate(LoadBalancerArn=lb.arn):
                for listener in page["Listeners"]:
                    forward = [
                        a for a in listener.get("DefaultActions", []) if a.get("Type") == "forward"
                    ]
                    tg_arn = forward[0].get("TargetGroupArn") if forward else None
                    listeners.append(
                        ListenerState(
                            load_balancer=lb.name,
                            port=int(listener["Port"]),
                            arn=listener["ListenerArn"],
                            target_group=tg_names_by_arn.get(tg_arn) if tg_arn else None,
                        )
                    )
        return listeners

    def _endpoint_services(
        self,
        cluster_arn: str,
        lbs: list[LoadBalancerState],
        home_region: str,
        expected_principals: frozenset[str] | None,
    ) -> list[EndpointServiceState]:
        lb_names_by_arn = {lb.arn: lb.name for lb in lbs}
        services: list[EndpointServiceState] = []
        seen: set[str] = set()
        paginator = self._ec2.get_paginator("describe_vpc_endpoint_service_configurations")
        # Filtering on tags client-side: one paginated listing either way, and
        # it behaves the same on every endpoint that speaks the EC2 API.
        for page in paginator.paginate():
            for svc in page.get("ServiceConfigurations", []):
                tags = {t["Key"]: t.get("Value", "") for t in svc.get("Tags", [])}
                if not is_owned(tags, cluster_arn):
                    continue
                if svc.get("ServiceState") in GONE_SERVICE_STATES:
                    continue
                lb_names = [
                    lb_names_by_arn[arn]
                    for arn in svc.get("NetworkLoadBalancerArns", [])
                    if arn in lb_names_by_arn
                ]
                key = lb_names[0] if lb_names else f"orphan:{svc['ServiceId']}"
                if key in seen:
                    # A second service for one load balancer is a duplicate to remove.
                    key = f"duplicate:{svc['ServiceId']}"
                seen.add(key)
                digest = tags.get(TAG_PRINCIPALS_DIGEST)
                if expected_principals is not None and digest == principals_digest(
                    expected_principals
                ):
                    principals = expected_principals
                else:
                    principals = self._principals(svc["ServiceId"])
                # The home Region is always listed and always implied.
                regions = frozenset(
                    r["Region"]
                    for r in svc.get("SupportedRegions", [])
                    if "Region" in r and r.get("ServiceState", "Available") in LIVE_REGION_STATES
                ) - {home_region}
                services.append(
                    EndpointServiceState(
                        key=key,
                        service_id=svc["ServiceId"],
                        service_name=svc.get("ServiceName", ""),
                        broker_id=_broker_id(tags),
                        acceptance_required=bool(svc.get("AcceptanceRequired", True)),
                        allowed_principals=principals,
                        supported_regions=regions,
                        state=svc.get("ServiceState", "unknown"),
                        principals_recorded=digest == principals_digest(principals),
                    )
                )
        return services

    def _principals(self, service_id: str) -> frozenset[str]:
        paginator = self._ec2.get_paginator("describe_vpc_endpoint_service_permissions")
        return frozenset(
            p["Principal"]
            for page in paginator.paginate(ServiceId=service_id)
            for p in page.get("AllowedPrincipals", [])
            if "Principal" in p
        )
