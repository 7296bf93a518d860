"""Two accounts on the embedded AWS: the provider (the harness's world, account
123456789012) and a consumer reached through STS AssumeRole (moto keeps every
account's resources apart and maps assumed-role keys to the role's account)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.consumer.aws.side import ConsumerOutcome, ConsumerSync
from msk_privatelink.consumer.aws.state import ConsumerStateReader
from msk_privatelink.consumer.sync import (
    TAG_GENERATION,
    ConsumerSettings,
    build_consumer_desired,
    compute_consumer_plan,
)
from msk_privatelink.kernel.dns import cluster_zone_name
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import parse
from msk_privatelink_dev.local.consumers import account_session, create_consumer_network
from tests.integration.harness import CallCounter, World, is_mutating, world

CONSUMER_ACCOUNT = "111122223333"
FOREIGN_ZONE = "kafka.us-east-1.amazonaws.com"

Hook = tuple[str, Callable[..., Any]]


@dataclass
class Consumer:
    """One consumer account with its VPC, subnets and security group."""

    provider: World
    account_id: str
    credentials: dict[str, str]
    settings: ConsumerSettings
    region: str = "us-east-1"
    counter: CallCounter = field(default_factory=CallCounter)
    _clients: dict[str, Any] = field(default_factory=dict)

    def session(self, *hooks: Hook, counted: bool = True) -> boto3.Session:
        session = account_session(self.credentials, self.region)
        if counted:
            session.events.register("before-call.*.*", self.counter)
        for event, hook in hooks:
            session.events.register(event, hook)
        return session

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session(counted=False).client(service)
        return self._clients[service]

    def service(self, *hooks: Hook) -> ConsumerSync:
        return ConsumerSync.from_clients(self.clients(*hooks), self.settings)

    def clients(self, *hooks: Hook) -> AwsClients:
        return AwsClients(self.session(*hooks), region=self.region)

    def sync(self, event: BrokerEndpointsChanged) -> ConsumerOutcome:
        return self.service().sync(event)

    def residual_plan_size(self, event: BrokerEndpointsChanged) -> int:
        desired = build_consumer_desired(event, self.settings)
        reader = ConsumerStateReader(self.client("ec2"), self.client("route53"))
        zone_name = desired.zone.name if desired.zone else None
        actual = reader.read(event.cluster_arn, self.settings, zone_name)
        return len(compute_consumer_plan(desired, actual))

    def state(self) -> dict[str, Any]:
        """Everything in the consumer account: live endpoints, zones, their tags and records."""
        ec2 = self.client("ec2")
        route53 = self.client("route53")
        endpoints = [
            e
            for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
            if e["State"].lower() not in ("deleted", "deleting")
        ]
        zones: dict[str, Any] = {}
        for zone in route53.list_hosted_zones()["HostedZones"]:
            zone_id = zone["Id"].rsplit("/", 1)[-1]
            tags = route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)
            records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
            zones[zone_id] = {
                "name": zone["Name"].rstrip("."),
                "private": zone["Config"]["PrivateZone"],
                "vpcs": [v["VPCId"] for v in route53.get_hosted_zone(Id=zone_id).get("VPCs", [])],
                "tags": {t["Key"]: t["Value"] for t in tags["ResourceTagSet"].get("Tags", [])},
                "records": sorted(
                    (
                        r["Name"].rstrip("."),
                        r["Type"],
                        r.get("SetIdentifier", ""),
                        r.get("AliasTarget", {}).get("DNSName", ""),
                    )
                    for r in records
                    if r["Type"] not in ("SOA", "NS")
                ),
            }
        return {
            "endpoints": sorted(
                (e["ServiceName"], e["VpcEndpointId"], e["VpcId"]) for e in endpoints
            ),
            "dns": {e["VpcEndpointId"]: e["DnsEntries"][0]["DnsName"].lower() for e in endpoints},
            "zones": zones,
        }

    def zones_named(self, name: str) -> dict[str, Any]:
        return {k: v for k, v in self.state()["zones"].items() if v["name"] == name}


def create_network(
    session: boto3.Session, cidr_prefix: str = "10.20"
) -> tuple[str, tuple[str, ...], str]:
    """A consumer VPC (three subnets, a client security group) in the session's account."""
    return create_consumer_network(session.client("ec2"), cidr_prefix)


