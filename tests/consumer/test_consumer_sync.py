"""Consumer sync on the embedded AWS: the provider (123456789012) publishes
BrokerEndpointsChanged, the consumer account (111122223333) follows it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from msk_privatelink.kernel.errors import OwnershipConflictError
from tests.consumer.conftest import Synced
from tests.consumer.support import (
    CONSUMER_ACCOUNT,
    FOREIGN_ZONE,
    Consumer,
    ZoneWrites,
    add_foreign_zone,
    assert_follows,
    events_of,
    reconcile_and_take_event,
    zone_of,
)
from tests.integration.harness import World

pytestmark = pytest.mark.integration


def test_first_event_builds_endpoints_zone_and_records(accounts: tuple[World, Consumer]) -> None:
    w, c = accounts
    event = reconcile_and_take_event(w)

    outcome = c.sync(event)

    assert outcome.status == "converged"
    assert outcome.previous_generation is None
    assert_follows(c, event)
    assert c.counter.writes == Counter(
        {
            "CreateVpcEndpoint": 3,
            "CreateHostedZone": 1,
            # Ownership tags right after the create, the generation after verify.
            "ChangeTagsForResource": 2,
            "ChangeResourceRecordSets": 1,
        }
    )
    # The cluster's own domain, one level above the broker names.
    zone = zone_of(event)
    assert event.brokers[0].host_names[0] == f"b-1.{zone}"
    assert zone.startswith("demo-cluster.")
    assert zone.endswith(f".{FOREIGN_ZONE}")
    assert sorted(outcome.endpoints) == sorted(b.endpoint_service_name for b in event.brokers)
    # Each account sees only its own resources.
    assert w.aws.client("route53").list_hosted_zones()["HostedZones"] == []
    assert w.aws.client("ec2").describe_vpc_endpoints()["VpcEndpoints"] == []
    assert c.client("sts").get_caller_identity()["Account"] == CONSUMER_ACCOUNT


def test_replaying_the_same_event_writes_nothing(synced: Synced) -> None:
    _, c, event = synced
    before = c.state()
    c.counter.reset()

    outcome = c.sync(event)

    assert outcome.status == "unchanged"
    assert c.counter.writes == Counter()
    assert c.state() == before


def test_scale_out_adds_three_endpoints_and_their_records(
    synced: Synced,
) -> None:
    w, c, _ = synced
    kept = set(c.state()["endpoints"])
    w.aws.msk.scale(w.cluster_arn, 6)
    event = reconcile_and_take_event(w)
    assert event.generation == 2
    c.counter.reset()

    outcome = c.sync(event)

    assert outcome.status == "converged"
    assert c.counter.writes == Counter(
        {"CreateVpcEndpoint": 3, "ChangeResourceRecordSets": 1, "ChangeTagsForResource": 1}
    )
    state = c.state()
    assert len(state["endpoints"]) == 6
    assert kept <= set(state["endpoints"])
    assert_follows(c, event)


def test_scale_in_removes_the_departed_brokers(accounts: tuple[World, Consumer]) -> None:
    w, c = accounts
    w.aws.msk.scale(w.cluster_arn, 6)
    c.sync(reconcile_and_take_event(w))
    w.aws.msk.scale(w.cluster_arn, 3)
    event = reconcile_and_take_event(w)
    assert [b.broker_id for b in event.brokers] == [1, 2, 3]
    c.counter.reset()

    outcome = c.sync(event)

    assert outcome.status == "converged"
    assert c.counter.writes == Counter(
        {"ChangeResourceRecordSets": 1, "DeleteVpcEndpoints": 1, "ChangeTagsForResource": 1}
    )
    assert len(c.state()["endpoints"]) == 3
    assert_follows(c, event)


def test_an_older_generation_after_a_newer_one_is_dropped(
    synced: Synced,
) -> None:
    w, c, old = synced
    w.aws.msk.scale(w.cluster_arn, 6)
    new = reconcile_and_take_event(w)
    c.sync(new)
    before = c.state()
    c.counter.reset()

    outcome = c.sync(old)

    assert outcome.status == "dropped"
    assert outcome.previous_generation == new.generation
    assert outcome.plan.is_empty
    assert c.counter.writes == Counter()
    assert c.state() == before
    assert_follows(c, new)


def test_the_same_generation_repairs_what_was_changed_by_hand(
    synced: Synced,
) -> None:
    _, c, event = synced
    route53 = c.client("route53")
    (zone_id,) = c.zones_named(zone_of(event))
    record = next(
        r
        for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        if r["Name"].startswith("b-2.")
    )
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": record}]},
    )
    c.counter.reset()

    outcome = c.sync(event)

    assert outcome.status == "converged"
    assert c.counter.writes == Counter({"ChangeResourceRecordSets": 1})
    assert_follows(c, event)


# -- a zone we did not create ----------------------------------------------------


def test_a_foreign_kafka_zone_in_the_vpc_is_never_modified(
    accounts: tuple[World, Consumer],
) -> None:
    w, c = accounts
    zone_id, before = add_foreign_zone(c, FOREIGN_ZONE)
    spy = ZoneWrites()
    service = c.service(("before-parameter-build.route53.*", spy))

    service.sync(reconcile_and_take_event(w))
    w.aws.msk.scale(w.cluster_arn, 6)
    service.sync(reconcile_and_take_event(w))
    w.aws.msk.scale(w.cluster_arn, 3)
    event = reconcile_and_take_event(w)
    service.sync(event)
    assert_follows(c, event)
    service.teardown(w.cluster_arn)

    assert spy.zone_ids, "the spy saw no zone write at all"
    assert zone_id not in spy.zone_ids
    assert c.state()["zones"] == {zone_id: before}


def test_a_foreign_zone_with_the_clusters_domain_is_refused(
    accounts: tuple[World, Consumer],
) -> None:
    w, c = accounts
    event = reconcile_and_take_event(w)
    zone_id, before = add_foreign_zone(c, zone_of(event))
    c.counter.reset()

    with pytest.raises(OwnershipConflictError, match=zone_id):
        c.sync(event)

    assert c.counter.writes == Counter()
    assert c.state()["zones"] == {zone_id: before}
    assert c.state()["endpoints"] == []


def test_teardown_removes_only_what_the_project_made(accounts: tuple[World, Consumer]) -> None:
    w, c = accounts
    foreign_id, foreign = add_foreign_zone(c, FOREIGN_ZONE)
    by_hand = c.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=c.settings.vpc_id,
        ServiceName="com.amazonaws.us-east-1.kafka",
        SubnetIds=list(c.settings.subnet_ids),
    )["VpcEndpoint"]["VpcEndpointId"]
    c.sync(reconcile_and_take_event(w))

    outcome = c.service().teardown(w.cluster_arn)

    assert outcome.status == "converged"
    state = c.state()
    assert state["zones"] == {foreign_id: foreign}
    assert [e for _, e, _ in state["endpoints"]] == [by_hand]
    assert c.service().teardown(w.cluster_arn).status == "unchanged"


def test_every_event_the_provider_publishes_is_followed(
    accounts: tuple[World, Consumer],
) -> None:
    """The provider's own sequence, start to finish, delivered in order."""
    w, c = accounts
    w.reconcile()
    w.aws.msk.scale(w.cluster_arn, 6)
    w.reconcile()
    w.aws.msk.scale(w.cluster_arn, 3)
    w.reconcile()
    events = events_of(w)
    assert [e.generation for e in events] == [1, 2, 3]

    statuses = [c.sync(e).status for e in events]

    assert statuses == ["converged"] * 3
    assert_follows(c, events[-1])
    assert [c.sync(e).status for e in events] == ["dropped", "dropped", "unchanged"]


