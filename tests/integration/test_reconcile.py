"""The reconciler on the embedded AWS: create, follow brokers, stay idempotent."""

from __future__ import annotations

from collections import Counter

import pytest
from botocore.awsrequest import AWSResponse

from msk_privatelink.kernel.errors import ClusterNotFoundError, OwnershipConflictError
from msk_privatelink.kernel.naming import load_balancer_name, name_prefix, target_group_name
from msk_privatelink.kernel.records import replace
from msk_privatelink.reconcile.aws.lease import LeaseHeldError
from tests.integration.harness import LEASE_SECONDS, World, world

pytestmark = pytest.mark.integration


@pytest.fixture
def w() -> World:
    with world() as created:
        yield created  # type: ignore[misc]


def converged(w: World) -> None:
    assert w.residual_plan_size() == 0


def test_initial_create_builds_one_nlb_target_group_listener_and_service_per_broker(
    w: World,
) -> None:
    outcome = w.reconcile()

    assert outcome.status == "converged"
    state = w.inventory_of_everything()
    ips = w.broker_ips()
    assert state["load_balancers"] == sorted(load_balancer_name(w.cluster_arn, b) for b in ips)
    for broker_id, ip in ips.items():
        tg = target_group_name(w.cluster_arn, broker_id, 9098)
        assert state["target_groups"][tg] == [(ip, 9098)]
        assert state["listeners"][load_balancer_name(w.cluster_arn, broker_id)] == [(9098, tg)]
    assert state["endpoint_service_count"] == 3
    converged(w)
    published = w.published()
    assert [e["detail"]["generation"] for e in published] == [1]
    detail = published[0]["detail"]
    assert [b["brokerId"] for b in detail["brokers"]] == [1, 2, 3]
    assert all(b["ports"] == {"sasl_iam": 9098} for b in detail["brokers"])
    assert all(
        b["endpointServiceName"].startswith("com.amazonaws.vpce.") for b in detail["brokers"]
    )


def test_load_balancers_are_internal_cross_zone_and_span_the_client_subnets(w: World) -> None:
    w.reconcile()
    elbv2 = w.aws.client("elbv2")
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        assert lb["Scheme"] == "internal"
        assert lb["Type"] == "network"
        assert sorted(az["SubnetId"] for az in lb["AvailabilityZones"]) == sorted(w.subnet_ids)
        attrs = {
            a["Key"]: a["Value"]
            for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])[
                "Attributes"
            ]
        }
        assert attrs["load_balancing.cross_zone.enabled"] == "true"
    for svc in w.aws.client("ec2").describe_vpc_endpoint_service_configurations()[
        "ServiceConfigurations"
    ]:
        assert svc["AcceptanceRequired"] is True


def test_second_run_is_a_no_op_with_zero_writes(w: World) -> None:
    w.reconcile()
    w.published()
    w.counter.reset()

    outcome = w.reconcile()

    assert outcome.status == "unchanged"
    assert w.counter.writes == Counter()
    assert w.published() == []


def test_broker_replacement_moves_the_target_with_exactly_two_target_writes(w: World) -> None:
    w.reconcile()
    w.published()
    old_ip = w.broker_ips()[2]
    w.aws.msk.replace_broker(w.cluster_arn, 2)
    new_ip = w.broker_ips()[2]
    assert new_ip != old_ip
    w.counter.reset()

    outcome = w.reconcile()

    assert outcome.status == "converged"
    # Plus the cluster lease, acquired and released around the two writes,
    # and the change detector's baseline: the brokers this run left served.
    assert w.counter.writes == Counter(
        {
            "RegisterTargets": 1,
            "DeregisterTargets": 1,
            "UpdateItem:lease": 2,
            "UpdateItem:brokers": 1,
        }
    )
    tg = target_group_name(w.cluster_arn, 2, 9098)
    assert w.inventory_of_everything()["target_groups"][tg] == [(new_ip, 9098)]
    # The consumer-visible view did not change: no event.
    assert w.published() == []
    converged(w)