def add_consumer(
    w: World, account_id: str = CONSUMER_ACCOUNT, region: str | None = None
) -> Consumer:
    """A consumer account reached with STS AssumeRole from the provider's account,
    in the provider's Region unless ``region`` names another."""
    region = region or w.aws.region
    credentials = w.aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/msk-privatelink-consumer",
        RoleSessionName="consumer-sync",
    )["Credentials"]
    creds = {k: str(credentials[k]) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    session = account_session(creds, region)
    assert session.client("sts").get_caller_identity()["Account"] == account_id
    vpc_id, subnet_ids, group_id = create_network(session)
    settings = ConsumerSettings(
        vpc_id=vpc_id,
        subnet_ids=tuple(subnet_ids),
        security_group_ids=(group_id,),
        region=region,
    )
    return Consumer(w, account_id, creds, settings, region)


def events_of(w: World) -> list[BrokerEndpointsChanged]:
    """BrokerEndpointsChanged events the provider published since the last call."""
    return [
        parse(BrokerEndpointsChanged, body["detail"])
        for body in w.published()
        if body.get("detail-type") == "BrokerEndpointsChanged"
    ]


def reconcile_and_take_event(w: World) -> BrokerEndpointsChanged:
    w.reconcile()
    events = events_of(w)
    assert events, "the provider published nothing"
    return events[-1]


@contextmanager
def two_accounts(**kwargs: Any) -> Iterator[tuple[World, Consumer]]:
    with world(**kwargs) as w:
        yield w, add_consumer(w)


def zone_of(event: BrokerEndpointsChanged) -> str:
    return cluster_zone_name(h for b in event.brokers for h in b.host_names)


def assert_follows(c: Consumer, event: BrokerEndpointsChanged) -> None:
    """One endpoint per endpoint service, one zone of ours, one record per name
    (nlb-per-broker: weighted bootstrap aliases, one per broker; shared-nlb: one
    bootstrap alias to the bootstrap service's endpoint)."""
    state = c.state()
    bootstrap = event.bootstrap
    wanted = {b.endpoint_service_name for b in event.brokers}
    if bootstrap is not None:
        wanted.add(bootstrap.endpoint_service_name)
    services = [s for s, _, _ in state["endpoints"]]
    assert sorted(services) == sorted(wanted)
    assert {vpc for _, _, vpc in state["endpoints"]} == {c.settings.vpc_id}
    endpoint_by_service = {s: e for s, e, _ in state["endpoints"]}
    zone_name = zone_of(event)
    (zone,) = c.zones_named(zone_name).values()
    assert zone["private"]
    assert zone["vpcs"] == [c.settings.vpc_id]
    assert zone["tags"][TAG_GENERATION] == str(event.generation)
    expected = []
    for broker in event.brokers:
        dns = state["dns"][endpoint_by_service[broker.endpoint_service_name]]
        expected += [(host, "A", "", dns) for host in broker.host_names]
        if bootstrap is None:
            expected.append((f"bootstrap.{zone_name}", "A", f"b-{broker.broker_id}", dns))
    if bootstrap is not None:
        dns = state["dns"][endpoint_by_service[bootstrap.endpoint_service_name]]
        expected.append((f"bootstrap.{zone_name}", "A", "", dns))
    assert zone["records"] == sorted(expected)
    assert c.residual_plan_size(event) == 0


class ZoneWrites:
    """Hosted zone ids named by any mutating Route 53 call."""

    def __init__(self) -> None:
        self.zone_ids: list[str] = []

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if is_mutating(model.name):
            for key in ("HostedZoneId", "Id", "ResourceId"):
                if key in params:
                    self.zone_ids.append(str(params[key]).rsplit("/", 1)[-1])


def add_foreign_zone(c: Consumer, name: str) -> tuple[str, dict[str, Any]]:
    """A private zone someone else made in the consumer VPC, with a record and a tag."""
    route53 = c.client("route53")
    zone_id = route53.create_hosted_zone(
        Name=name,
        CallerReference=f"someone-else-{name}",
        VPC={"VPCRegion": c.settings.region, "VPCId": c.settings.vpc_id},
        HostedZoneConfig={"PrivateZone": True},
    )["HostedZone"]["Id"].rsplit("/", 1)[-1]
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": f"b-1.othercluster.xyz789.c2.{name}",
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "10.9.9.9"}],
                    },
                }
            ]
        },
    )
    route53.change_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone_id, AddTags=[{"Key": "team", "Value": "other"}]
    )
    return zone_id, c.state()["zones"][zone_id]