# -- repairs -------------------------------------------------------------------------


def test_a_failed_endpoint_is_replaced_and_its_records_follow(
    synced: Synced,
) -> None:
    from moto.ec2.models import ec2_backends

    _, c, event = synced
    broken = sorted(c.state()["endpoints"])[0]
    # EC2 moves an endpoint to `failed` on its own; moto never does.
    ec2_backends[c.account_id][c.settings.region].vpc_end_points[broken[1]].state = "failed"
    c.counter.reset()

    outcome = c.sync(event)

    assert outcome.status == "converged"
    assert c.counter.writes == Counter(
        {"CreateVpcEndpoint": 1, "ChangeResourceRecordSets": 1, "DeleteVpcEndpoints": 1}
    )
    assert broken[1] not in {e for _, e, _ in c.state()["endpoints"]}
    assert_follows(c, event)


def test_a_caller_reference_used_before_gets_a_fresh_one(
    accounts: tuple[World, Consumer],
) -> None:
    """Route 53 never accepts a CallerReference twice, even after the zone it
    made was deleted: the create is repeated with a new one."""
    from botocore.awsrequest import AWSResponse

    w, c = accounts
    event = reconcile_and_take_event(w)
    references: list[str] = []

    def remember(params: dict[str, Any], **_: Any) -> None:
        references.append(params["CallerReference"])

    def used_before(**_: Any) -> object:
        if len(references) > 1:
            return None
        error = {"Code": "HostedZoneAlreadyExists", "Message": "reference already used"}
        return (
            AWSResponse("https://route53.amazonaws.com/", 409, {}, None),
            {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 409}},
        )

    outcome = c.service(
        ("provide-client-params.route53.CreateHostedZone", remember),
        ("before-call.route53.CreateHostedZone", used_before),
    ).sync(event)

    assert outcome.status == "converged"
    first, second = references
    assert second.startswith(f"{first}-")
    assert_follows(c, event)