def test_scale_out_creates_only_the_new_brokers_resources(w: World) -> None:
    w.reconcile()
    w.published()
    before = w.inventory_of_everything()
    w.aws.msk.scale(w.cluster_arn, 6)
    w.counter.reset()

    w.reconcile()

    writes = w.counter.writes
    assert writes["CreateLoadBalancer"] == 3
    assert writes["CreateTargetGroup"] == 3
    assert writes["CreateVpcEndpointServiceConfiguration"] == 3
    assert writes["DeregisterTargets"] == 0
    after = w.inventory_of_everything()
    for name in before["load_balancers"]:
        assert after["listeners"][name] == before["listeners"][name]
    assert len(after["load_balancers"]) == 6
    converged(w)
    (event,) = w.published()
    assert event["detail"]["generation"] == 2
    assert [b["brokerId"] for b in event["detail"]["brokers"]] == [1, 2, 3, 4, 5, 6]


def test_scale_in_removes_the_departed_brokers_resources(w: World) -> None:
    w.aws.msk.scale(w.cluster_arn, 6)
    w.reconcile()
    w.aws.msk.scale(w.cluster_arn, 3)
    w.counter.reset()

    outcome = w.reconcile()

    assert outcome.status == "converged"
    state = w.inventory_of_everything()
    assert state["load_balancers"] == sorted(
        load_balancer_name(w.cluster_arn, b) for b in (1, 2, 3)
    )
    assert sorted(state["target_groups"]) == sorted(
        target_group_name(w.cluster_arn, b, 9098) for b in (1, 2, 3)
    )
    assert state["endpoint_service_count"] == 3
    assert w.counter.writes == Counter(
        {
            "DeleteVpcEndpointServiceConfigurations": 3,
            "DeleteLoadBalancer": 3,
            "DeleteTargetGroup": 3,
            # The consumer-visible view shrank: one event and its record,
            # plus the lease acquired and released around the run and the
            # change detector's baseline once the removals are done.
            "PutEvents": 1,
            "UpdateItem": 1,
            "UpdateItem:lease": 2,
            "UpdateItem:brokers": 1,
        }
    )
    converged(w)


def test_untagged_look_alikes_and_other_owners_are_left_alone(w: World) -> None:
    elbv2 = w.aws.client("elbv2")
    prefix = name_prefix(w.cluster_arn)
    foreign_lb = elbv2.create_load_balancer(
        Name=f"{prefix}b1-x", Subnets=list(w.subnet_ids), Scheme="internal", Type="network"
    )["LoadBalancers"][0]
    foreign_tg = elbv2.create_target_group(
        Name=f"{prefix}b9-9098",
        Protocol="TCP",
        Port=9098,
        VpcId=w.vpc_id,
        TargetType="ip",
        Tags=[{"Key": "msk-privatelink:managed-by", "Value": "someone-else"}],
    )["TargetGroups"][0]
    elbv2.create_listener(
        LoadBalancerArn=foreign_lb["LoadBalancerArn"],
        Protocol="TCP",
        Port=9098,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": foreign_tg["TargetGroupArn"]}],
    )

    outcome = w.reconcile()
    again = w.reconcile()

    assert sorted(outcome.conflicts) == sorted([f"{prefix}b1-x", f"{prefix}b9-9098"])
    assert again.status == "unchanged"
    state = w.inventory_of_everything()
    assert f"{prefix}b1-x" in state["load_balancers"]
    assert state["listeners"][f"{prefix}b1-x"] == [(9098, f"{prefix}b9-9098")]
    assert f"{prefix}b9-9098" in state["target_groups"]


def test_a_foreign_resource_holding_one_of_our_names_stops_the_run_without_touching_it(
    w: World,
) -> None:
    elbv2 = w.aws.client("elbv2")
    name = load_balancer_name(w.cluster_arn, 1)
    elbv2.create_load_balancer(
        Name=name, Subnets=list(w.subnet_ids), Scheme="internal", Type="network"
    )

    with pytest.raises(OwnershipConflictError, match=name):
        w.reconcile()

    lb = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]
    assert (
        elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]
        == []
    )
    assert elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] == []


