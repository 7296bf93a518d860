"""The demo's shared-nlb act: a second cluster behind one NLB.

One NLB and one endpoint service for the whole cluster; per broker and
scheme a listener on ``port_base + broker_id`` forwarding to that broker
alone, a bootstrap listener per scheme forwarding to every broker, a provider
hosted zone with the brokers' names, and MSK's ``custom.advertised.listeners``
so each broker advertises its own port. What is shown and checked is read
back from the embedded AWS (ELB, EC2, Route 53, the MSK configuration
revision in force) and compared with what ListNodes and the configuration
document require.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.cli.render import table
from msk_privatelink.kernel.models import AuthScheme
from msk_privatelink.kernel.naming import TAG_CLUSTER_ARN, shared_load_balancer_name
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink_dev.demo.common import DemoCluster, capture_bus_events, config_lines

if TYPE_CHECKING:
    from msk_privatelink_dev.demo.story import DemoRun

# What the demo creates the cluster with (TLS and IAM clients), and MSK's
# listener name per scheme.
SCHEMES = (AuthScheme.TLS, AuthScheme.SASL_IAM)
LISTENER_NAMES = {AuthScheme.TLS: "CLIENT_SECURE", AuthScheme.SASL_IAM: "CLIENT_IAM"}
CUSTOM_ADVERTISED_LISTENERS = "custom.advertised.listeners"
SHARED_VERIFIED = (
    "Verified: each port reaches only its broker, bootstrap all; "
    "records and advertised listeners match; re-plan is empty."
)


@dataclass
class SharedView:
    """The shared-nlb cluster as the embedded AWS holds it now."""

    brokers: dict[int, dict[str, Any]]  # broker id -> {"ip": str | None, "host": str}
    target_count: int | None  # an UpdateBrokerCount in progress: its target
    state: str
    load_balancers: list[dict[str, Any]]
    # listener port -> sorted "ip:port" targets of the group it forwards to
    listeners: dict[int, list[str]] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)
    zone: dict[str, Any] | None = None
    configuration: tuple[str, int] | None = None
    advertised: str | None = None

    @property
    def domain(self) -> str:
        host = next(iter(self.brokers.values()))["host"]
        return str(host.split(".", 1)[1])

    def prepared_ids(self) -> list[int]:
        """Brokers an UpdateBrokerCount in progress adds, not listed yet."""
        if self.target_count is None:
            return []
        return list(range(max(self.brokers) + 1, self.target_count + 1))


def read_view(clients: AwsClients, cluster_arn: str) -> SharedView:
    kafka = clients.kafka
    nodes = kafka.list_nodes(ClusterArn=cluster_arn)["NodeInfoList"]
    brokers = {
        int(n["BrokerNodeInfo"]["BrokerId"]): {
            "ip": n["BrokerNodeInfo"].get("ClientVpcIpAddress"),
            "host": n["BrokerNodeInfo"]["Endpoints"][0],
        }
        for n in nodes
    }
    info: dict[str, Any] = dict(kafka.describe_cluster_v2(ClusterArn=cluster_arn)["ClusterInfo"])
    target_count = None
    if info.get("ActiveOperationArn"):
        operation: dict[str, Any] = dict(
            kafka.describe_cluster_operation_v2(ClusterOperationArn=info["ActiveOperationArn"])[
                "ClusterOperationInfo"
            ]
        )
        target = operation.get("Provisioned", {}).get("TargetClusterInfo", {})
        if operation.get("OperationType") == "INCREASE_BROKER_COUNT":
            target_count = int(target["NumberOfBrokerNodes"])
    name = shared_load_balancer_name(cluster_arn)
    lbs: list[dict[str, Any]] = [
        dict(lb)
        for lb in clients.elbv2.describe_load_balancers()["LoadBalancers"]
        if lb["LoadBalancerName"] == name
    ]
    view = SharedView(brokers, target_count, str(info["State"]), lbs)
    for lb in lbs:
        for listener in clients.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])[
            "Listeners"
        ]:
            group = listener["DefaultActions"][0]["TargetGroupArn"]
            health = clients.elbv2.describe_target_health(TargetGroupArn=group)
            view.listeners[int(listener["Port"])] = sorted(
                f"{d['Target']['Id']}:{d['Target']['Port']}"
                for d in health["TargetHealthDescriptions"]
            )
    view.services = [
        dict(s)
        for s in clients.ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
        if any(t["Key"] == TAG_CLUSTER_ARN and t["Value"] == cluster_arn for t in s.get("Tags", []))
    ]
    if brokers:
        view.zone = _zone(clients, view.domain)
    software = info.get("Provisioned", {}).get("CurrentBrokerSoftwareInfo", {})
    if software.get("ConfigurationArn") and software.get("ConfigurationRevision"):
        arn, revision = str(software["ConfigurationArn"]), int(software["ConfigurationRevision"])
        view.configuration = (arn, revision)
        blob = kafka.describe_configuration_revision(Arn=arn, Revision=revision)["ServerProperties"]
        view.advertised = _property(bytes(blob), CUSTOM_ADVERTISED_LISTENERS)
    return view


def _zone(clients: AwsClients, name: str) -> dict[str, Any] | None:
    route53 = clients.route53
    for zone in route53.list_hosted_zones()["HostedZones"]:
        if zone["Name"].rstrip(".") != name:
            continue
        records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
        return {
            "private": zone["Config"]["PrivateZone"],
            "vpcs": [v["VPCId"] for v in route53.get_hosted_zone(Id=zone["Id"]).get("VPCs", [])],
            "records": {
                r["Name"].rstrip("."): (r["Type"], r["AliasTarget"]["DNSName"].rstrip(".").lower())
                for r in records
                if "AliasTarget" in r
            },
        }
    return None


def _property(blob: bytes, key: str) -> str | None:
    """A key's value in server.properties (plain ``key=value`` lines)."""
    for line in blob.decode().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    return None


