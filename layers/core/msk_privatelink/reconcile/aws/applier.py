"""Apply a plan in its order. Every step is idempotent.

"Already exists" on create and "not found" on delete count as success, so a
run that resumes after a crash at any step converges instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.errors import AwsCallError, MskPrivateLinkError, OwnershipConflictError
from msk_privatelink.kernel.naming import (
    TAG_LB_ATTRIBUTES,
    TAG_PRINCIPALS_DIGEST,
    TAG_PROVIDER_ZONE,
    client_token,
    is_owned,
    principals_digest,
)
from msk_privatelink.reconcile.aws.provider_zone import ProviderZoneWriter
from msk_privatelink.reconcile.plan import Change, Plan, Step
from msk_privatelink.reconcile.resources import (
    ActualState,
    EndpointServiceSpec,
    HostedZoneSpec,
    ListenerSpec,
    LoadBalancerSpec,
    TargetGroupSpec,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_elbv2.type_defs import TagTypeDef, TargetDescriptionTypeDef
    from mypy_boto3_route53 import Route53Client

    from msk_privatelink.reconcile.resources import Target

ENDPOINT_SERVICE_GONE = frozenset(
    {"InvalidVpcEndpointService.NotFound", "InvalidVpcEndpointServiceId.NotFound"}
)


def _tag_list(tags: tuple[tuple[str, str], ...]) -> list[TagTypeDef]:
    return [{"Key": k, "Value": v} for k, v in tags]


def _target_list(targets: frozenset[Target]) -> list[TargetDescriptionTypeDef]:
    return [{"Id": t.ip, "Port": t.port} for t in sorted(targets)]


@dataclass
class ApplyResult:
    applied: list[Change] = field(default_factory=list)
    # Changes that could not run yet, with the reason (retried by later runs).
    blocked: list[tuple[Change, str]] = field(default_factory=list)
    # Additions of a broker that failed, with the error (apply_additions).
    failed: list[tuple[Change, MskPrivateLinkError]] = field(default_factory=list)
    # Changes not started because the run's time was up (a later run makes them).
    deferred: list[Change] = field(default_factory=list)

    def defer_rest(self, changes: tuple[Change, ...]) -> None:
        """Defer every change of ``changes`` this result has not handled yet."""
        handled = {*self.applied, *(c for c, _ in self.blocked), *(c for c, _ in self.failed)}
        self.deferred = [c for c in changes if c not in handled]


def _never() -> bool:
    return False


class PlanApplier:
    def __init__(
        self,
        elbv2: ElasticLoadBalancingv2Client,
        ec2: EC2Client,
        on_change: Callable[[Change], None] | None = None,
        route53: Callable[[], Route53Client] | None = None,
    ) -> None:
        self._elbv2 = elbv2
        self._ec2 = ec2
        self._on_change = on_change
        self._zone = ProviderZoneWriter(route53)
        self._cluster_arn = ""
        self._lb_arns: dict[str, str] = {}
        # (DNS name, canonical hosted zone id) by load balancer name, for aliases.
        self._lb_aliases: dict[str, tuple[str, str]] = {}
        self._tg_arns: dict[str, str] = {}
        self._service_ids: dict[str, str] = {}
        self._unverified_tgs: dict[str, str] = {}
        self._handlers = self._handler_table()

    def apply_additions(
        self, plan: Plan, actual: ActualState, out_of_time: Callable[[], bool] = _never
    ) -> ApplyResult:
        """Apply additions in order; one broker's failure skips only the rest
        of that broker's changes (they build on it), so every other broker
        still gets its path. A failure of a change that serves the whole
        cluster (a shared load balancer, a bootstrap group, a record batch)
        stops the run: everything after it may depend on it. Once
        ``out_of_time`` says so, no further change starts: the rest is
        deferred (each change is whole, so a later run resumes cleanly)."""
        self._start(actual)
        result = ApplyResult()
        failed: set[int] = set()
        upserts = [c for c in plan.changes if c.step is Step.UPSERT_RECORD]
        batched = False
        for index, change in enumerate(plan.changes):
            if out_of_time():
                result.defer_rest(plan.changes[index:])
                break
            if change.step is Step.UPSERT_RECORD:
                # One Route 53 batch, when the first record comes up, without
                # the records of brokers whose load balancer failed.
                if not batched:
                    batched = True
                    live = [c for c in upserts if c.broker_id not in failed]
                    if live:
                        self._zone.upsert_records(live, self._lb_alias)
                    for done in live:
                        self._notify(done)
                        result.applied.append(done)
                if change.broker_id in failed:
                    result.blocked.append((change, f"broker {change.broker_id}'s path failed"))
                continue
            if change.broker_id is not None and change.broker_id in failed:
                result.blocked.append((change, f"broker {change.broker_id}'s path failed"))
                continue
            try:
                self._run(change)
            except MskPrivateLinkError as exc:
                if change.broker_id is None:
                    raise
                failed.add(change.broker_id)
                result.failed.append((change, exc))
                continue
            result.applied.append(change)
        return result

    def apply_isolated(
        self, plan: Plan, actual: ActualState, out_of_time: Callable[[], bool] = _never
    ) -> ApplyResult:
        """Apply removals broker by broker: a retryable failure blocks only the
        rest of that broker's removals (they depend on it), not other brokers'.
        ``out_of_time`` as for apply_additions."""
        self._start(actual)
        result = ApplyResult()
        failed: set[str] = set()
        for index, change in enumerate(plan.changes):
            if out_of_time():
                result.defer_rest(plan.changes[index:])
                break
            group = str(change.broker_id) if change.broker_id is not None else change.key
            if group in failed:
                result.blocked.append((change, "an earlier removal of the same broker is pending"))
                continue
            try:
                self._run(change)
            except MskPrivateLinkError as exc:
                if not exc.retryable:
                    raise
                failed.add(group)
                result.blocked.append((change, str(exc)))
                continue
            result.applied.append(change)
        return result

    def _start(self, actual: ActualState) -> None:
        self._unverified_tgs = {
            k: v.arn for k, v in actual.target_groups.items() if not v.tags_verified
        }
        # ARNs/ids by natural key: what existed, plus what this run creates.
        self._lb_arns = {k: v.arn for k, v in actual.load_balancers.items()}
        self._tg_arns = {k: v.arn for k, v in actual.target_groups.items()}
        self._service_ids = {k: v.service_id for k, v in actual.endpoint_services.items()}
        self._lb_aliases = {
            k: (v.dns_name, v.canonical_zone_id) for k, v in actual.load_balancers.items()
        }
        self._cluster_arn = actual.cluster_arn
        self._zone.start(actual.cluster_arn, actual.hosted_zones)

    def _run(self, change: Change) -> None:
        self._handlers[change.step](change)
        self._notify(change)

    def _notify(self, change: Change) -> None:
        if self._on_change is not None:
            self._on_change(change)

    def _handler_table(self) -> dict[Step, Callable[[Change], None]]:
        return {
            Step.CREATE_TARGET_GROUP: self._create_target_group,
            Step.REGISTER_TARGETS: self._register_targets,
            Step.CREATE_LOAD_BALANCER: self._create_load_balancer,
            Step.CONFIGURE_LOAD_BALANCER: self._configure_load_balancer,
            Step.SET_LOAD_BALANCER_SUBNETS: self._set_subnets,
            Step.CREATE_LISTENER: self._create_listener,
            Step.MODIFY_LISTENER: self._modify_listener,
            Step.CREATE_ENDPOINT_SERVICE: self._create_endpoint_service,
            Step.UPDATE_ENDPOINT_SERVICE: self._update_endpoint_service,
            Step.UPDATE_ENDPOINT_PERMISSIONS: self._update_permissions,
            Step.CREATE_HOSTED_ZONE: self._create_hosted_zone,
            Step.UPSERT_RECORD: lambda c: self._zone.upsert_records([c], self._lb_alias),
            Step.DEREGISTER_TARGETS: self._deregister_targets,
            Step.DELETE_RECORD: self._zone.delete_record,
            Step.DELETE_HOSTED_ZONE: self._zone.delete_zone,
            Step.DELETE_ENDPOINT_SERVICE: self._delete_endpoint_service,
            Step.DELETE_LISTENER: self._delete_listener,
            Step.DELETE_LOAD_BALANCER: self._delete_load_balancer,
            Step.DELETE_TARGET_GROUP: self._delete_target_group,
        }

    # -- lookups -----------------------------------------------------------

    def _lb_arn(self, name: str) -> str:
        arn = self._lb_arns.get(name)
        if arn is None:
            raise AwsCallError(f"load balancer {name} is not known; the next run will retry")
        return arn

    def _lb_alias(self, name: str) -> tuple[str, str]:
        alias = self._lb_aliases.get(name)
        if alias is None or not alias[0] or not alias[1]:
            raise AwsCallError(f"load balancer {name} has no DNS name yet; the next run will retry")
        return alias

    def _tg_arn(self, name: str) -> str:
        arn = self._tg_arns.get(name)
        if arn is None:
            raise AwsCallError(f"target group {name} is not known; the next run will retry")
        return arn

    def _adopt(self, kind: str, arn: str, name: str) -> None:
        """After a duplicate-name error: take the existing resource only if it is ours."""
        tags = {
            t["Key"]: t.get("Value", "")
            for d in self._elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
            for t in d["Tags"]
        }
        if not is_owned(tags, self._cluster_arn):
            raise OwnershipConflictError(
                f"{kind} {name} exists but is not tagged as owned by this project "
                f"for {self._cluster_arn}; rename or delete it by hand"
            )

    # -- creates and updates -------------------------------------------------

    def _create_target_group(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, TargetGroupSpec)
        try:
            created = self._elbv2.create_target_group(
                Name=spec.name,
                Protocol="TCP",
                Port=spec.port,
                VpcId=spec.vpc_id,
                TargetType="ip",
                HealthCheckEnabled=True,
                HealthCheckProtocol="TCP",
                Tags=_tag_list(spec.tags),
            )
            self._tg_arns[spec.name] = created["TargetGroups"][0]["TargetGroupArn"]
        except ClientError as exc:
            if error_code(exc) != "DuplicateTargetGroupName":
                raise translate(exc, f"CreateTargetGroup {spec.name}") from exc
            found = self._elbv2.describe_target_groups(Names=[spec.name])["TargetGroups"][0]
            self._adopt("target group", found["TargetGroupArn"], spec.name)
            self._tg_arns[spec.name] = found["TargetGroupArn"]

    def _register_targets(self, change: Change) -> None:
        targets = _target_list(change.targets)
        try:
            self._elbv2.register_targets(TargetGroupArn=self._tg_arn(change.key), Targets=targets)
        except ClientError as exc:
            raise translate(exc, f"RegisterTargets {change.key}") from exc

    def _deregister_targets(self, change: Change) -> None:
        targets = _target_list(change.targets)
        try:
            self._elbv2.deregister_targets(TargetGroupArn=self._tg_arn(change.key), Targets=targets)
        except ClientError as exc:
            if error_code(exc) in ("InvalidTarget", "TargetGroupNotFound"):
                return
            raise translate(exc, f"DeregisterTargets {change.key}") from exc

    def _create_load_balancer(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, LoadBalancerSpec)
        try:
            created = self._elbv2.create_load_balancer(
                Name=spec.name,
                Subnets=sorted(spec.subnet_ids),
                Scheme="internal",
                Type="network",
                IpAddressType="ipv4",
                Tags=_tag_list(spec.tags),
            )
            lb = created["LoadBalancers"][0]
        except ClientError as exc:
            if error_code(exc) != "DuplicateLoadBalancerName":
                raise translate(exc, f"CreateLoadBalancer {spec.name}") from exc
            lb = self._elbv2.describe_load_balancers(Names=[spec.name])["LoadBalancers"][0]
            self._adopt("load balancer", lb["LoadBalancerArn"], spec.name)
        self._lb_arns[spec.name] = lb["LoadBalancerArn"]
        self._lb_aliases[spec.name] = (lb.get("DNSName", ""), lb.get("CanonicalHostedZoneId", ""))

    def _configure_load_balancer(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, LoadBalancerSpec)
        arn = self._lb_arn(spec.name)
        try:
            self._elbv2.modify_load_balancer_attributes(
                LoadBalancerArn=arn,
                Attributes=[{"Key": k, "Value": v} for k, v in spec.attributes],
            )
            # The marker tag goes on last: its presence proves the attributes hold.
            self._elbv2.add_tags(
                ResourceArns=[arn],
                Tags=[{"Key": TAG_LB_ATTRIBUTES, "Value": spec.attributes_token}],
            )
        except ClientError as exc:
            raise translate(exc, f"ModifyLoadBalancerAttributes {spec.name}") from exc

    def _set_subnets(self, change: Change) -> None:
        try:
            self._elbv2.set_subnets(
                LoadBalancerArn=self._lb_arn(change.key), Subnets=sorted(change.subnet_ids)
            )
        except ClientError as exc:
            raise translate(exc, f"SetSubnets {change.key}") from exc

    def _create_listener(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, ListenerSpec)
        try:
            self._elbv2.create_listener(
                LoadBalancerArn=self._lb_arn(spec.load_balancer),
                Protocol="TCP",
                Port=spec.port,
                DefaultActions=[
                    {"Type": "forward", "TargetGroupArn": self._tg_arn(spec.target_group)}
                ],
                # Tagged at creation: IAM lets the reconciler change only tagged listeners.
                Tags=_tag_list(spec.tags),
            )
        except ClientError as exc:
            raise translate(exc, f"CreateListener {spec.key}") from exc

    def _modify_listener(self, change: Change) -> None:
        assert change.resource_id is not None
        assert change.target_group is not None
        try:
            self._elbv2.modify_listener(
                ListenerArn=change.resource_id,
                DefaultActions=[
                    {"Type": "forward", "TargetGroupArn": self._tg_arn(change.target_group)}
                ],
            )
        except ClientError as exc:
            raise translate(exc, f"ModifyListener {change.key}") from exc

    def _create_endpoint_service(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, EndpointServiceSpec)
        lb_arn = self._lb_arn(spec.load_balancer)
        kwargs: dict[str, Any] = {
            "NetworkLoadBalancerArns": [lb_arn],
            "AcceptanceRequired": spec.acceptance_required,
            # Same token for the same request: a retried create returns the
            # first service instead of making a second one; a changed request
            # (other acceptance or Regions) gets a new token.
            "ClientToken": client_token(
                self._cluster_arn,
                lb_arn,
                str(spec.acceptance_required),
                ",".join(sorted(spec.supported_regions)),
            ),
            # A new service grants nobody: its digest tag says so, truthfully,
            # until the permissions step has granted and re-tagged.
            "TagSpecifications": [
                {
                    "ResourceType": "vpc-endpoint-service",
                    "Tags": [
                        *_tag_list(spec.tags),
                        {"Key": TAG_PRINCIPALS_DIGEST, "Value": principals_digest(frozenset())},
                    ],
                }
            ],
        }
        if spec.supported_regions:
            kwargs["SupportedRegions"] = sorted(spec.supported_regions)
        try:
            created = self._ec2.create_vpc_endpoint_service_configuration(**kwargs)
        except ClientError as exc:
            raise translate(
                exc, f"CreateVpcEndpointServiceConfiguration {spec.load_balancer}"
            ) from exc
        self._service_ids[change.key] = created["ServiceConfiguration"]["ServiceId"]

    def _service_id(self, change: Change) -> str:
        if change.resource_id is not None:
            return change.resource_id
        if change.key not in self._service_ids:
            raise AwsCallError(f"endpoint service for {change.key} is not known; retry")
        return self._service_ids[change.key]

    def _update_endpoint_service(self, change: Change) -> None:
        kwargs: dict[str, Any] = {"ServiceId": self._service_id(change)}
        if change.acceptance_required is not None:
            kwargs["AcceptanceRequired"] = change.acceptance_required
        if change.add:
            kwargs["AddSupportedRegions"] = sorted(change.add)
        if change.remove:
            kwargs["RemoveSupportedRegions"] = sorted(change.remove)
        try:
            self._ec2.modify_vpc_endpoint_service_configuration(**kwargs)
        except ClientError as exc:
            raise translate(exc, f"ModifyVpcEndpointServiceConfiguration {change.key}") from exc

    def _update_permissions(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, EndpointServiceSpec)
        service_id = self._service_id(change)
        kwargs: dict[str, Any] = {"ServiceId": service_id}
        if change.add:
            kwargs["AddAllowedPrincipals"] = sorted(change.add)
        if change.remove:
            kwargs["RemoveAllowedPrincipals"] = sorted(change.remove)
        try:
            if change.add or change.remove:
                self._ec2.modify_vpc_endpoint_service_permissions(**kwargs)
            # Recorded only after the grant succeeded: a crash in between
            # leaves a stale digest, which makes the next run read the truth.
            self._ec2.create_tags(
                Resources=[service_id],
                Tags=[
                    {
                        "Key": TAG_PRINCIPALS_DIGEST,
                        "Value": principals_digest(spec.allowed_principals),
                    }
                ],
            )
        except ClientError as exc:
            raise translate(exc, f"ModifyVpcEndpointServicePermissions {change.key}") from exc

    def _create_hosted_zone(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, HostedZoneSpec)
        zone_id = self._zone.create_zone(change)
        if not spec.load_balancer:
            return
        try:
            # Last: the marker says the zone exists and is tagged as ours.
            self._elbv2.add_tags(
                ResourceArns=[self._lb_arn(spec.load_balancer)],
                Tags=[{"Key": TAG_PROVIDER_ZONE, "Value": zone_id}],
            )
        except ClientError as exc:
            raise translate(exc, f"AddTags {spec.load_balancer}") from exc

    # -- deletes -------------------------------------------------------------

    def _delete_endpoint_service(self, change: Change) -> None:
        assert change.resource_id is not None
        try:
            result = self._ec2.delete_vpc_endpoint_service_configurations(
                ServiceIds=[change.resource_id]
            )
        except ClientError as exc:
            if error_code(exc) in ENDPOINT_SERVICE_GONE:
                return
            raise translate(exc, f"DeleteVpcEndpointServiceConfigurations {change.key}") from exc
        for failure in result.get("Unsuccessful", []):
            code = failure.get("Error", {}).get("Code", "")
            if code in ENDPOINT_SERVICE_GONE:
                continue
            # Typically consumers still have endpoints connected: retried later.
            raise AwsCallError(
                f"endpoint service {change.resource_id} ({change.key}) was not deleted: "
                f"{code}: {failure.get('Error', {}).get('Message', '')}"
            )

    def _delete_listener(self, change: Change) -> None:
        assert change.resource_id is not None
        try:
            self._elbv2.delete_listener(ListenerArn=change.resource_id)
        except ClientError as exc:
            if error_code(exc) == "ListenerNotFound":
                return
            raise translate(exc, f"DeleteListener {change.key}") from exc

    def _delete_load_balancer(self, change: Change) -> None:
        assert change.resource_id is not None
        try:
            self._elbv2.delete_load_balancer(LoadBalancerArn=change.resource_id)
        except ClientError as exc:
            if error_code(exc) == "LoadBalancerNotFound":
                return
            if error_code(exc) == "ResourceInUse":
                # Endpoint service deletion is asynchronous; the next run finishes.
                raise AwsCallError(
                    f"load balancer {change.key} is still in use (endpoint service deleting)"
                ) from exc
            raise translate(exc, f"DeleteLoadBalancer {change.key}") from exc

    def _delete_target_group(self, change: Change) -> None:
        assert change.resource_id is not None
        if change.key in self._unverified_tgs:
            # Only ever delete what carries our ownership tags.
            self._adopt("target group", change.resource_id, change.key)
        try:
            self._elbv2.delete_target_group(TargetGroupArn=change.resource_id)
        except ClientError as exc:
            if error_code(exc) == "TargetGroupNotFound":
                return
            if error_code(exc) == "ResourceInUse":
                raise AwsCallError(
                    f"target group {change.key} is still attached to a load balancer"
                ) from exc
            raise translate(exc, f"DeleteTargetGroup {change.key}") from exc
