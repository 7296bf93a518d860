"""`make demo`: the whole story on the embedded AWS, no account needed.

Three acts on one embedded AWS, every event delivered through the real
router and reconciler handlers (the FIFO queue between them included):

1. nlb-per-broker: a three-broker cluster gets its NLB layer, MSK replaces a
   broker and scales 3 -> 6 -> 3, an event arrives twice.
2. shared-nlb (demo/shared_nlb.py): a second cluster behind one NLB, with
   MSK's custom.advertised.listeners, through creation, a broker replacement
   and a scale-out held open while the cluster is UPDATING.
3. consumers (demo/onboarding.py): the onboarding state machine executed by
   Step Functions onboards a same-Region and a cross-Region consumer account,
   both follow a scale-out of the first cluster, one is offboarded.

After every step the converged state is read back from the embedded AWS and
checked against what the brokers and the configuration require, without
trusting the planner; the demo exits non-zero when a check fails.
"""

from __future__ import annotations

import logging
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.cli.render import render_plan, table
from msk_privatelink.cli.status import render_status_document, status_of
from msk_privatelink.kernel.naming import load_balancer_name, target_group_name
from msk_privatelink.onboarding.aws.tenants import TenantRegistry, create_tenant_table
from msk_privatelink.onboarding.tenancy import with_tenants
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.reconciler import Assessment, Reconciler
from msk_privatelink_dev.demo.common import (
    MAX_DELIVERIES,
    PER_BROKER_VERIFIED,
    PREFIX,
    TABLE,
    TENANT_TABLE,
    DemoCluster,
    DemoFailure,
    Story,
    capture_bus_events,
    config_lines,
    demo_stack,
    load_event,
)
from msk_privatelink_dev.demo.onboarding import OnboardingAct
from msk_privatelink_dev.demo.shared_nlb import SharedNlbAct
from msk_privatelink_dev.local.lambdas import (
    LocalFunctions,
    create_state_table,
    provider_environments,
)
from msk_privatelink_dev.local.stack import Stack
from msk_privatelink_dev.local.workflows import WORKFLOW_MOTO_CONFIG, keep_sender

# The widest line the demo prints: plan tables are fitted to it, longer
# sentences wrapped.
WIDTH = 120
# Each act's topology diagram (Mermaid and SVG), relative to where the demo runs.
DIAGRAMS = Path("demo-output")

if TYPE_CHECKING:
    from msk_privatelink_dev.embedded import EmbeddedAws


def _provision_stack(clients: AwsClients, stack: Stack) -> str:
    """What `sam deploy` creates that the handlers talk to, as template.yaml
    declares it; returns the reconcile queue's URL."""
    stack.create_queue(clients.sqs, "ReconcileDeadLetterQueue")
    queue = stack.create_queue(clients.sqs, "ReconcileQueue")
    clients.events.create_event_bus(Name=stack.physical_name("ProviderEventBus"))
    create_state_table(clients.dynamodb, TABLE)
    create_tenant_table(clients.dynamodb, TENANT_TABLE)
    return queue


def verify(clients: AwsClients, config: ClusterConfig, reconciler: Reconciler) -> list[str]:
    """Independent checks of a converged nlb-per-broker cluster (``config`` with
    its tenants merged in); returns the problems found."""
    problems: list[str] = []
    arn = config.cluster_arn
    nodes = clients.kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]
    ips = {
        int(n["BrokerNodeInfo"]["BrokerId"]): n["BrokerNodeInfo"]["ClientVpcIpAddress"]
        for n in nodes
    }
    lbs = {
        lb["LoadBalancerName"]: lb
        for lb in clients.elbv2.describe_load_balancers()["LoadBalancers"]
    }
    ours = {n for n in lbs if n.startswith(load_balancer_name(arn, 0)[:-2])}
    expected = {load_balancer_name(arn, b) for b in ips}
    if ours != expected:
        problems.append(f"load balancers {sorted(ours)} != expected {sorted(expected)}")
    for broker_id, ip in ips.items():
        name = target_group_name(arn, broker_id, 9098)
        try:
            tg = clients.elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]
        except ClientError:
            problems.append(f"broker {broker_id}: target group {name} missing")
            continue
        health = clients.elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
        targets = sorted(
            f"{d['Target']['Id']}:{d['Target'].get('Port')}"
            for d in health["TargetHealthDescriptions"]
        )
        if targets != [f"{ip}:9098"]:
            problems.append(f"broker {broker_id}: targets {targets} != ['{ip}:9098']")
    lb_arns = {lbs[n]["LoadBalancerArn"] for n in ours}
    services = [
        s
        for s in clients.ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
        if set(s.get("NetworkLoadBalancerArns", [])) & lb_arns
    ]
    if len(services) != len(ips):
        problems.append(f"{len(services)} endpoint services for {len(ips)} brokers")
    wanted = set(config.allowed_principals)
    for service in services:
        permissions = clients.ec2.describe_vpc_endpoint_service_permissions(
            ServiceId=service["ServiceId"]
        )["AllowedPrincipals"]
        allowed = {p["Principal"] for p in permissions}
        if allowed != wanted:
            problems.append(
                f"{service['ServiceId']} allows {sorted(allowed)}, expected {sorted(wanted)}"
            )
    assessment = reconciler.assess(config, deep=True)
    if not assessment.plan.is_empty:
        problems.append(f"re-plan is not empty: {len(assessment.plan)} change(s)")
    return problems