def check(view: SharedView, config: ClusterConfig, vpc_id: str) -> list[str]:
    """What ListNodes and the document require, against what the embedded AWS holds."""
    problems: list[str] = []
    shared = config.shared_nlb
    if len(view.load_balancers) != 1:
        return [f"{len(view.load_balancers)} shared load balancers, expected 1"]
    lb = view.load_balancers[0]
    wanted: dict[int, list[str]] = {}
    for scheme in SCHEMES:
        for broker_id, broker in view.brokers.items():
            address = [f"{broker['ip']}:{scheme.broker_port}"] if broker["ip"] else []
            wanted[shared.broker_port(scheme, broker_id)] = address
        for broker_id in view.prepared_ids():
            # Ready before the broker exists; its address comes when MSK has one.
            wanted[shared.broker_port(scheme, broker_id)] = []
        wanted[shared.bootstrap_port(scheme)] = sorted(
            f"{b['ip']}:{scheme.broker_port}" for b in view.brokers.values() if b["ip"]
        )
    for port in sorted(set(wanted) | set(view.listeners)):
        if wanted.get(port) != view.listeners.get(port):
            problems.append(
                f"port {port}: targets {view.listeners.get(port)}, expected {wanted.get(port)}"
            )
    if [s.get("NetworkLoadBalancerArns") for s in view.services] != [[lb["LoadBalancerArn"]]]:
        problems.append(f"{len(view.services)} endpoint services, expected one on the NLB")
    dns = str(lb["DNSName"]).rstrip(".").lower()
    expected_records = {b["host"]: ("A", dns) for b in view.brokers.values()}
    if view.zone is None:
        problems.append(f"no provider hosted zone {view.domain}")
    else:
        if not view.zone["private"] or view.zone["vpcs"] != [vpc_id]:
            problems.append(f"zone {view.domain} is not private to {vpc_id}")
        if view.zone["records"] != expected_records:
            problems.append(f"zone records {view.zone['records']} != {expected_records}")
    entries = {
        f"{LISTENER_NAMES[s]}://b-{{broker_id}}.{view.domain}:{shared.port_base(s)}+{{broker_id}}"
        for s in SCHEMES
    }
    advertised = set((view.advertised or "").split(",")) - {""}
    if advertised != entries:
        problems.append(f"{CUSTOM_ADVERTISED_LISTENERS} is {view.advertised!r}")
    return problems


