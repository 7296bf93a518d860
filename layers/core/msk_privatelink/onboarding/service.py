"""The onboarding and offboarding steps the state machines run, one method each.

Every step is idempotent: Step Functions retries a step after a throttle or
a timeout, and an operator may start the same request again after a failure.
Endpoint-service permissions and Supported Regions are never edited here:
the "allow" and "revoke" steps run the reconciler for the cluster in this
process, over the configuration merged with the admitted tenants (the same
code path as every other reconcile, with its lease, guard, digest tags and
verify), so the workflow and the reconciler can never disagree about who is
allowed.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.aws.errors import translate
from msk_privatelink.aws.event_bus import put_event
from msk_privatelink.kernel.consumer_events import (
    ConsumerEndpointsReady,
    ConsumerOffboarded,
    ConsumerOffboardingRequested,
    ConsumerOnboarded,
    ConsumerOnboardingRequested,
)
from msk_privatelink.kernel.errors import AwsCallError, ConfigError, RetryableError, TerminalError
from msk_privatelink.kernel.events import EVENT_SOURCE, BrokerEndpointsChanged
from msk_privatelink.kernel.records import parse, replace
from msk_privatelink.onboarding.aws.endpoint_connections import (
    LIVE_STATES,
    Connection,
    EndpointConnections,
)
from msk_privatelink.onboarding.aws.subscriptions import Subscriptions
from msk_privatelink.onboarding.aws.tenants import SUBSCRIBED_STATES, TenantRegistry
from msk_privatelink.onboarding.regions import (
    CROSS_REGION_CONNECTIVITY_REGIONS,
    CROSS_REGION_SOURCE,
)
from msk_privatelink.onboarding.request import (
    InvalidRequestError,
    OffboardingRequest,
    OnboardingRequest,
    parse_request,
)
from msk_privatelink.onboarding.settings import OnboardingSettings
from msk_privatelink.reconcile.aws.actual import ActualStateReader
from msk_privatelink.reconcile.service import ReconcileService
from msk_privatelink.reconcile.settings import ReconcilerSettings
from msk_privatelink.reconcile.view import endpoints_view

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kafka import KafkaClient

logger = logging.getLogger(__name__)


class PermissionsNotAppliedError(RetryableError):
    """The reconcile ran but the endpoint services do not show the expected principals."""


class ConnectionsNotReadyError(TerminalError):
    """The consumer's endpoint connections did not become available in time."""


class NoEndpointsError(TerminalError):
    """The cluster has no endpoint service (yet): there is nothing to onboard to."""


class StaleAnswerError(TerminalError):
    """The consumer kept answering with a view older than the cluster's current one."""


# Requests per onboarding: the first one, then re-asks while the consumer's
# answer names an older generation than the cluster's published one.
MAX_REQUEST_ROUNDS = 3


def failure_reason(error: Any) -> str:
    """The readable reason of a caught Step Functions error ({Error, Cause})."""
    if not isinstance(error, dict):
        return str(error)
    name = str(error.get("Error", "Error"))
    cause = error.get("Cause", "")
    try:
        parsed = json.loads(cause) if isinstance(cause, str) and cause.startswith("{") else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        cause = parsed["errorMessage"]
    return f"{name}: {cause}" if cause else name


