"""The consumer-sync handler on the embedded AWS, wired as consumer/template.yaml
wires it: a provider account (123456789012, us-east-1) and two consumer
accounts, one in the same Region and one in eu-west-1 (cross-Region)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from msk_privatelink.consumer.aws.registry import parameter_name
from msk_privatelink.consumer.sync import ConsumerSettings
from msk_privatelink.kernel.consumer_events import CONSUMER_EVENT_SOURCE, ConsumerEndpointsReady
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import replace, to_data
from msk_privatelink_dev.local.workflows import keep_sender
from tests.consumer.conftest import Deployment
from tests.consumer.support import (
    FOREIGN_ZONE,
    ZoneWrites,
    add_foreign_zone,
    assert_follows,
    create_network,
    events_of,
    zone_of,
)
from tests.consumer.wiring import (
    TOKEN,
    ConsumerStack,
    add_consumer_stack,
    provider_replies,
    provider_replies_queue,
    put_on_provider_bus,
)
from tests.integration.harness import world

pytestmark = pytest.mark.integration

PATTERNS = {
    "nlb-per-broker": {},
    "shared-nlb": {"pattern": "shared-nlb"},
}


def publish(d: Deployment, brokers: int | None = None) -> BrokerEndpointsChanged:
    """Scale the cluster (if asked), reconcile, return the view the provider published."""
    if brokers is not None:
        d.w.aws.msk.scale(d.w.cluster_arn, brokers)
    d.w.reconcile()
    events = events_of(d.w)
    assert events, "the provider published nothing"
    return events[-1]


def onboard(d: Deployment, view: BrokerEndpointsChanged) -> None:
    for stack in d.stacks:
        stack.queued()  # earlier views, before this account was onboarded
        put_on_provider_bus(d.w, stack.onboarding(view))
        (result,) = stack.deliver()
        assert result["status"] == "ready", result


def endpoint_ids(stack: ConsumerStack) -> dict[str, str]:
    return {s: e for s, e, _ in stack.consumer.state()["endpoints"]}


def resource_writes(stack: ConsumerStack) -> Counter[str]:
    writes = stack.consumer.counter.writes
    writes.pop("PutEvents", None)
    return writes


def assert_ready(reply: ConsumerEndpointsReady, stack: ConsumerStack, generation: int) -> None:
    assert reply.state == "ready"
    assert reply.reason == ""
    assert reply.generation == generation
    assert reply.consumer_account_id == stack.consumer.account_id
    assert reply.consumer_region == stack.consumer.region
    assert reply.vpc_id == stack.consumer.settings.vpc_id
    assert {e.service_name: e.vpc_endpoint_id for e in reply.endpoints} == endpoint_ids(stack)


@pytest.fixture(params=sorted(PATTERNS))
def deployment(request: pytest.FixtureRequest) -> Any:
    """Both patterns: the provider's own reconciler publishes the views."""
    with keep_sender(), world(config_overrides=PATTERNS[request.param]) as w:
        yield Deployment(
            w,
            add_consumer_stack(w, "111122223333"),
            add_consumer_stack(w, "444455556666", "eu-west-1"),
            provider_replies_queue(w),
        )


def test_onboarding_builds_the_consumer_side_and_answers_with_the_token(
    deployment: Deployment,
) -> None:
    d = deployment
    view = publish(d)

    onboard(d, view)

    for stack in d.stacks:
        assert_follows(stack.consumer, view)
        (reply,) = stack.replies()
        assert reply.task_token == TOKEN
        assert_ready(reply, stack, view.generation)
        if view.pattern == "shared-nlb":
            # One endpoint serves every broker name and the bootstrap name.
            assert len(reply.endpoints) == 1
        else:
            assert len(reply.endpoints) == len(view.brokers)
        # The VPC, subnets and groups are remembered in the consumer account.
        stored = stack.consumer.client("ssm").get_parameter(
            Name=parameter_name(stack.env["REGISTRY_PARAMETER_PREFIX"], view.cluster_arn)
        )
        assert stack.consumer.settings.subnet_ids[0] in stored["Parameter"]["Value"]
    # Both answers reached the provider bus, sent by the consumer accounts.
    answers = provider_replies(d.w, d.provider_replies_url)
    assert sorted((a["account"], a["source"], a["detail"]["state"]) for a in answers) == [
        ("111122223333", CONSUMER_EVENT_SOURCE, "ready"),
        ("444455556666", CONSUMER_EVENT_SOURCE, "ready"),
    ]
    assert {a["detail"]["consumerAccountId"] for a in answers} == {"111122223333", "444455556666"}