class DemoRun:
    """One run of the story on an entered EmbeddedAws."""

    def __init__(
        self, aws: EmbeddedAws, out: Callable[[str], None], diagrams: Path = DIAGRAMS
    ) -> None:
        self.aws = aws
        self.out = out
        # Where each act's topology diagram goes.
        self.diagrams = diagrams
        self.story = Story(out)
        self.clients = AwsClients(aws.session(), region=aws.region)
        self.summary: list[tuple[object, ...]] = []

    # -- set-up --------------------------------------------------------------------
    def setup(self) -> None:
        out = self.out
        self.story.heading("Embedded AWS: VPC with 3 subnets, 3-broker MSK cluster (IAM auth)")
        network = self.aws.create_network(subnet_count=3)
        self.arn = self.aws.msk.create_cluster(
            "demo-cluster", list(network.subnet_ids), broker_count=3
        )
        out(f"VPC {network.vpc_id}, subnets {', '.join(network.subnet_ids)}")
        out(f"Cluster {self.arn}")
        # One consumer allowed by the operator's document; the others come
        # through the onboarding workflow (act 3).
        self.config = ClusterConfig(
            cluster_arn=self.arn, allowed_principals=("arn:aws:iam::210987654321:root",)
        )
        self.stack = demo_stack(self.aws.account_id, self.aws.region, self.arn)
        queue_url = _provision_stack(self.clients, self.stack)
        self.store = ConfigStore(self.clients.ssm, PREFIX)
        parameter = self.store.put(self.config)
        out(f"Configuration document stored in {parameter}:")
        out(config_lines(self.config))
        # The embedded MSK finishes a rolling restart at once: a message
        # returned while advertised listeners roll out comes back at once.
        env = provider_environments(self.stack, RETRY_DELAY_SECONDS="0")
        self.functions = LocalFunctions(self.aws.session(), env, queue_url)
        self.reconciler = Reconciler(self.clients)
        self.tenants = TenantRegistry(self.clients.dynamodb, TENANT_TABLE)
        self.per_broker = DemoCluster(
            label="nlb-per-broker",
            arn=self.arn,
            capture=capture_bus_events(self.clients, self.arn),
            check=lambda: verify(self.clients, self.effective_config(self.arn), self.reconciler),
            show=lambda: self.out(
                render_status_document(status_of(self.reconciler, self.effective_config(self.arn)))
            ),
            verified=PER_BROKER_VERIFIED,
        )

    def effective_config(self, cluster_arn: str) -> ClusterConfig:
        """What the reconciler handler reconciles: the stored document plus admitted tenants."""
        return with_tenants(self.store.get(cluster_arn), self.tenants.for_cluster(cluster_arn))

    def assess(self, cluster_arn: str) -> Assessment:
        return self.reconciler.assess(self.effective_config(cluster_arn), deep=True)

    # -- one event through the real handlers -----------------------------------------
    def react(self, cluster: DemoCluster, step: str, event_file: str, **overrides: Any) -> None:
        """Deliver an event through the real handlers, then verify and report."""
        out = self.out
        assessment = self.assess(cluster.arn)
        out(f"Plan before the event ({event_file}):")
        out(render_plan(assessment.plan, assessment.decision, width=WIDTH))
        routed = self.functions.route(load_event(event_file, cluster.arn, **overrides))
        out(f"Router: {routed['note']}; enqueued {len(routed['enqueued'])}")
        self.converge(cluster, step, assessment)

    def detect(self, cluster: DemoCluster, step: str) -> None:
        """One tick of the change detector's schedule, then verify and report."""
        assessment = self.assess(cluster.arn)
        self.out("Plan before the tick:")
        self.out(render_plan(assessment.plan, assessment.decision, width=WIDTH))
        detected = self.functions.detect()
        self.out(
            f"Change detector: {detected['clusters']} cluster(s) listed, "
            f"brokers changed in {len(detected['changed'])}"
        )
        if cluster.arn not in detected["changed"]:
            raise DemoFailure(f"the change detector missed {step}: {detected}")
        self.converge(cluster, step, assessment)

    def converge(self, cluster: DemoCluster, step: str, assessment: Assessment) -> None:
        """Let the reconciler handle what was enqueued, then verify and report."""
        out = self.out
        batches = self.drain()
        retried = sum(bool(r.get("batchItemFailures")) for r in batches)
        out(
            f"Reconciler: {len(batches)} invocation(s) from the FIFO queue"
            + (f", {retried} returned to the queue and retried" if retried else "")
        )
        problems = cluster.check()
        cluster.show()
        if problems:
            raise DemoFailure(f"{cluster.label}, {step}: " + "; ".join(problems))
        out(cluster.verified)
        events = cluster.capture()
        for event in events:
            detail = event["detail"]
            out(
                f"Published BrokerEndpointsChanged generation {detail['generation']}: "
                f"brokers {[b['brokerId'] for b in detail['brokers']]}"
            )
        generations = ", ".join(str(e["detail"]["generation"]) for e in events) or "-"
        brokers = len(self.aws.msk.brokers(cluster.arn))
        self.summary.append(
            (cluster.label, step, brokers, len(assessment.plan), len(batches), generations)
        )

    def drain(self, attempts: int = MAX_DELIVERIES) -> list[dict[str, Any]]:
        """Deliver queued messages until the queue is empty. A message the
        reconciler returns (e.g. advertised listeners still rolling out)
        comes back, as the event source mapping redelivers it; one that keeps
        failing is a failure of the demo."""
        responses: list[dict[str, Any]] = []
        for _ in range(attempts):
            batches = self.functions.drain()
            responses += batches
            if not batches or not batches[-1].get("batchItemFailures"):
                return responses
        raise DemoFailure(f"reconciler failed {attempts} times in a row: {responses[-1]}")

    def diagram(self, name: str, cluster_arn: str) -> None:
        """Write the cluster's live topology as Mermaid and SVG, as
        `msk-privatelink diagram` draws it."""
        from msk_privatelink.cli.diagram import render, zones_of
        from msk_privatelink.topology.model import topology_of

        status = status_of(self.reconciler, self.effective_config(cluster_arn))
        subnets = sorted({b["subnet_id"] for b in status["brokers"] if b["subnet_id"]})
        topology = topology_of(status, zones_of(self.clients, subnets))
        self.diagrams.mkdir(parents=True, exist_ok=True)
        for form, suffix, label in (("mermaid", "mmd", "Mermaid"), ("svg", "svg", "SVG")):
            path = self.diagrams / f"{name}.{suffix}"
            path.write_text(render(topology, form), encoding="utf-8")
            self.out(f"Topology diagram ({label}): {path}")

    def cost(self, cluster_arn: str, gb_per_month: float) -> None:
        """What `msk-privatelink cost --cluster-arn ... --gb-per-month N` shows
        for a cluster as it stands (its brokers, zones, schemes and consumers)."""
        from msk_privatelink.cli.cost import render_cost_document
        from msk_privatelink.cost.live import live_scenario
        from msk_privatelink.cost.model import estimate
        from msk_privatelink.cost.overrides import price_table
        from msk_privatelink.cost.report import cost_document

        config = self.effective_config(cluster_arn)
        inventory, _ = self.reconciler.observe(config)
        s = live_scenario(config, inventory, gb_per_month=gb_per_month)
        prices = price_table(self.aws.region, None, "")
        document = cost_document(
            s,
            prices,
            estimate(s, prices),
            cluster_arn=cluster_arn,
            configured_pattern=config.pattern,
        )
        self.out(f"Monthly cost at {gb_per_month:,.0f} GB a month (msk-privatelink cost):")
        self.out(render_cost_document(document))

    def note(self, cluster: str, step: str, brokers: int) -> None:
        """A summary row for a step that ran no reconcile."""
        self.summary.append((cluster, step, brokers, "-", "-", "-"))

    def update_broker_count(self, cluster_arn: str, count: int) -> None:
        kafka = self.clients.kafka
        version = kafka.describe_cluster_v2(ClusterArn=cluster_arn)["ClusterInfo"]["CurrentVersion"]
        kafka.update_broker_count(
            ClusterArn=cluster_arn, CurrentVersion=version, TargetNumberOfBrokerNodes=count
        )

    # -- the story -----------------------------------------------------------------
    def run(self) -> None:

        self.setup()
        self.run_per_broker()
        SharedNlbAct(self).run_act()
        OnboardingAct(self).run_act()
        self.story.heading("Summary")
        headers = (
            "CLUSTER",
            "STEP",
            "BROKERS",
            "PLANNED CHANGES",
            "RECONCILES",
            "PUBLISHED GENERATION",
        )
        self.out(table(headers, self.summary))

    def run_per_broker(self) -> None:
        cluster = self.per_broker
        self.story.heading("Scheduled sweep: first reconcile creates the NLB layer")
        self.react(cluster, "initial sweep", "scheduled-reconcile.json")

        self.story.heading("MSK heals broker 2: new ENI, new IP (EC2 CloudTrail event)")
        old = {b.broker_id: b.ip_address for b in self.aws.msk.brokers(self.arn)}
        self.aws.msk.replace_broker(self.arn, 2)
        new = {b.broker_id: b.ip_address for b in self.aws.msk.brokers(self.arn)}
        self.out(f"Broker 2 moved {old[2]} -> {new[2]}")
        self.react(cluster, "broker replaced", "ec2-create-network-interface.json")

        self.story.heading("MSK heals broker 1 and nothing announces it: the change detector")
        before = {b.broker_id: b.ip_address for b in self.aws.msk.brokers(self.arn)}
        self.aws.msk.replace_broker(self.arn, 1)
        after = {b.broker_id: b.ip_address for b in self.aws.msk.brokers(self.arn)}
        self.out(f"Broker 1 moved {before[1]} -> {after[1]}; no event reaches the router")
        self.detect(cluster, "broker healed, no event")

        self.story.heading("Scale out 3 -> 6 (UpdateBrokerCount)")
        self.update_broker_count(self.arn, 6)
        self.react(
            cluster, "scale out", "kafka-update-broker-count.json", targetNumberOfBrokerNodes=6
        )

        self.story.heading("Scale in 6 -> 4, then 6 -> 3 (UpdateBrokerCount)")
        try:
            self.update_broker_count(self.arn, 4)
        except ClientError as exc:
            # MSK keeps brokers balanced: the count must be a multiple of the AZs.
            self.out(f"MSK refuses 4 brokers in 3 AZs: {exc.response['Error']['Message']}")
        else:
            raise DemoFailure("MSK accepted 4 brokers across 3 subnets")
        self.update_broker_count(self.arn, 3)
        self.react(
            cluster, "scale in", "kafka-update-broker-count.json", targetNumberOfBrokerNodes=3
        )

        self.story.heading("The same event delivered again: nothing left to change")
        self.react(
            cluster,
            "replayed event",
            "kafka-update-broker-count.json",
            targetNumberOfBrokerNodes=3,
        )
        self.diagram("1-nlb-per-broker", self.arn)