def test_empty_inventory_read_is_refused_and_changes_nothing(w: World) -> None:
    w.reconcile()
    before = w.inventory_of_everything()

    clients = w.clients()
    # A ListNodes answer that lost every broker (a broken read, not a real scale-in).
    clients.kafka.meta.events.register(
        "after-call.kafka.ListNodes",
        lambda parsed, **_: parsed.update({"NodeInfoList": []}),
    )
    w.counter.reset()

    outcome = w.reconciler(clients).reconcile(w.config)

    assert outcome.status == "refused"
    assert "empty" in outcome.reasons[0]
    assert w.counter.writes == Counter()
    assert w.inventory_of_everything() == before


def test_cluster_not_active_withholds_removals(w: World) -> None:
    w.aws.msk.scale(w.cluster_arn, 6)
    w.reconcile()
    w.aws.msk.scale(w.cluster_arn, 3)
    w.aws.msk.set_state(w.cluster_arn, "UPDATING")

    outcome = w.reconcile()

    assert outcome.status == "guarded"
    assert len(outcome.withheld) == 9
    assert len(w.inventory_of_everything()["load_balancers"]) == 6
    w.aws.msk.set_state(w.cluster_arn, "ACTIVE")
    assert w.reconcile().status == "converged"
    assert len(w.inventory_of_everything()["load_balancers"]) == 3


def test_unknown_cluster_is_a_clear_terminal_error(w: World) -> None:
    missing = replace(w.config, cluster_arn=w.cluster_arn.replace("demo-cluster", "gone-cluster"))
    w.counter.reset()
    with pytest.raises(ClusterNotFoundError, match="gone-cluster"):
        w.reconcile(missing)
    assert w.counter.writes == Counter()


def test_configured_principals_and_regions_reach_every_endpoint_service() -> None:
    principal = "arn:aws:iam::111122223333:root"
    with world(
        config_overrides={"allowed_principals": [principal], "supported_regions": ["eu-west-1"]}
    ) as w:
        w.reconcile()
        ec2 = w.aws.client("ec2")
        services = ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
        assert len(services) == 3
        for svc in services:
            allowed = ec2.describe_vpc_endpoint_service_permissions(ServiceId=svc["ServiceId"])
            assert [p["Principal"] for p in allowed["AllowedPrincipals"]] == [principal]
            assert "eu-west-1" in {r["Region"] for r in svc["SupportedRegions"]}
        w.counter.reset()
        assert w.reconcile().status == "unchanged"
        assert w.counter.writes == Counter()


def test_a_removal_blocked_by_connected_consumers_holds_only_that_broker(w: World) -> None:
    w.aws.msk.scale(w.cluster_arn, 6)
    w.reconcile()
    w.published()
    ec2 = w.aws.client("ec2")
    lb5 = load_balancer_name(w.cluster_arn, 5)
    lb5_arn = w.aws.client("elbv2").describe_load_balancers(Names=[lb5])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    held_service = next(
        s["ServiceId"]
        for s in ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
        if s["NetworkLoadBalancerArns"] == [lb5_arn]
    )

    def remember_ids(params: dict[str, object], context: dict[str, object], **_: object) -> None:
        context["service_ids"] = params.get("ServiceIds")

    def consumers_still_connected(context: dict[str, object], **_: object) -> object:
        # What EC2 answers while endpoints are still connected to the service.
        if context.get("service_ids") != [held_service]:
            return None
        error = {
            "Code": "ExistingVpcEndpointConnections",
            "Message": "Service has existing active VPC Endpoint connections",
        }
        return (
            AWSResponse("https://ec2.us-east-1.amazonaws.com/", 200, {}, None),
            {
                "Unsuccessful": [{"ResourceId": held_service, "Error": error}],
                "ResponseMetadata": {"HTTPStatusCode": 200},
            },
        )

    w.aws.msk.scale(w.cluster_arn, 3)
    clients = w.clients()
    events = clients.ec2.meta.events
    events.register(
        "provide-client-params.ec2.DeleteVpcEndpointServiceConfigurations", remember_ids
    )
    events.register(
        "before-call.ec2.DeleteVpcEndpointServiceConfigurations", consumers_still_connected
    )

    outcome = w.reconciler(clients).reconcile(w.config)

    assert outcome.status == "blocked"
    assert {c.broker_id for c, _ in outcome.blocked} == {5}
    assert "ExistingVpcEndpointConnections" in outcome.blocked[0][1]
    state = w.inventory_of_everything()
    assert state["load_balancers"] == sorted(
        load_balancer_name(w.cluster_arn, b) for b in (1, 2, 3, 5)
    )
    # Consumers were told first that only brokers 1-3 remain.
    (event,) = w.published()
    assert [b["brokerId"] for b in event["detail"]["brokers"]] == [1, 2, 3]
    # Once consumers let go, the next run finishes the removal.
    assert w.reconcile().status == "converged"
    assert len(w.inventory_of_everything()["load_balancers"]) == 3


