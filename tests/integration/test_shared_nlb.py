"""shared-nlb on the embedded AWS: one NLB and endpoint service, a listener per
broker on base + id, bootstrap listeners, the provider hosted zone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.naming import (
    TAG_CLUSTER_ARN,
    TAG_MANAGED_BY,
    bootstrap_target_group_name,
    shared_load_balancer_name,
    shared_target_group_name,
)
from msk_privatelink.kernel.records import parse, replace, to_data
from msk_privatelink.reconcile.aws.msk import target_broker_count
from msk_privatelink.reconcile.config import ClusterConfig, parse_config
from msk_privatelink_dev.embedded import EmbeddedAws
from tests.integration.harness import World, create_world, world

pytestmark = pytest.mark.integration

SHARED: dict[str, Any] = {"pattern": "shared-nlb"}
# Default bases: tls 8440 + id, sasl_iam 9000 + id; bootstrap on the broker ports.
SCHEMES = {"tls": (8440, 9094), "sasl_iam": (9000, 9098)}


@pytest.fixture
def w() -> Iterator[World]:
    with world(auth=("tls", "iam"), config_overrides=SHARED) as created:
        yield created


def expected(w: World) -> dict[str, Any]:
    """The whole ELB side for the brokers ListNodes reports now."""
    ips = w.broker_ips()
    arn = w.cluster_arn
    target_groups: dict[str, list[tuple[str, int]]] = {}
    listeners: list[tuple[int, str]] = []
    for base, broker_port in SCHEMES.values():
        for broker_id, ip in ips.items():
            name = shared_target_group_name(arn, broker_id, base + broker_id)
            target_groups[name] = [(ip, broker_port)]
            listeners.append((base + broker_id, name))
        boot = bootstrap_target_group_name(arn, broker_port)
        target_groups[boot] = sorted((ip, broker_port) for ip in ips.values())
        listeners.append((broker_port, boot))
    return {
        "load_balancers": [shared_load_balancer_name(arn)],
        "target_groups": target_groups,
        "listeners": {shared_load_balancer_name(arn): sorted(listeners)},
        "endpoint_service_count": 1,
    }


def elb_state(w: World) -> dict[str, Any]:
    state = w.inventory_of_everything()
    return {k: state[k] for k in ("load_balancers", "target_groups", "listeners")} | {
        "endpoint_service_count": state["endpoint_service_count"]
    }


def zones(w: World) -> dict[str, dict[str, str]]:
    """Every hosted zone: name -> {record name: alias DNS name or type}."""
    r53 = w.aws.client("route53")
    out: dict[str, dict[str, str]] = {}
    for zone in r53.list_hosted_zones()["HostedZones"]:
        records = r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
        out[zone["Name"].rstrip(".")] = {
            r["Name"].rstrip("."): r["AliasTarget"]["DNSName"].rstrip(".")
            if "AliasTarget" in r
            else r["Type"]
            for r in records
            if r["Type"] not in ("SOA", "NS")
        }
    return out


def cluster_domain(w: World) -> str:
    host = w.aws.client("kafka").list_nodes(ClusterArn=w.cluster_arn)["NodeInfoList"][0][
        "BrokerNodeInfo"
    ]["Endpoints"][0]
    return str(host.split(".", 1)[1])


def lb_dns(w: World) -> str:
    lbs = w.aws.client("elbv2").describe_load_balancers()["LoadBalancers"]
    return str(lbs[0]["DNSName"])


def expected_records(w: World) -> dict[str, str]:
    domain = cluster_domain(w)
    return {f"b-{b}.{domain}": lb_dns(w) for b in w.broker_ips()}


def reads_budget(w: World) -> int:
    state = w.inventory_of_everything()
    return len(state["target_groups"]) + len(state["load_balancers"]) + 10


def test_create_builds_one_nlb_listeners_per_broker_bootstrap_groups_and_the_zone(
    w: World,
) -> None:
    outcome = w.reconcile()

    assert outcome.status == "converged"
    assert elb_state(w) == expected(w)
    # One internal, cross-zone NLB over the client subnets.
    elbv2 = w.aws.client("elbv2")
    (lb,) = elbv2.describe_load_balancers()["LoadBalancers"]
    assert lb["Scheme"] == "internal"
    assert sorted(az["SubnetId"] for az in lb["AvailabilityZones"]) == sorted(w.subnet_ids)
    attrs = elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])
    assert {a["Key"]: a["Value"] for a in attrs["Attributes"]}[
        "load_balancing.cross_zone.enabled"
    ] == "true"
    # The provider zone: the cluster's own domain, private, in the cluster VPC, ours.
    assert zones(w) == {cluster_domain(w): expected_records(w)}
    r53 = w.aws.client("route53")
    (zone,) = r53.list_hosted_zones()["HostedZones"]
    assert zone["Config"]["PrivateZone"] is True
    assert not zone["Name"].startswith("kafka.")
    vpcs = r53.get_hosted_zone(Id=zone["Id"])["VPCs"]
    assert [v["VPCId"] for v in vpcs] == [w.vpc_id]
    tags = {
        t["Key"]: t["Value"]
        for t in r53.list_tags_for_resource(
            ResourceType="hostedzone", ResourceId=zone["Id"].split("/")[-1]
        )["ResourceTagSet"]["Tags"]
    }
    assert tags[TAG_MANAGED_BY] == "msk-privatelink"
    assert tags[TAG_CLUSTER_ARN] == w.cluster_arn
    # Consumers hear one shared service, per-broker ports and the bootstrap block.
    (event,) = w.published()
    detail = event["detail"]
    assert detail["pattern"] == "shared-nlb"
    assert [(b["brokerId"], b["ports"]) for b in detail["brokers"]] == [
        (b, {"sasl_iam": 9000 + b, "tls": 8440 + b}) for b in (1, 2, 3)
    ]
    assert len({b["endpointServiceId"] for b in detail["brokers"]}) == 1
    assert detail["bootstrap"]["ports"] == {"sasl_iam": 9098, "tls": 9094}
    assert detail["bootstrap"]["endpointServiceId"] == detail["brokers"][0]["endpointServiceId"]
    assert w.residual_plan_size() == 0


def test_second_run_writes_nothing_and_reads_within_budget(w: World) -> None:
    w.reconcile()
    w.published()
    w.counter.reset()

    outcome = w.reconcile()

    assert outcome.status == "unchanged"
    assert w.counter.writes == Counter()
    reads = sum(w.counter.reads.values())
    # 8 target groups + 1 load balancer + 10.
    assert reads <= reads_budget(w) - 1 == 18, w.counter.reads
    # A steady cluster costs no operation read.
    assert w.counter.reads["DescribeClusterOperationV2"] == 0
    # The zone id recorded on the NLB stands in for reading zone tags.
    assert w.counter.reads["ListTagsForResources"] == 0
    assert w.published() == []


def test_replacement_registers_in_both_groups_before_deregistering(w: World) -> None:
    w.reconcile()
    w.published()
    old_ip = w.broker_ips()[2]
    w.aws.msk.replace_broker(w.cluster_arn, 2)
    new_ip = w.broker_ips()[2]
    order: list[tuple[str, str]] = []

    def record(model: Any, params: Any, **_: Any) -> None:
        if model.name in ("RegisterTargets", "DeregisterTargets"):
            order.append((model.name, params["TargetGroupArn"].split("/")[-2]))

    w.counter.reset()
    outcome = w.reconciler(w.clients(("before-parameter-build.*.*", record))).reconcile(w.config)

    assert outcome.status == "converged"
    # Per scheme: broker 2's own group and the bootstrap group, both ways.
    assert w.counter.writes == Counter(
        {
            "RegisterTargets": 4,
            "DeregisterTargets": 4,
            "UpdateItem:lease": 2,
            "UpdateItem:brokers": 1,  # the change detector's baseline
        }
    )
    arn = w.cluster_arn
    groups = {
        shared_target_group_name(arn, 2, 8442),
        shared_target_group_name(arn, 2, 9002),
        bootstrap_target_group_name(arn, 9094),
        bootstrap_target_group_name(arn, 9098),
    }
    assert {g for _, g in order} == groups
    assert [op for op, _ in order] == ["RegisterTargets"] * 4 + ["DeregisterTargets"] * 4
    state = elb_state(w)
    assert state == expected(w)
    assert all(ip != old_ip for group in state["target_groups"].values() for ip, _ in group)
    assert (new_ip, 9094) in state["target_groups"][bootstrap_target_group_name(arn, 9094)]
    assert w.published() == []


def test_scale_out_and_in_write_only_for_the_affected_brokers(w: World) -> None:
    w.reconcile()
    w.published()
    w.aws.msk.scale(w.cluster_arn, 6)
    w.counter.reset()

    assert w.reconcile().status == "converged"

    # 3 new brokers x 2 schemes: a group and a listener each; their IPs go
    # into their groups and (one call per scheme) the bootstrap groups; one
    # Route 53 batch for the three names. Nothing else is touched.
    assert w.counter.writes == Counter(
        {
            "CreateTargetGroup": 6,
            "CreateListener": 6,
            "RegisterTargets": 8,
            "ChangeResourceRecordSets": 1,
            "UpdateItem:lease": 2,
            "PutEvents": 1,
            "UpdateItem": 1,
            "UpdateItem:brokers": 1,  # the change detector's baseline
        }
    )
    assert elb_state(w) == expected(w)
    assert zones(w) == {cluster_domain(w): expected_records(w)}
    (event,) = w.published()
    assert [b["brokerId"] for b in event["detail"]["brokers"]] == [1, 2, 3, 4, 5, 6]

    w.aws.msk.scale(w.cluster_arn, 3)
    removed = 3
    w.counter.reset()

    assert w.reconcile().status == "converged"

    assert w.counter.writes == Counter(
        {
            "DeregisterTargets": 2,
            "DeleteListener": 2 * removed,
            "DeleteTargetGroup": 2 * removed,
            "ChangeResourceRecordSets": removed,
            "UpdateItem:lease": 2,
            "PutEvents": 1,
            "UpdateItem": 1,
            "UpdateItem:brokers": 1,
        }
    )
    assert elb_state(w) == expected(w)
    assert zones(w) == {cluster_domain(w): expected_records(w)}
    assert w.residual_plan_size() == 0


def test_scale_in_beyond_the_removal_ratio_is_withheld(w: World) -> None:
    w.aws.msk.scale(w.cluster_arn, 6)
    w.reconcile()
    w.aws.msk.scale(w.cluster_arn, 3)
    # Half the brokers go, above a 40% limit.
    w.config = replace(w.config, guard=replace(w.config.guard, max_broker_removal_ratio=0.4))
    w.counter.reset()

    outcome = w.reconcile()

    assert outcome.status == "guarded"
    assert any("removes 3 of 6 brokers" in r for r in outcome.reasons)
    assert not {"DeleteListener", "DeleteTargetGroup", "DeregisterTargets"} & set(w.counter.writes)


@pytest.mark.parametrize(
    ("shared_nlb", "message"),
    [
        ({"listener_quota": 6}, "listener_quota 6 leaves no listener for a broker"),
        ({"port_bases": {"tls": 9001}}, "port 9002: broker 2 sasl_iam and broker 1 tls"),
        ({"bootstrap_ports": {"tls": 8442}}, "port 8442: bootstrap_ports.tls and broker 2 tls"),
        ({"port_bases": {"tls": 65534}}, "out of range"),
    ],
)
def test_port_problems_are_refused_before_any_write(
    w: World, shared_nlb: dict[str, Any], message: str
) -> None:
    document = {**to_data(w.config), "shared_nlb": shared_nlb}

    # Port clashes and shards that cannot hold a broker are refused when the
    # document is loaded, for every broker id up to max_brokers.
    with pytest.raises(ConfigError, match="shared-nlb") as refused:
        w.reconcile(parse_config(document, "the document"))

    assert message in str(refused.value)
    assert w.counter.writes == Counter()


def test_foreign_look_alike_zone_and_target_group_are_left_alone(w: World) -> None:
    r53 = w.aws.client("route53")
    domain = cluster_domain(w)
    foreign = r53.create_hosted_zone(
        Name=domain,
        CallerReference="someone-else",
        VPC={"VPCRegion": "us-east-1", "VPCId": w.vpc_id},
        HostedZoneConfig={"PrivateZone": True},
    )["HostedZone"]["Id"]
    r53.change_resource_record_sets(
        HostedZoneId=foreign,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": f"b-1.{domain}",
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "10.9.9.9"}],
                    },
                }
            ]
        },
    )
    look_alike = shared_target_group_name(w.cluster_arn, 9, 8449)
    w.aws.client("elbv2").create_target_group(
        Name=look_alike, Protocol="TCP", Port=9094, VpcId=w.vpc_id, TargetType="ip"
    )
    before = zones(w)

    outcome = w.reconcile()

    assert outcome.status == "converged"
    assert elb_state(w)["listeners"] == expected(w)["listeners"]
    assert zones(w) == before
    assert f"hosted zone {domain} (not ours)" in outcome.conflicts
    assert look_alike in outcome.conflicts
    assert not {k for k in w.counter.writes if k.endswith(("HostedZone", "RecordSets"))}
    assert look_alike in w.inventory_of_everything()["target_groups"]
    assert w.residual_plan_size() == 0


def test_switching_the_provider_zone_off_removes_records_then_the_zone(w: World) -> None:
    w.reconcile()
    assert zones(w)
    config = parse(ClusterConfig, {**to_data(w.config), "shared_nlb": {"provider_zone": False}})
    order: list[str] = []
    clients = w.clients(("before-call.*.*", lambda model, **_: order.append(model.name)))

    outcome = w.reconciler(clients).reconcile(config)

    assert outcome.status == "converged"
    assert zones(w) == {}
    writes = [op for op in order if op.startswith(("Change", "Delete"))]
    assert writes == ["ChangeResourceRecordSets"] * 3 + ["DeleteHostedZone"]
    assert elb_state(w) == expected(w)


def test_teardown_removes_everything_including_the_zone(w: World) -> None:
    w.reconcile()

    outcome = w.reconciler().teardown(w.cluster_arn)

    assert outcome.status in ("converged", "blocked")
    state = w.inventory_of_everything()
    assert state["target_groups"] == {}
    assert zones(w) == {}


def test_scale_out_in_progress_prepares_listeners_before_the_new_ips_exist() -> None:
    with EmbeddedAws(complete_immediately=False) as aws:
        w = create_world(aws, auth=("tls", "iam"), config_overrides=SHARED)
        aws.msk.complete_operations(w.cluster_arn)
        w.reconcile()
        w.published()
        operation_arn = aws.msk.scale(w.cluster_arn, 6)
        operation = aws.client("kafka").describe_cluster_operation_v2(
            ClusterOperationArn=operation_arn
        )["ClusterOperationInfo"]
        assert target_broker_count(dict(operation)) == 6
        w.counter.reset()

        # UPDATING: brokers 4-6 have no IP yet.
        outcome = w.reconcile()

        assert outcome.status == "converged"
        assert w.counter.reads["DescribeClusterOperationV2"] >= 1
        writes = w.counter.writes
        assert writes["CreateTargetGroup"] == 6
        assert writes["CreateListener"] == 6
        assert writes["RegisterTargets"] == 0
        arn = w.cluster_arn
        state = w.inventory_of_everything()
        for broker_id in (4, 5, 6):
            assert (
                state["target_groups"][shared_target_group_name(arn, broker_id, 8440 + broker_id)]
                == []
            )
        (event,) = w.published()
        assert [b["brokerId"] for b in event["detail"]["brokers"]] == [1, 2, 3, 4, 5, 6]

        aws.msk.complete_operations(w.cluster_arn)
        w.counter.reset()

        assert w.reconcile().status == "converged"

        # Only the new addresses: the listeners were already there.
        assert w.counter.writes == Counter(
            {"RegisterTargets": 8, "UpdateItem:lease": 2, "UpdateItem:brokers": 1}
        )
        assert elb_state(w) == expected(w)
        assert w.published() == []