def test_the_far_consumer_connects_across_regions(deployment: Deployment) -> None:
    d = deployment
    view = publish(d)
    regions: dict[str, list[str | None]] = {"near": [], "far": []}

    for name, stack in (("near", d.near), ("far", d.far)):

        def remember(params: dict[str, Any], _name: str = name, **_: Any) -> None:
            regions[_name].append(params.get("ServiceRegion"))

        stack.queued()
        put_on_provider_bus(d.w, stack.onboarding(view))
        (result,) = stack.deliver(("provide-client-params.ec2.CreateVpcEndpoint", remember))
        assert result["status"] == "ready"
        assert_follows(stack.consumer, view)

    # Endpoints in eu-west-1 name the provider's Region; same-Region ones do not.
    expected = len({b.endpoint_service_name for b in view.brokers})
    assert regions == {"near": [None] * expected, "far": ["us-east-1"] * expected}
    far_endpoints = d.far.consumer.client("ec2").describe_vpc_endpoints()["VpcEndpoints"]
    assert d.far.consumer.client("ec2").meta.region_name == "eu-west-1"
    assert {e["VpcId"] for e in far_endpoints} == {d.far.consumer.settings.vpc_id}


def test_scale_out_and_scale_in_reach_every_consumer(deployment: Deployment) -> None:
    d = deployment
    onboard(d, publish(d))
    for stack in d.stacks:
        stack.replies()

    for brokers in (6, 3):
        view = publish(d, brokers)
        for stack in d.stacks:
            (result,) = stack.deliver()
            assert result["status"] == "synced", result
            assert result["changes"] > 0
            assert_follows(stack.consumer, view)
            (reply,) = stack.replies()
            # The report after an event carries no token.
            assert reply.task_token is None
            assert_ready(reply, stack, view.generation)
    assert view.generation == 3
    assert len(view.brokers) == 3


def test_a_duplicate_event_changes_nothing(deployment: Deployment) -> None:
    d = deployment
    onboard(d, publish(d))
    view = publish(d, 6)
    for stack in d.stacks:
        stack.deliver()
        stack.replies()
    before = [s.consumer.state() for s in d.stacks]

    put_on_provider_bus(d.w, view)
    for stack in d.stacks:
        stack.consumer.counter.reset()
        (result,) = stack.deliver()

        assert result["status"] == "synced"
        assert result["changes"] == 0
        assert resource_writes(stack) == Counter()
        # The report is repeated (a crash may have swallowed the first one).
        (reply,) = stack.replies()
        assert_ready(reply, stack, view.generation)
    assert [s.consumer.state() for s in d.stacks] == before


def test_an_older_generation_after_a_newer_one_writes_nothing(deployment: Deployment) -> None:
    d = deployment
    old = publish(d)
    onboard(d, old)
    new = publish(d, 6)
    for stack in d.stacks:
        stack.deliver()
        stack.replies()
    before = [s.consumer.state() for s in d.stacks]

    put_on_provider_bus(d.w, old)
    for stack in d.stacks:
        stack.consumer.counter.reset()
        (result,) = stack.deliver()

        assert result["status"] == "dropped"
        assert stack.consumer.counter.writes == Counter()
        assert stack.replies() == []
        assert_follows(stack.consumer, new)
    assert [s.consumer.state() for s in d.stacks] == before


def test_onboarding_with_an_older_view_answers_with_the_newer_one(
    deployment: Deployment,
) -> None:
    """Events may overtake the request: the answer names what is in place."""
    d = deployment
    old = publish(d)
    onboard(d, old)
    new = publish(d, 6)
    stack = d.near
    stack.deliver()
    stack.replies()
    stack.consumer.counter.reset()

    put_on_provider_bus(d.w, stack.onboarding(old, token="second-token"))
    (result,) = stack.deliver()

    assert result["status"] == "ready"
    assert resource_writes(stack) == Counter()
    (reply,) = stack.replies()
    assert reply.task_token == "second-token"
    assert_ready(reply, stack, new.generation)
    assert_follows(stack.consumer, new)


def test_events_of_a_cluster_not_onboarded_here_are_ignored(deployment: Deployment) -> None:
    d = deployment
    publish(d)
    for stack in d.stacks:
        stack.consumer.counter.reset()

        (result,) = stack.deliver()

        assert result["status"] == "ignored"
        assert stack.consumer.counter.writes == Counter()
        assert stack.consumer.state()["endpoints"] == []
        assert "not onboarded" in stack.logged()


def test_offboarding_removes_only_what_the_stack_made(deployment: Deployment) -> None:
    d = deployment
    stack = d.near
    foreign_id, foreign = add_foreign_zone(stack.consumer, FOREIGN_ZONE)
    by_hand = stack.consumer.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=stack.consumer.settings.vpc_id,
        ServiceName="com.amazonaws.us-east-1.kafka",
        SubnetIds=list(stack.consumer.settings.subnet_ids),
    )["VpcEndpoint"]["VpcEndpointId"]
    view = publish(d)
    onboard(d, view)
    stack.replies()

    put_on_provider_bus(d.w, stack.offboarding(view.generation, token="offboarding-token"))
    (result,) = stack.deliver()

    assert result["status"] == "removed"
    (reply,) = stack.replies()
    assert (reply.state, reply.task_token, reply.endpoints) == ("removed", "offboarding-token", ())
    state = stack.consumer.state()
    assert state["zones"] == {foreign_id: foreign}
    assert [e for _, e, _ in state["endpoints"]] == [by_hand]
    # Forgotten: later events of the cluster are ignored here, the other consumer follows.
    view = publish(d, 6)
    (result,) = stack.deliver()
    assert result["status"] == "ignored"
    (other,) = d.far.deliver()
    assert other["status"] == "synced"
    assert_follows(d.far.consumer, view)
    # Offboarding again finds nothing left and still answers.
    put_on_provider_bus(d.w, stack.offboarding(view.generation))
    stack.consumer.counter.reset()
    (result,) = stack.deliver()
    assert result["status"] == "removed"
    assert resource_writes(stack) == Counter()