def test_teardown_removes_only_what_this_project_created(w: World) -> None:
    w.reconcile()
    elbv2 = w.aws.client("elbv2")
    foreign = f"{name_prefix(w.cluster_arn)}keep"
    elbv2.create_load_balancer(
        Name=foreign, Subnets=list(w.subnet_ids), Scheme="internal", Type="network"
    )
    w.counter.reset()

    dry = w.reconciler().teardown(w.cluster_arn, dry_run=True)
    assert dry.status == "planned"
    assert len(dry.plan) == 9
    assert w.counter.writes == Counter()

    done = w.reconciler().teardown(w.cluster_arn)

    assert done.status == "converged"
    state = w.inventory_of_everything()
    assert state["load_balancers"] == [foreign]
    assert state["target_groups"] == {}
    assert state["endpoint_service_count"] == 0


def test_granted_principals_are_trusted_from_their_digest_and_the_deep_sweep_repairs_drift() -> (
    None
):
    principal = "arn:aws:iam::111122223333:root"
    with world(config_overrides={"allowed_principals": [principal]}) as w:
        w.reconcile()
        w.counter.reset()
        assert w.reconcile().status == "unchanged"
        # Event-driven runs read no permissions: the digest tag vouches for them.
        assert w.counter.calls["DescribeVpcEndpointServicePermissions"] == 0

        ec2 = w.aws.client("ec2")
        victim = ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"][0]
        ec2.modify_vpc_endpoint_service_permissions(
            ServiceId=victim["ServiceId"], RemoveAllowedPrincipals=[principal]
        )

        outcome = w.reconciler().reconcile(w.config, deep=True)

        assert [c.step.name for c in outcome.applied] == ["UPDATE_ENDPOINT_PERMISSIONS"]
        allowed = ec2.describe_vpc_endpoint_service_permissions(ServiceId=victim["ServiceId"])
        assert [p["Principal"] for p in allowed["AllowedPrincipals"]] == [principal]
        assert w.reconciler().reconcile(w.config, deep=True).status == "unchanged"


def test_a_grant_interrupted_before_its_digest_is_recorded_is_read_and_recorded() -> None:
    principal = "arn:aws:iam::111122223333:root"
    with world(config_overrides={"allowed_principals": [principal]}) as w:
        w.reconcile()
        ec2 = w.aws.client("ec2")
        svc = ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"][0]
        # As if the run died between the grant and the tag write.
        ec2.create_tags(
            Resources=[svc["ServiceId"]],
            Tags=[{"Key": "msk-privatelink:principals-digest", "Value": "stale"}],
        )
        w.counter.reset()
        w.now += 60  # the last run's lease ended well before this run reads

        outcome = w.reconcile()

        # Nobody else wrote while it read: the plan is not made twice.
        assert w.counter.calls["DescribeVpcEndpointServicePermissions"] == 1
        assert w.counter.writes["ModifyVpcEndpointServicePermissions"] == 0
        assert w.counter.writes["CreateTags"] == 1
        assert outcome.status == "converged"
        w.counter.reset()
        assert w.reconcile().status == "unchanged"
        assert w.counter.calls["DescribeVpcEndpointServicePermissions"] == 0


def test_a_second_reconcile_never_writes_while_the_first_holds_the_lease(w: World) -> None:
    holder = w.leases(w.clients())
    holder.acquire(w.cluster_arn)
    w.counter.reset()

    with pytest.raises(LeaseHeldError):
        w.reconcile()

    # Only the refused conditional lease write was attempted.
    assert w.counter.writes == Counter({"UpdateItem:lease": 1})
    assert w.inventory_of_everything()["load_balancers"] == []