class SharedNlbAct:
    def __init__(self, run: DemoRun) -> None:
        self.run = run
        self.out = run.out
        self.aws = run.aws
        self.clients = run.clients

    def setup(self) -> DemoCluster:
        self.run.story.heading(
            "shared-nlb: a second cluster (TLS + IAM) behind one NLB, "
            "advertised listeners through the MSK configuration"
        )
        network = self.aws.create_network(cidr="10.1.0.0/16", subnet_count=3)
        self.vpc_id = network.vpc_id
        self.arn = self.aws.msk.create_cluster(
            "shared-cluster", list(network.subnet_ids), broker_count=3, auth=("tls", "iam")
        )
        # A second cluster in the same stack: its ARN goes in MoreClusterArns.
        self.run.stack = self.run.stack.with_parameters(MoreClusterArns=self.arn)
        config = parse(
            ClusterConfig,
            {
                "cluster_arn": self.arn,
                "pattern": "shared-nlb",
                "advertised_listeners": {"mode": "msk-configuration"},
            },
        )
        parameter = self.run.store.put(config)
        shared = config.shared_nlb
        self.out(f"Cluster {self.arn} in {network.vpc_id}")
        self.out(f"Configuration document stored in {parameter}:")
        self.out(config_lines(config))
        self.out(
            table(
                ("SCHEME", "BROKER PORT", "NLB PORT PER BROKER", "BOOTSTRAP PORT"),
                [
                    (
                        s.value,
                        s.broker_port,
                        f"{shared.port_base(s)} + broker id",
                        shared.bootstrap_port(s),
                    )
                    for s in SCHEMES
                ],
            )
        )
        return DemoCluster(
            label="shared-nlb",
            arn=self.arn,
            capture=capture_bus_events(self.clients, self.arn),
            check=self.check,
            show=self.show,
            verified=SHARED_VERIFIED,
        )

    def check(self) -> list[str]:
        config = self.run.effective_config(self.arn)
        problems = check(read_view(self.clients, self.arn), config, self.vpc_id)
        plan = self.run.assess(self.arn).plan
        if not plan.is_empty:
            problems.append(f"re-plan is not empty: {len(plan)} change(s)")
        return problems

    def show(self) -> None:
        view = read_view(self.clients, self.arn)
        config = self.run.effective_config(self.arn)
        shared = config.shared_nlb
        lb = view.load_balancers[0] if view.load_balancers else None
        service = view.services[0]["ServiceName"] if view.services else "-"
        self.out(
            f"Cluster {view.state}, {len(view.brokers)} brokers listed"
            + (f", growing to {view.target_count}" if view.target_count else "")
            + f"; domain {view.domain}"
        )
        self.out(f"NLB {lb['LoadBalancerName'] if lb else '-'}, endpoint service {service}")
        rows: list[tuple[object, ...]] = []
        for broker_id in sorted([*view.brokers, *view.prepared_ids()]):
            broker = view.brokers.get(broker_id)
            for scheme in SCHEMES:
                port = shared.broker_port(scheme, broker_id)
                rows.append(
                    (
                        broker_id,
                        (broker or {}).get("ip") or "(no IP yet)",
                        scheme.value,
                        port,
                        ",".join(view.listeners.get(port, [])) or "(empty)",
                        f"b-{broker_id}:{port}",
                    )
                )
        for scheme in SCHEMES:
            port = shared.bootstrap_port(scheme)
            targets = view.listeners.get(port, [])
            rows.append(("bootstrap", "-", scheme.value, port, f"{len(targets)} brokers", "-"))
        headers = ("BROKER", "IP", "SCHEME", "NLB PORT", "TARGETS", "ADVERTISED")
        self.out(table(headers, rows))
        if view.zone is not None:
            self.out(
                f"Provider hosted zone {view.domain} (private, {', '.join(view.zone['vpcs'])}):"
            )
            self.out(
                table(
                    ("RECORD", "TYPE", "ALIAS TARGET"),
                    [
                        (name, kind, dns)
                        for name, (kind, dns) in sorted(view.zone["records"].items())
                    ],
                )
            )
        where = (
            f"configuration {view.configuration[0].split('/')[-2]} revision {view.configuration[1]}"
            if view.configuration
            else "no configuration"
        )
        self.out(f"{CUSTOM_ADVERTISED_LISTENERS} in force ({where}):")
        # One listener per line: the property is one long comma-separated value.
        for entry in (view.advertised or "(not set)").split(","):
            self.out(f"  {entry}")
        operations = self.clients.kafka.list_cluster_operations_v2(ClusterArn=self.arn)[
            "ClusterOperationInfoList"
        ]
        self.out(
            "MSK operations, newest first: "
            + "; ".join(f"{o['OperationType']} {o['OperationState']}" for o in operations)
        )

    def run_act(self) -> None:
        run = self.run
        cluster = self.setup()

        run.story.heading("shared-nlb: first reconcile builds the NLB, listeners, zone")
        run.react(cluster, "created", "scheduled-reconcile.json")

        run.story.heading("shared-nlb: MSK heals broker 2 (new IP behind the same port)")
        old = {b.broker_id: b.ip_address for b in self.aws.msk.brokers(self.arn)}
        self.aws.msk.replace_broker(self.arn, 2)
        new = {b.broker_id: b.ip_address for b in self.aws.msk.brokers(self.arn)}
        self.out(f"Broker 2 moved {old[2]} -> {new[2]}")
        run.react(cluster, "broker replaced", "ec2-create-network-interface.json")

        run.story.heading("shared-nlb: scale out 3 -> 6, MSK still UPDATING")
        # MSK takes tens of minutes to add brokers: hold the operation open.
        self.aws.msk.complete_immediately = False
        try:
            run.update_broker_count(self.arn, 6)
            self.aws.msk.advance_operations(self.arn)
            listed = len(self.clients.kafka.list_nodes(ClusterArn=self.arn)["NodeInfoList"])
            self.out(
                f"UpdateBrokerCount to 6 in progress (cluster UPDATING); ListNodes lists "
                f"{listed} brokers, the new ones without an IP yet"
            )
            run.react(
                cluster,
                "scale out (UPDATING)",
                "kafka-update-broker-count.json",
                targetNumberOfBrokerNodes=6,
            )
            self.out("Brokers 4-6 have their listeners and empty target groups before they exist.")

            run.story.heading("shared-nlb: MSK finishes the scale-out (new broker ENIs)")
            self.aws.msk.complete_operations(self.arn)
        finally:
            self.aws.msk.complete_immediately = True
        run.react(cluster, "scale out done", "ec2-create-network-interface.json")
        run.diagram("2-shared-nlb", self.arn)