class ConsumerWorkflows:
    def __init__(self, clients: AwsClients, settings: OnboardingSettings) -> None:
        self._settings = settings
        self._ec2: EC2Client = clients.ec2
        self._kafka: KafkaClient = clients.kafka
        self._events: EventBridgeClient = clients.events
        self.tenants = TenantRegistry(clients.dynamodb, settings.tenant_table_name)
        reconciler_settings = ReconcilerSettings(
            config_parameter_prefix=settings.config_parameter_prefix,
            event_bus_name=settings.event_bus_name,
            state_table_name=settings.state_table_name,
            lease_seconds=settings.lease_seconds,
            kafka_admin_function_name=settings.kafka_admin_function_name,
        )
        self.reconcile = ReconcileService(clients, reconciler_settings, tenants=self.tenants)
        self._actual = ActualStateReader(clients.elbv2, clients.ec2)
        self._connections = EndpointConnections(clients.ec2)
        self._subscriptions = Subscriptions(
            clients.events, settings.event_bus_name, settings.consumer_organization_id
        )

    # -- onboarding ----------------------------------------------------------
    def validate(self, payload: Any) -> dict[str, Any]:
        """Check the request with reads only; a failure writes nothing."""
        request = parse_request(OnboardingRequest, payload)
        if request.consumer_account_id == request.provider_account_id:
            raise InvalidRequestError(
                "consumerAccountId: the cluster's own account cannot be onboarded as a consumer"
            )
        try:
            config = self.reconcile.store.get(request.cluster_arn)
        except ConfigError as exc:
            raise InvalidRequestError(
                f"clusterArn: the cluster is not managed here: {exc}"
            ) from exc
        if request.cross_region:
            self._check_cross_region(request, config.supported_regions)
        else:
            self._check_zones(request, config.subnet_ids)
        return {
            "request": request.to_json_dict(),
            "crossRegion": request.cross_region,
            "acceptanceRequired": config.acceptance_required,
        }

    def _check_cross_region(self, request: OnboardingRequest, configured: tuple[str, ...]) -> None:
        region = request.consumer_region
        for name, value in (("clusterArn", request.cluster_region), ("consumerRegion", region)):
            if value not in CROSS_REGION_CONNECTIVITY_REGIONS:
                raise InvalidRequestError(
                    f"{name}: PrivateLink cross-Region connectivity does not support {value} "
                    f"(supported: {', '.join(sorted(CROSS_REGION_CONNECTIVITY_REGIONS))}; "
                    f"see {CROSS_REGION_SOURCE})"
                )
        allowed = self._settings.allowed_consumer_regions | set(configured)
        if region not in allowed:
            raise InvalidRequestError(
                f"consumerRegion: {region} is not allowed for this cluster (allowed: "
                f"{', '.join(sorted(allowed)) or 'none'}); add it to the stack's ConsumerRegions "
                f"or to the cluster configuration's supported_regions"
            )

    def _check_zones(self, request: OnboardingRequest, configured: tuple[str, ...] | None) -> None:
        if not request.availability_zone_ids:
            raise InvalidRequestError(
                "availabilityZoneIds: required for a consumer in the cluster's Region (one per "
                "subnet): the provider cannot read another account's subnets"
            )
        zones = self._cluster_zone_ids(request.cluster_arn, configured)
        outside = sorted(set(request.availability_zone_ids) - zones)
        if outside:
            raise InvalidRequestError(
                f"availabilityZoneIds: {', '.join(outside)} not among the cluster's "
                f"Availability Zones ({', '.join(sorted(zones))}); the endpoint services only "
                f"serve those zones"
            )

    def _cluster_zone_ids(self, cluster_arn: str, configured: tuple[str, ...] | None) -> set[str]:
        try:
            subnets = list(configured or ())
            if not subnets:
                info = self._kafka.describe_cluster_v2(ClusterArn=cluster_arn)["ClusterInfo"]
                subnets = list(info["Provisioned"]["BrokerNodeGroupInfo"]["ClientSubnets"])
            described = self._ec2.describe_subnets(SubnetIds=subnets)["Subnets"]
        except ClientError as exc:
            raise translate(exc, f"reading the Availability Zones of {cluster_arn}") from exc
        return {s["AvailabilityZoneId"] for s in described if "AvailabilityZoneId" in s}

    def register(self, payload: Any) -> dict[str, Any]:
        request = parse_request(OnboardingRequest, payload)
        tenant, already_active = self.tenants.register(
            cluster_arn=request.cluster_arn,
            account_id=request.consumer_account_id,
            region=request.consumer_region,
            vpc_id=request.vpc_id,
            consumer_bus_arn=request.bus_arn,
            request_digest=request.digest(),
            request=json.dumps(request.to_json_dict(), sort_keys=True),
        )
        return {"alreadyActive": already_active, "state": tenant.state}

    def allow(self, payload: Any) -> dict[str, Any]:
        """Reconcile with the tenant admitted; check every service carries it."""
        request = parse_request(OnboardingRequest, payload)
        tenant = self.tenants.require(request.cluster_arn, request.consumer_account_id)
        outcome = self.reconcile.reconcile_cluster(request.cluster_arn)
        actual = self._actual.read(request.cluster_arn)
        services = list(actual.endpoint_services.values())
        if not services:
            raise NoEndpointsError(
                f"{request.cluster_arn} has no endpoint service yet (reconcile {outcome.status})"
            )
        missing = [
            s.service_id
            for s in services
            if tenant.principal not in s.allowed_principals
            or (request.cross_region and request.consumer_region not in s.supported_regions)
        ]
        if missing:
            raise PermissionsNotAppliedError(
                f"{tenant.principal} ({request.consumer_region}) is not yet allowed on "
                f"{', '.join(missing)} (reconcile {outcome.status}: "
                f"{'; '.join(outcome.reasons) or 'no reason given'})"
            )
        return {"endpointServices": len(services), "reconcile": outcome.status}

    def subscribe(self, payload: Any) -> dict[str, Any]:
        """Admit the account's answers on the provider bus. The cluster's
        events reach the tenant from its registry item (onboarding/delivery.py),
        so an earlier version's per-tenant rule, if any, goes now."""
        request = parse_request(OnboardingRequest, payload)
        self._subscriptions.admit(request.consumer_account_id)
        self._subscriptions.remove_legacy(
            request.cluster_arn, request.consumer_account_id, request.consumer_region
        )
        return {"subscribed": True}

    def request_consumer(self, payload: Any, task_token: str) -> dict[str, Any]:
        """Keep the token's hash, then ask the consumer to build its side."""
        request = parse_request(OnboardingRequest, payload)
        self.tenants.record_token(
            request.cluster_arn, request.consumer_account_id, task_token, expected_state="PENDING"
        )
        view, generation = self._current_view(request.cluster_arn)
        event = ConsumerOnboardingRequested(
            cluster_arn=request.cluster_arn,
            consumer_account_id=request.consumer_account_id,
            consumer_region=request.consumer_region,
            vpc_id=request.vpc_id,
            subnet_ids=request.subnet_ids,
            security_group_ids=request.security_group_ids,
            connectivity_canary=request.connectivity_canary,
            task_token=task_token,
            generation=generation,
            endpoints=replace(view, generation=generation),
        )
        self._put(event.detail_type, event.to_detail_json(), request.cluster_arn)
        return {"generation": generation}

    def _current_view(self, cluster_arn: str) -> tuple[BrokerEndpointsChanged, int]:
        assessment = self.reconcile.reconciler.assess(self.reconcile.effective_config(cluster_arn))
        view = endpoints_view(assessment.inventory, assessment.actual)
        generation, fingerprint = self.reconcile.publisher.last_published(cluster_arn)
        if generation < 1 or fingerprint != view.fingerprint():
            # The allow step's reconcile publishes the view; a differing one
            # means the cluster is changing right now: try again shortly.
            raise AwsCallError(
                f"{cluster_arn}: the published view (generation {generation}) is not the current "
                f"one yet"
            )
        return view, generation

    def check_answer(self, payload: Any, reply: Any, rounds: int) -> dict[str, Any]:
        """Is the consumer's answer about the cluster's current view?

        A consumer ignores BrokerEndpointsChanged for a cluster it has not
        onboarded yet, so a change published after the request was built but
        delivered before it leaves the consumer on the request's older view
        until the next change. An answer older than the published generation
        is asked again with the current view (a new request and token), at
        most MAX_REQUEST_ROUNDS requests in all."""
        request = parse_request(OnboardingRequest, payload)
        answer = parse(ConsumerEndpointsReady, reply)
        if (
            answer.cluster_arn != request.cluster_arn
            or answer.consumer_account_id != request.consumer_account_id
        ):
            raise InvalidRequestError("the consumer's answer is about another tenant")
        published, _ = self.reconcile.publisher.last_published(request.cluster_arn)
        asked = rounds + 1
        if answer.generation >= published:
            return {"current": True, "rounds": asked, "generation": answer.generation}
        if asked >= MAX_REQUEST_ROUNDS:
            raise StaleAnswerError(
                f"the consumer answered generation {answer.generation} to {asked} request(s) "
                f"while the cluster is at generation {published}; it does not follow the "
                "cluster's changes"
            )
        logger.info(
            "consumer answered an older view, asking again",
            extra={"answered": answer.generation, "published": published, "rounds": asked},
        )
        return {"current": False, "rounds": asked, "generation": answer.generation}

    def accept(self, payload: Any, reply: Any) -> dict[str, Any]:
        """Accept the consumer's pending connections (only the ones it reported)."""
        request = parse_request(OnboardingRequest, payload)
        expected = self._expected_endpoints(request, reply)
        pending = [
            c
            for c in self._account_connections(request.cluster_arn, request.consumer_account_id)
            if c.state == "pendingAcceptance" and c.endpoint_id in expected
        ]
        return {"accepted": self._connections.accept(pending)}

    def check_connections(self, payload: Any, reply: Any, attempt: int) -> dict[str, Any]:
        request = parse_request(OnboardingRequest, payload)
        expected = self._expected_endpoints(request, reply)
        states = {
            c.endpoint_id: c.state
            for c in self._account_connections(request.cluster_arn, request.consumer_account_id)
        }
        waiting = sorted(e for e in expected if states.get(e) != "available")
        if not waiting:
            return {"ready": True, "attempt": attempt + 1}
        if attempt + 1 >= request.poll_attempts:
            detail = ", ".join(f"{e}={states.get(e, 'absent')}" for e in waiting)
            raise ConnectionsNotReadyError(
                f"endpoint connections not available after {attempt + 1} checks: {detail}"
            )
        return {"ready": False, "attempt": attempt + 1}

    def _expected_endpoints(self, request: OnboardingRequest, reply: Any) -> set[str]:
        answer = parse(ConsumerEndpointsReady, reply)
        if (
            answer.cluster_arn != request.cluster_arn
            or answer.consumer_account_id != request.consumer_account_id
        ):
            raise InvalidRequestError("the consumer's answer is about another tenant")
        if answer.state != "ready" or not answer.endpoints:
            raise ConnectionsNotReadyError(
                f"the consumer answered {answer.state} without endpoints: {answer.reason}"
            )
        return {e.vpc_endpoint_id for e in answer.endpoints}

    def activate(self, payload: Any, generation: int) -> dict[str, Any]:
        request = parse_request(OnboardingRequest, payload)
        tenant = self.tenants.transition(
            request.cluster_arn,
            request.consumer_account_id,
            allowed_from=frozenset({"PENDING"}),
            to="ACTIVE",
            generation=generation,
            request_digest=request.digest(),
        )
        return {"state": tenant.state}

    def announce_onboarded(self, payload: Any) -> dict[str, Any]:
        request = parse_request(OnboardingRequest, payload)
        tenant = self.tenants.require(request.cluster_arn, request.consumer_account_id)
        event = ConsumerOnboarded(
            cluster_arn=tenant.cluster_arn,
            consumer_account_id=tenant.account_id,
            consumer_region=tenant.region,
            vpc_id=tenant.vpc_id,
            generation=max(tenant.generation, 1),
        )
        self._put(event.detail_type, event.to_detail_json(), tenant.cluster_arn)
        return {"announced": event.detail_type}

    def compensate(self, payload: Any, error: Any) -> dict[str, Any]:
        """Undo an onboarding that failed after registration.

        FAILED is written first: from then on every reconcile (the one below,
        or the schedule if this step dies) revokes the principal and drops a
        Region no other tenant needs. Then the rule, its target and the
        policy statement go, and the account's connections are rejected.
        """
        request = parse_request(OnboardingRequest, payload)
        reason = failure_reason(error)[:1000]
        if self.tenants.get(request.cluster_arn, request.consumer_account_id) is None:
            # Registration never happened: nothing was granted, nothing to undo.
            return {"reason": reason, "rejected": 0}
        self.tenants.transition(
            request.cluster_arn,
            request.consumer_account_id,
            # ACTIVE too: announcing is the last step and may be what failed.
            allowed_from=frozenset({"PENDING", "ACTIVE"}),
            to="FAILED",
            reason=reason,
            request_digest=request.digest(),
        )
        # Revoke first: once the principal is gone the account cannot create
        # new endpoints, so the rejection below catches every connection.
        outcome = self.reconcile.reconcile_cluster(request.cluster_arn)
        self._unsubscribe(request.cluster_arn, request.consumer_account_id, request.consumer_region)
        rejected = self._reject_all(request.cluster_arn, request.consumer_account_id)
        logger.warning(
            "onboarding compensated",
            extra={"reason": reason, "rejected": rejected, "reconcile": outcome.status},
        )
        return {"reason": reason, "rejected": rejected}

    # -- offboarding ---------------------------------------------------------
    def begin_offboarding(self, payload: Any) -> dict[str, Any]:
        request = parse_request(OffboardingRequest, payload)
        tenant = self.tenants.transition(
            request.cluster_arn,
            request.consumer_account_id,
            allowed_from=frozenset({"ACTIVE", "FAILED", "OFFBOARDING"}),
            to="OFFBOARDING",
        )
        return {
            "request": request.to_json_dict(),
            "tenant": {
                "consumerRegion": tenant.region,
                "vpcId": tenant.vpc_id,
                "state": tenant.state,
            },
        }

    def revoke(self, payload: Any) -> dict[str, Any]:
        request = parse_request(OffboardingRequest, payload)
        tenant = self.tenants.require(request.cluster_arn, request.consumer_account_id)
        outcome = self.reconcile.reconcile_cluster(request.cluster_arn)
        actual = self._actual.read(request.cluster_arn)
        still = [
            s.service_id
            for s in actual.endpoint_services.values()
            if tenant.principal in s.allowed_principals
        ]
        config = self.reconcile.effective_config(request.cluster_arn)
        if still and tenant.principal not in config.allowed_principals:
            raise PermissionsNotAppliedError(
                f"{tenant.principal} is still allowed on {', '.join(still)} "
                f"(reconcile {outcome.status})"
            )
        return {"reconcile": outcome.status}

    def request_removal(self, payload: Any, task_token: str) -> dict[str, Any]:
        request = parse_request(OffboardingRequest, payload)
        tenant = self.tenants.require(request.cluster_arn, request.consumer_account_id)
        self.tenants.record_token(
            request.cluster_arn,
            request.consumer_account_id,
            task_token,
            expected_state="OFFBOARDING",
        )
        generation, _ = self.reconcile.publisher.last_published(request.cluster_arn)
        event = ConsumerOffboardingRequested(
            cluster_arn=tenant.cluster_arn,
            consumer_account_id=tenant.account_id,
            consumer_region=tenant.region,
            vpc_id=tenant.vpc_id,
            task_token=task_token,
            generation=max(generation, tenant.generation, 1),
        )
        self._put(event.detail_type, event.to_detail_json(), tenant.cluster_arn)
        return {"generation": event.generation}

    def reject_connections(self, payload: Any) -> dict[str, Any]:
        request = parse_request(OffboardingRequest, payload)
        return {"rejected": self._reject_all(request.cluster_arn, request.consumer_account_id)}

    def unsubscribe(self, payload: Any) -> dict[str, Any]:
        request = parse_request(OffboardingRequest, payload)
        tenant = self.tenants.require(request.cluster_arn, request.consumer_account_id)
        self._unsubscribe(tenant.cluster_arn, tenant.account_id, tenant.region)
        return {"unsubscribed": True}

    def _unsubscribe(self, cluster_arn: str, account_id: str, region: str) -> None:
        """Revoke the account's statement unless another cluster's tenant of
        the same account still needs it; remove an earlier version's rule."""
        self._subscriptions.remove_legacy(cluster_arn, account_id, region)
        others = {
            cluster: state
            for cluster, state in self.tenants.subscriptions_of(account_id).items()
            if cluster != cluster_arn and state in SUBSCRIBED_STATES
        }
        if others:
            logger.info(
                "account statement kept", extra={"account": account_id, "for": sorted(others)}
            )
            return
        self._subscriptions.revoke(account_id)

    def finish_offboarding(self, payload: Any) -> dict[str, Any]:
        request = parse_request(OffboardingRequest, payload)
        tenant = self.tenants.transition(
            request.cluster_arn,
            request.consumer_account_id,
            allowed_from=frozenset({"OFFBOARDING"}),
            to="OFFBOARDED",
        )
        return {"state": tenant.state}

    def announce_offboarded(self, payload: Any) -> dict[str, Any]:
        request = parse_request(OffboardingRequest, payload)
        tenant = self.tenants.require(request.cluster_arn, request.consumer_account_id)
        generation, _ = self.reconcile.publisher.last_published(request.cluster_arn)
        event = ConsumerOffboarded(
            cluster_arn=tenant.cluster_arn,
            consumer_account_id=tenant.account_id,
            consumer_region=tenant.region,
            vpc_id=tenant.vpc_id,
            generation=max(generation, tenant.generation, 1),
        )
        self._put(event.detail_type, event.to_detail_json(), tenant.cluster_arn)
        return {"announced": event.detail_type}

    # -- helpers -------------------------------------------------------------
    def _service_ids(self, cluster_arn: str) -> list[str]:
        actual = self._actual.read(cluster_arn, expected_principals=frozenset())
        return [s.service_id for s in actual.endpoint_services.values()]

    def _account_connections(self, cluster_arn: str, account_id: str) -> list[Connection]:
        return self._connections.of_account(self._service_ids(cluster_arn), account_id)

    def _reject_all(self, cluster_arn: str, account_id: str) -> int:
        live = [
            c for c in self._account_connections(cluster_arn, account_id) if c.state in LIVE_STATES
        ]
        return self._connections.reject(live)

    def _put(self, detail_type: str, detail: str, cluster_arn: str) -> None:
        put_event(
            self._events,
            self._settings.event_bus_name,
            source=EVENT_SOURCE,
            detail_type=detail_type,
            detail=detail,
            resource=cluster_arn,
        )