def test_a_crashed_holders_lease_expires(w: World) -> None:
    w.leases(w.clients()).acquire(w.cluster_arn)  # and then the holder dies
    with pytest.raises(LeaseHeldError):
        w.reconcile()

    w.now += LEASE_SECONDS + 1

    assert w.reconcile().status == "converged"
    assert w.residual_plan_size() == 0


def test_the_lease_is_released_after_a_run_and_after_a_failed_run(w: World) -> None:
    w.reconcile()
    assert w.reconcile().status == "unchanged"  # a new holder got it at once
    with pytest.raises(ClusterNotFoundError):
        w.reconcile(replace(w.config, cluster_arn=w.cluster_arn + "0"))
    assert w.reconcile().status == "unchanged"


def test_a_plan_is_made_again_when_another_writer_held_the_lease_meanwhile(w: World) -> None:
    w.reconcile()
    w.aws.msk.replace_broker(w.cluster_arn, 1)
    w.now += 60
    # Another writer's lease ended just now, after this run started reading.
    other = w.leases(w.clients())
    other.release(other.acquire(w.cluster_arn))
    w.counter.reset()

    assert w.reconcile().status == "converged"

    assert w.counter.calls["ListNodes"] == 2  # read, then read again under the lease
    w.now += 60
    w.aws.msk.replace_broker(w.cluster_arn, 2)
    w.counter.reset()
    assert w.reconcile().status == "converged"
    assert w.counter.calls["ListNodes"] == 1


def test_a_guarded_run_never_tells_consumers_to_drop_a_withheld_broker(w: World) -> None:
    """ListNodes answers without broker 3 (a partial read): the guard withholds
    its removal, and no event may tell consumers to delete its endpoint."""
    w.reconcile()
    assert {b["brokerId"] for b in w.published()[-1]["detail"]["brokers"]} == {1, 2, 3}

    clients = w.clients()
    clients.kafka.meta.events.register(
        "after-call.kafka.ListNodes",
        lambda parsed, **_: parsed.update(
            NodeInfoList=[
                n for n in parsed["NodeInfoList"] if int(n["BrokerNodeInfo"]["BrokerId"]) != 3
            ]
        ),
    )
    outcome = w.reconciler(clients).reconcile(w.config)

    assert outcome.status == "guarded"
    assert {c.broker_id for c in outcome.withheld} == {3}
    told = [{b["brokerId"] for b in e["detail"]["brokers"]} for e in w.published()]
    assert all(3 in brokers for brokers in told), told
    assert outcome.generation is None

    # The full answer again: nothing changed for consumers, nothing to publish.
    assert w.reconcile().status == "unchanged"
    assert w.published() == []


def test_a_deep_run_repairs_cross_zone_load_balancing_switched_off_by_hand(w: World) -> None:
    """The marker tag says the attributes were applied; only a read of the
    attributes shows someone switched cross-zone off since."""
    w.reconcile()
    elbv2 = w.aws.client("elbv2")
    lb_arn = elbv2.describe_load_balancers(Names=[load_balancer_name(w.cluster_arn, 2)])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    cross_zone = "load_balancing.cross_zone.enabled"

    def cross_zone_value() -> str:
        attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb_arn)["Attributes"]
        return {a["Key"]: a["Value"] for a in attributes}[cross_zone]

    assert cross_zone_value() == "true"
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=lb_arn, Attributes=[{"Key": cross_zone, "Value": "false"}]
    )

    # An event-driven run trusts the marker (cheap); a deep run reads and repairs.
    assert w.reconcile().status == "unchanged"
    outcome = w.reconciler().reconcile(w.config, deep=True)

    assert outcome.status == "converged"
    assert [(c.step.name, c.broker_id) for c in outcome.applied] == [("CONFIGURE_LOAD_BALANCER", 2)]
    assert cross_zone_value() == "true"
    assert w.reconciler().reconcile(w.config, deep=True).status == "unchanged"