def fitted(out: Callable[[str], None]) -> Callable[[str], None]:
    """``out`` with every line longer than WIDTH wrapped, continued indented."""

    def write(text: str) -> None:
        lines = []
        for line in text.split("\n"):
            if len(line) <= WIDTH:
                lines.append(line)
            else:
                indent = line[: len(line) - len(line.lstrip())]
                lines += textwrap.wrap(
                    line.strip(),
                    WIDTH,
                    initial_indent=indent,
                    subsequent_indent=indent + "    ",
                    break_on_hyphens=False,
                )
        out("\n".join(lines))

    return write


def run_demo(out: Callable[[str], None] = print, diagrams: Path = DIAGRAMS) -> int:
    from msk_privatelink_dev.embedded import EmbeddedAws

    # moto's Step Functions engine logs, as errors, the absent optional
    # fields the state machines test for; the executions' outcome is checked.
    engine_log = logging.getLogger("moto.stepfunctions")
    quiet = logging.NullHandler()
    engine_log.addHandler(quiet)
    try:
        with (
            warnings.catch_warnings(),
            EmbeddedAws(moto_config=WORKFLOW_MOTO_CONFIG) as aws,
            keep_sender(),
        ):
            # Powertools warns when an invocation published no metric; not news here.
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            try:
                DemoRun(aws, fitted(out), diagrams).run()
            except DemoFailure as exc:
                out(f"\nDEMO FAILED: {exc}")
                return 1
    finally:
        engine_log.removeHandler(quiet)
    out(
        "\nDemo complete: the NLB layer, the advertised listeners and both consumers "
        "followed every broker change."
    )
    return 0


def main() -> None:
    sys.exit(run_demo())


if __name__ == "__main__":
    main()