def test_a_foreign_private_zone_in_the_consumer_vpc_is_never_modified(
    deployment: Deployment,
) -> None:
    d = deployment
    stack = d.near
    zone_id, before = add_foreign_zone(stack.consumer, FOREIGN_ZONE)
    spy = ZoneWrites()
    hook = ("before-parameter-build.route53.*", spy)
    view = publish(d)
    stack.queued()
    put_on_provider_bus(d.w, stack.onboarding(view))

    stack.deliver(hook)
    publish(d, 6)
    stack.deliver(hook)
    put_on_provider_bus(d.w, stack.offboarding(2))
    stack.deliver(hook)

    assert spy.zone_ids, "the spy saw no zone write at all"
    assert zone_id not in spy.zone_ids
    assert stack.consumer.state()["zones"] == {zone_id: before}


def test_a_foreign_zone_for_the_clusters_domain_fails_onboarding_cleanly(
    deployment: Deployment,
) -> None:
    d = deployment
    stack = d.near
    view = publish(d)
    stack.queued()
    zone_id, before = add_foreign_zone(stack.consumer, zone_of(view))
    put_on_provider_bus(d.w, stack.onboarding(view))

    (result,) = stack.deliver()

    assert result["status"] == "failed"
    (reply,) = stack.replies()
    assert reply.state == "failed"
    assert reply.task_token == TOKEN
    assert zone_id in reply.reason
    assert stack.consumer.state()["zones"] == {zone_id: before}
    assert stack.consumer.state()["endpoints"] == []
    # Nothing remembered either: the cluster's events are ignored here.
    publish(d, 6)
    (result,) = stack.deliver()
    assert result["status"] == "ignored"


def test_a_request_for_another_account_or_region_is_refused() -> None:
    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, "111122223333")
        w.reconcile()
        view = events_of(w)[-1]
        stack.queued()
        wrong_account = replace(stack.onboarding(view), consumer_account_id="999988887777")
        wrong_region = replace(stack.onboarding(view), consumer_region="eu-west-1")
        invoke = stack.handler()
        stack.consumer.counter.reset()

        for request in (wrong_account, wrong_region):
            event = {
                "version": "0",
                "id": "0b7c6b3e-6e2c-4f3a-9b5a-2f4f8b7a1c11",
                "detail-type": "ConsumerOnboardingRequested",
                "source": "msk-privatelink",
                "account": "123456789012",
                "time": "2026-11-21T08:00:00Z",
                "region": "us-east-1",
                "resources": [],
                "detail": to_data(request),
            }
            result = invoke(event)
            assert result["status"] == "refused"
            assert "refusing" in result["reason"]

        assert stack.consumer.counter.calls == Counter()
        assert stack.replies() == []
        assert "event refused, nothing changed" in stack.logged()


def test_onboarding_into_another_vpc_moves_the_consumer_side() -> None:
    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, "111122223333")
        w.reconcile()
        view = events_of(w)[-1]
        stack.queued()
        put_on_provider_bus(w, stack.onboarding(view))
        stack.deliver()
        old_vpc = stack.consumer.settings.vpc_id
        vpc_id, subnet_ids, group_id = create_network(
            stack.consumer.session(counted=False), "10.30"
        )
        stack.consumer.settings = ConsumerSettings(
            vpc_id=vpc_id,
            subnet_ids=tuple(subnet_ids),
            security_group_ids=(group_id,),
            region=stack.consumer.region,
        )
        stack.replies()

        put_on_provider_bus(w, stack.onboarding(view, token="moved"))
        (result,) = stack.deliver()

        assert result["status"] == "ready"
        # Only the new VPC has endpoints and the zone; the old one has nothing of ours.
        assert_follows(stack.consumer, view)
        assert old_vpc not in {vpc for _, _, vpc in stack.consumer.state()["endpoints"]}
        (reply,) = stack.replies()
        assert (reply.vpc_id, reply.task_token) == (vpc_id, "moved")


def test_a_corrupt_tenancy_record_fails_without_retry_or_write() -> None:
    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, "111122223333")
        w.reconcile()
        view = events_of(w)[-1]
        stack.consumer.client("ssm").put_parameter(
            Name=parameter_name(stack.env["REGISTRY_PARAMETER_PREFIX"], view.cluster_arn),
            Value='{"not": "a tenancy"}',
            Type="String",
        )
        stack.consumer.counter.reset()

        (result,) = stack.deliver()

        assert result["status"] == "failed"
        assert "not a consumer tenancy record" in result["reason"]
        assert stack.consumer.counter.writes == Counter()
        assert "consumer sync failed, not retried" in stack.logged()
