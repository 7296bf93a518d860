"""The connectivity canary against real Apache Kafka brokers.

A three-broker Kafka cluster (plaintext) stands behind a shared-nlb cluster
on the embedded AWS: the reconciler builds the NLB, the NLB stand-in serves
its listeners on loopback and forwards each target (a simulated broker ENI
IP on port 9092) to the real broker. A consumer account is onboarded
through its real consumer-sync handler; the canary's real handler creates
its prober and probes from a stand-in of the consumer VPC
(tests/kafka/consumer_network.py: names resolve through the consumer's
private hosted zone to its endpoint's addresses; those addresses reach the
NLB's listeners).

Proven: green after onboarding; red naming broker 2 when its target is
deregistered, green after the reconciler repairs it; red at DNS naming the
broker when its record points elsewhere; a broker replacement shows its red
window and the recovery once the reconciler has moved the target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from msk_privatelink.kernel.consumer_events import ConsumerConnectivityReport
from msk_privatelink.kernel.naming import shared_load_balancer_name
from msk_privatelink.kernel.records import parse
from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.local.workflows import keep_sender
from tests.consumer.canary_wiring import SCHEDULED, Canary
from tests.consumer.support import events_of
from tests.consumer.wiring import (
    ConsumerStack,
    add_consumer_stack,
    provider_replies,
    provider_replies_queue,
    put_on_provider_bus,
)
from tests.integration.harness import World, create_world
from tests.kafka.broker import KafkaRuntime
from tests.kafka.consumer_network import ConsumerNetwork
from tests.kafka.data_path_cluster import KafkaCluster, start_cluster
from tests.kafka.nlb_standin import NlbStandIn, Target, free_port_block

pytestmark = pytest.mark.kafka

BROKER_PORT = 9092  # where the reconciler registers each broker's ENI IP (plaintext)
REPLACED = 2


@pytest.fixture
def kafka_cluster(kafka_rt: KafkaRuntime, tmp_path: Path) -> Iterator[KafkaCluster]:
    cluster = start_cluster(kafka_rt, tmp_path / "kafka")
    try:
        yield cluster
    finally:
        cluster.stop()


def plaintext_shared_nlb(aws: EmbeddedAws, base: int) -> World:
    return create_world(
        aws,
        auth=("unauthenticated",),
        client_broker="PLAINTEXT",
        config_overrides={
            "pattern": "shared-nlb",
            "auth_schemes": ["plaintext"],
            "shared_nlb": {
                "port_bases": {"plaintext": base},
                "bootstrap_ports": {"plaintext": base},
                "provider_zone": False,
            },
        },
    )


def reconcile(w: World) -> None:
    outcome = w.reconciler().reconcile(w.config)
    assert outcome.status in ("converged", "unchanged"), outcome.to_dict()


def reports(w: World, url: str) -> list[ConsumerConnectivityReport]:
    return [
        parse(ConsumerConnectivityReport, body["detail"])
        for body in provider_replies(w, url)
        if body["detail-type"] == "ConsumerConnectivityReport"
    ]


def run(canary_invoke: object, w: World, url: str) -> ConsumerConnectivityReport:
    assert callable(canary_invoke)
    canary_invoke(SCHEDULED)
    (report,) = reports(w, url)
    return report


def failing(report: ConsumerConnectivityReport) -> dict[str, str]:
    return {f.broker: f.step for f in report.failures}


def test_the_canary_sees_what_clients_see_through_privatelink_to_real_brokers(
    kafka_cluster: KafkaCluster,
) -> None:
    cluster = kafka_cluster
    base = free_port_block(1 + len(cluster.brokers))
    with EmbeddedAws() as aws, keep_sender():
        w = plaintext_shared_nlb(aws, base)
        reconcile(w)
        view = events_of(w)[-1]
        assert {b.broker_id: b.ports["plaintext"] for b in view.brokers} == {
            i: base + i for i in (1, 2, 3)
        }
        table = {
            Target(ip, BROKER_PORT): cluster.brokers[broker_id].client_address
            for broker_id, ip in w.broker_ips().items()
        }
        lb_arn = aws.client("elbv2").describe_load_balancers(
            Names=[shared_load_balancer_name(w.cluster_arn)]
        )["LoadBalancers"][0]["LoadBalancerArn"]

        # The consumer onboarded through its real consumer-sync handler.
        stack: ConsumerStack = add_consumer_stack(w, "111122223333")
        replies = provider_replies_queue(w)
        stack.queued()
        put_on_provider_bus(w, stack.onboarding(view))
        (result,) = stack.deliver()
        assert result["status"] == "ready", result
        provider_replies(w, replies)

        infra = stack.infra()
        network = ConsumerNetwork(
            infra.ec2, infra.route53, stack.consumer.settings.vpc_id, stack.consumer.region
        )
        canary = Canary(stack, network=(network.resolve, network.route))
        canary.deploy()
        invoke = canary.handler()

        with NlbStandIn(aws.client("elbv2"), lb_arn, table) as nlb:
            # The first run creates the prober; the next one probes.
            assert run(invoke, w, replies).state == "unchecked"
            green = run(invoke, w, replies)
            assert (green.state, green.probes, green.failed) == ("reachable", 4, 0)
            assert {port for port, _ in nlb.forwarded()} == {base, base + 1, base + 2, base + 3}
            assert network.resolved, "the names resolved through the consumer's zone"

            # A broker's target deregistered: red naming that broker alone.
            elbv2 = aws.client("elbv2")
            groups = elbv2.describe_target_groups(LoadBalancerArn=lb_arn)["TargetGroups"]
            ip = w.broker_ips()[REPLACED]
            group = next(
                g["TargetGroupArn"]
                for g in groups
                if any(
                    t["Target"]["Id"] == ip
                    for t in elbv2.describe_target_health(TargetGroupArn=g["TargetGroupArn"])[
                        "TargetHealthDescriptions"
                    ]
                )
                and g["Port"] == BROKER_PORT
                and len(
                    elbv2.describe_target_health(TargetGroupArn=g["TargetGroupArn"])[
                        "TargetHealthDescriptions"
                    ]
                )
                == 1
            )
            elbv2.deregister_targets(
                TargetGroupArn=group, Targets=[{"Id": ip, "Port": BROKER_PORT}]
            )
            nlb.refresh()
            red = run(invoke, w, replies)
            assert red.state == "unreachable"
            assert set(failing(red)) == {str(REPLACED)}
            assert failing(red)[str(REPLACED)] in ("tcp", "kafka")

            # The reconciler repairs it: green again.
            reconcile(w)
            nlb.refresh()
            assert run(invoke, w, replies).state == "reachable"

            # A record that points elsewhere: red at DNS, naming the broker.
            zone = infra.route53.list_hosted_zones_by_vpc(
                VPCId=stack.consumer.settings.vpc_id, VPCRegion=stack.consumer.region
            )["HostedZoneSummaries"][0]["HostedZoneId"]
            host = next(b.host_names[0] for b in view.brokers if b.broker_id == 1)
            records = infra.route53.list_resource_record_sets(HostedZoneId=zone)[
                "ResourceRecordSets"
            ]
            (original,) = [r for r in records if r["Name"].rstrip(".") == host and r["Type"] == "A"]
            infra.route53.change_resource_record_sets(
                HostedZoneId=zone,
                ChangeBatch={
                    "Changes": [
                        {"Action": "DELETE", "ResourceRecordSet": original},
                        {
                            "Action": "CREATE",
                            "ResourceRecordSet": {
                                "Name": host,
                                "Type": "A",
                                "TTL": 60,
                                "ResourceRecords": [{"Value": "10.99.0.1"}],
                            },
                        },
                    ]
                },
            )
            elsewhere = run(invoke, w, replies)
            assert failing(elsewhere) == {"1": "dns"}
            assert "10.99.0.1" in elsewhere.failures[0].detail
            infra.route53.change_resource_record_sets(
                HostedZoneId=zone,
                ChangeBatch={
                    "Changes": [
                        {
                            "Action": "DELETE",
                            "ResourceRecordSet": {
                                "Name": host,
                                "Type": "A",
                                "TTL": 60,
                                "ResourceRecords": [{"Value": "10.99.0.1"}],
                            },
                        },
                        {"Action": "CREATE", "ResourceRecordSet": original},
                    ]
                },
            )
            assert run(invoke, w, replies).state == "reachable"

            # A broker replacement: MSK gives broker 2 a new ENI and address;
            # until the reconciler moves the target, its path is red.
            aws.msk.replace_broker(w.cluster_arn, REPLACED)
            new_ip = w.broker_ips()[REPLACED]
            table[Target(new_ip, BROKER_PORT)] = cluster.brokers[REPLACED].client_address
            del table[Target(ip, BROKER_PORT)]
            window = run(invoke, w, replies)
            # The bootstrap listener may also pick the old target: the
            # stand-in has no health checks to take it out of rotation.
            assert {str(REPLACED)} <= set(failing(window)) <= {str(REPLACED), "bootstrap"}
            reconcile(w)
            nlb.refresh()
            recovered = run(invoke, w, replies)
            assert (recovered.state, recovered.failed) == ("reachable", 0)
