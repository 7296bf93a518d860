"""The demo's consumer act: onboarding, following a scale-out, offboarding.

The onboarding and offboarding state machines (statemachines/) run in moto's
Step Functions engine, their task function, the task-callback function and
each consumer account's consumer-sync function are the real handlers served
in this process (local/workflows.py, local/consumers.py). Events travel
between the accounts' buses as the templates route them. Every check reads
both sides back: the consumer's interface endpoints and private zone, the
provider's endpoint service permissions, Regions and connections, whether
the delivery function puts the cluster's events on the tenant's bus, and the
bus policy statement admitting its answers.
"""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
from types import ModuleType
from typing import TYPE_CHECKING, Any

from msk_privatelink.cli.render import table
from msk_privatelink.kernel.naming import load_balancer_name
from msk_privatelink.onboarding.aws.subscriptions import account_statement_id
from msk_privatelink.onboarding.aws.tenants import SUBSCRIBED_STATES
from msk_privatelink_dev.demo.common import BUS, OTHER_REGION, DemoFailure
from msk_privatelink_dev.local.consumers import ConsumerAccount, add_consumer_account
from msk_privatelink_dev.local.lambdas import FakeContext, environment, load_handler_module
from msk_privatelink_dev.local.workflows import (
    ConsumerDeliveryRunner,
    LocalInvoke,
    WorkflowDeployment,
    deploy_workflows,
    drain_queue,
    entered_states,
    start_execution,
    wait_for_execution,
)

if TYPE_CHECKING:
    from msk_privatelink_dev.demo.story import DemoRun

SAME_REGION_ACCOUNT = "111122223333"
OTHER_REGION_ACCOUNT = "444455556666"
# A run that takes longer than this is broken, not slow.
EXECUTION_DEADLINE_SECONDS = 60
CONSUMERS_VERIFIED = (
    "Verified: each consumer has one endpoint per broker service, accepted, "
    "and a record per broker name pointing at it."
)


class OnboardingAct:
    def __init__(self, run: DemoRun) -> None:
        self.run = run
        self.out = run.out
        self.aws = run.aws
        self.clients = run.clients
        self.arn = run.arn
        self.log = io.StringIO()
        self.invoke = LocalInvoke()
        self.consumers: dict[str, ConsumerAccount] = {}
        self.verdicts: list[dict[str, Any]] = []
        self.executions = 0
        account = self.aws.account_id
        region = self.aws.region
        self.tasks_function_arn = (
            f"arn:aws:lambda:{region}:{account}:function:msk-privatelink-onboarding-tasks"
        )
        self.bus_arn = f"arn:aws:events:{region}:{account}:event-bus/{BUS}"
        self.task_env = run.stack.environment("onboarding_tasks")

    # -- set-up --------------------------------------------------------------------
    def setup(self) -> None:
        self.run.story.heading(
            "Consumers: the onboarding workflows and two consumer accounts' stacks"
        )
        self.deployment: WorkflowDeployment = deploy_workflows(
            self.clients,
            self.run.stack,
            tasks_function_arn=self.tasks_function_arn,
            role_arn=f"arn:aws:iam::{self.aws.account_id}:role/msk-privatelink-workflows",
        )
        self.delivery = ConsumerDeliveryRunner(self.clients, self.run.stack, self.log)
        with contextlib.redirect_stdout(self.log):
            tasks = load_handler_module("onboarding_tasks")
            self.callback: ModuleType = load_handler_module("task_callback")
        self.invoke.functions[self.tasks_function_arn] = lambda event: tasks.lambda_handler(
            event, FakeContext("onboarding-tasks")
        )
        for account, region, cidr in (
            (SAME_REGION_ACCOUNT, self.aws.region, "10.20"),
            (OTHER_REGION_ACCOUNT, OTHER_REGION, "10.30"),
        ):
            consumer = add_consumer_account(self.aws, account, region=region, cidr_prefix=cidr)
            consumer.deploy_stack(self.bus_arn)
            self.consumers[account] = consumer
        self.out(
            "State machines: "
            + ", ".join(a.split(":")[-1] for a in self.deployment.state_machine_arns.values())
        )
        self.out(
            table(
                ("CONSUMER ACCOUNT", "REGION", "VPC", "SUBNETS", "CONSUMER BUS"),
                [
                    (c.account_id, c.region, c.vpc_id, len(c.subnet_ids), c.bus_arn)
                    for c in self.consumers.values()
                ],
            )
        )

    # -- the other parties -----------------------------------------------------------
    def pump(self) -> None:
        """The delivery function puts the provider's events on the tenants'
        buses; consumer-sync functions handle what their buses queued; the
        callback function handles the replies that reached the provider bus."""
        self.delivery.run()
        for consumer in self.consumers.values():
            consumer.deliver()
        for event in drain_queue(self.clients, self.deployment.replies_url):
            self.verdicts.append(self.callback.lambda_handler(event, FakeContext("task-callback")))

    def execute(self, machine: str, document: dict[str, Any]) -> dict[str, Any]:
        self.executions += 1
        sfn = self.clients.session.client("stepfunctions", region_name=self.aws.region)
        name = f"demo-{machine}-{document['consumerAccountId']}-{self.executions}"
        arn = start_execution(sfn, self.deployment.arn(machine), document, name)
        # The task function runs on the engine's thread; its output is kept.
        with contextlib.redirect_stdout(self.log):
            result = wait_for_execution(
                sfn, arn, self.pump, deadline_seconds=EXECUTION_DEADLINE_SECONDS
            )
        states = entered_states(sfn, arn)
        self.out(f"Execution {name}: {result['status']} through {len(states)} states")
        self.out(
            textwrap.fill(
                " > ".join(states), width=100, initial_indent="  ", subsequent_indent="  "
            )
        )
        if result["status"] != "SUCCEEDED":
            raise DemoFailure(f"{name} {result['status']}: {result.get('cause', '')}")
        return result

    def onboarding_input(self, consumer: ConsumerAccount) -> dict[str, Any]:
        document: dict[str, Any] = {
            "clusterArn": self.arn,
            "consumerAccountId": consumer.account_id,
            "consumerRegion": consumer.region,
            "vpcId": consumer.vpc_id,
            "subnetIds": list(consumer.subnet_ids),
            "securityGroupIds": [consumer.security_group_id],
            "pollSeconds": 0,
            "pollAttempts": 5,
            "callbackTimeoutSeconds": EXECUTION_DEADLINE_SECONDS,
        }
        if consumer.region == self.aws.region:
            # Same Region: the endpoints go only where the services have a zone.
            document["availabilityZoneIds"] = consumer.availability_zone_ids()
        return document

    # -- what both sides hold --------------------------------------------------------
    def provider_services(self) -> dict[str, dict[str, Any]]:
        """The cluster's endpoint services by name, with the broker id behind each."""
        nodes = self.clients.kafka.list_nodes(ClusterArn=self.arn)["NodeInfoList"]
        by_lb = {
            load_balancer_name(self.arn, int(n["BrokerNodeInfo"]["BrokerId"])): int(
                n["BrokerNodeInfo"]["BrokerId"]
            )
            for n in nodes
        }
        hosts = {
            int(n["BrokerNodeInfo"]["BrokerId"]): n["BrokerNodeInfo"]["Endpoints"][0] for n in nodes
        }
        lb_ids = {
            lb["LoadBalancerArn"]: by_lb[lb["LoadBalancerName"]]
            for lb in self.clients.elbv2.describe_load_balancers()["LoadBalancers"]
            if lb["LoadBalancerName"] in by_lb
        }
        services: dict[str, dict[str, Any]] = {}
        ec2 = self.clients.ec2
        for s in ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]:
            brokers = [lb_ids[a] for a in s.get("NetworkLoadBalancerArns", []) if a in lb_ids]
            if not brokers:
                continue
            allowed = ec2.describe_vpc_endpoint_service_permissions(ServiceId=s["ServiceId"])[
                "AllowedPrincipals"
            ]
            services[s["ServiceName"]] = {
                "broker": brokers[0],
                "host": hosts[brokers[0]],
                "principals": {p["Principal"] for p in allowed},
                "regions": {r["Region"] for r in s.get("SupportedRegions", [])},
            }
        return services

    def connections(self, account: str) -> dict[str, str]:
        """The provider's view of the account's endpoint connections: endpoint id -> state."""
        answer = self.clients.ec2.describe_vpc_endpoint_connections()["VpcEndpointConnections"]
        return {
            c["VpcEndpointId"]: c["VpcEndpointState"]
            for c in answer
            if c["VpcEndpointOwner"] == account
        }

    def consumer_side(self, consumer: ConsumerAccount, domain: str) -> dict[str, Any]:
        clients = consumer.clients()
        endpoints = [
            e
            for e in clients.ec2.describe_vpc_endpoints()["VpcEndpoints"]
            if e["State"].lower() not in ("deleted", "deleting")
        ]
        zones = []
        route53 = clients.route53
        for zone in route53.list_hosted_zones()["HostedZones"]:
            if zone["Name"].rstrip(".") != domain:
                continue
            records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])[
                "ResourceRecordSets"
            ]
            zones.append(
                {
                    "private": zone["Config"]["PrivateZone"],
                    "vpcs": [
                        v["VPCId"] for v in route53.get_hosted_zone(Id=zone["Id"]).get("VPCs", [])
                    ],
                    "records": [
                        (r["Name"].rstrip("."), _dns(r["AliasTarget"]["DNSName"]))
                        for r in records
                        if "AliasTarget" in r
                    ],
                }
            )
        return {"endpoints": endpoints, "zones": zones}

    def tenant_routing(self, consumer: ConsumerAccount) -> tuple[bool, bool]:
        """(the delivery function sends the cluster's events to the tenant,
        the account's statement in the provider bus policy)."""
        tenant = self.run.tenants.get(self.arn, consumer.account_id)
        policy = self.clients.events.describe_event_bus(Name=BUS).get("Policy")
        sid = account_statement_id(consumer.account_id)
        statements = json.loads(policy)["Statement"] if policy else []
        return (
            tenant is not None and tenant.state in SUBSCRIBED_STATES,
            any(s.get("Sid") == sid for s in statements),
        )

    def provider_rules(self) -> int:
        """Rules on the provider bus: the stack's own, whatever the tenants."""
        return len(self.clients.events.list_rules(EventBusName=BUS)["Rules"])

    # -- checks ----------------------------------------------------------------------
    def check_follows(self, consumer: ConsumerAccount) -> list[str]:
        services = self.provider_services()
        domain = next(iter(services.values()))["host"].split(".", 1)[1]
        side = self.consumer_side(consumer, domain)
        who = f"consumer {consumer.account_id}"
        problems: list[str] = []
        by_service = {e["ServiceName"]: e for e in side["endpoints"]}
        if sorted(e["ServiceName"] for e in side["endpoints"]) != sorted(services):
            problems.append(
                f"{who}: {len(side['endpoints'])} endpoints for {len(services)} services"
            )
        if any(e["VpcId"] != consumer.vpc_id for e in side["endpoints"]):
            problems.append(f"{who}: an endpoint outside {consumer.vpc_id}")
        states = self.connections(consumer.account_id)
        for e in side["endpoints"]:
            if states.get(e["VpcEndpointId"]) != "available":
                problems.append(
                    f"{who}: connection {e['VpcEndpointId']} is {states.get(e['VpcEndpointId'])}"
                )
        principal = f"arn:aws:iam::{consumer.account_id}:root"
        for name, service in services.items():
            if principal not in service["principals"]:
                problems.append(f"{who}: not allowed on {name}")
            if consumer.region != self.aws.region and consumer.region not in service["regions"]:
                problems.append(f"{who}: {name} does not offer {consumer.region}")
        if len(side["zones"]) != 1:
            return [*problems, f"{who}: {len(side['zones'])} zones named {domain}"]
        zone = side["zones"][0]
        if not zone["private"] or zone["vpcs"] != [consumer.vpc_id]:
            problems.append(f"{who}: zone {domain} is not private to {consumer.vpc_id}")
        bootstrap = f"bootstrap.{domain}"
        records = dict(r for r in zone["records"] if r[0] != bootstrap)
        wanted = {
            s["host"]: _dns(by_service[name]["DnsEntries"][0]["DnsName"])
            for name, s in services.items()
            if name in by_service
        }
        if records != wanted:
            problems.append(f"{who}: broker records {records} != {wanted}")
        # The bootstrap name answers with every broker's endpoint (weighted).
        spread = sorted(dns for name, dns in zone["records"] if name == bootstrap)
        if spread != sorted(wanted.values()):
            problems.append(f"{who}: {bootstrap} -> {spread}, expected every broker endpoint")
        if self.tenant_routing(consumer) != (True, True):
            problems.append(f"{who}: not delivered to, or its answers not admitted")
        return problems

    def check_gone(self, consumer: ConsumerAccount) -> list[str]:
        services = self.provider_services()
        domain = next(iter(services.values()))["host"].split(".", 1)[1]
        side = self.consumer_side(consumer, domain)
        who = f"consumer {consumer.account_id}"
        problems: list[str] = []
        if side["endpoints"]:
            problems.append(f"{who}: {len(side['endpoints'])} endpoints left")
        if side["zones"]:
            problems.append(f"{who}: zone {domain} left")
        live = [s for s in self.connections(consumer.account_id).values() if s == "available"]
        if live:
            problems.append(f"{who}: {len(live)} connections still available")
        principal = f"arn:aws:iam::{consumer.account_id}:root"
        if any(principal in s["principals"] for s in services.values()):
            problems.append(f"{who}: still allowed on an endpoint service")
        if any(consumer.region in s["regions"] for s in services.values()):
            problems.append(f"{who}: {consumer.region} still offered")
        if any(self.tenant_routing(consumer)):
            problems.append(f"{who}: still delivered to, or its answers still admitted")
        return problems

    def verify(self, followers: list[ConsumerAccount], gone: list[ConsumerAccount]) -> None:
        problems = [p for c in followers for p in self.check_follows(c)]
        problems += [p for c in gone for p in self.check_gone(c)]
        problems += self.run.per_broker.check()
        if problems:
            raise DemoFailure("; ".join(problems))

    # -- display ---------------------------------------------------------------------
    def show(self) -> None:
        services = self.provider_services()
        domain = next(iter(services.values()))["host"].split(".", 1)[1]
        rows: list[tuple[object, ...]] = []
        for consumer in self.consumers.values():
            side = self.consumer_side(consumer, domain)
            states = self.connections(consumer.account_id)
            records = {
                dns: name
                for zone in side["zones"]
                for name, dns in zone["records"]
                if not name.startswith("bootstrap.")
            }
            for e in sorted(
                side["endpoints"], key=lambda e: services.get(e["ServiceName"], {}).get("broker", 0)
            ):
                service = services.get(e["ServiceName"], {})
                record = records.get(_dns(e["DnsEntries"][0]["DnsName"]), "-")
                rows.append(
                    (
                        consumer.account_id,
                        consumer.region,
                        service.get("broker", "?"),
                        e["VpcEndpointId"],
                        states.get(e["VpcEndpointId"], "-"),
                        record.split(".", 1)[0],
                    )
                )
            if not side["endpoints"]:
                rows.append((consumer.account_id, consumer.region, "-", "(none)", "-", "-"))
        self.out(
            f"Consumer side (each VPC: private zone {domain}, records per broker and bootstrap):"
        )
        self.out(
            table(("ACCOUNT", "REGION", "BROKER", "VPC ENDPOINT", "CONNECTION", "RECORD"), rows)
        )
        provider_rows = []
        for consumer in self.consumers.values():
            principal = f"arn:aws:iam::{consumer.account_id}:root"
            tenant = self.run.tenants.get(self.arn, consumer.account_id)
            rule, statement = self.tenant_routing(consumer)
            provider_rows.append(
                (
                    consumer.account_id,
                    tenant.state if tenant else "-",
                    f"{sum(principal in s['principals'] for s in services.values())}"
                    f"/{len(services)}",
                    f"{sum(consumer.region in s['regions'] for s in services.values())}"
                    if consumer.region != self.aws.region
                    else "(same Region)",
                    sum(s == "available" for s in self.connections(consumer.account_id).values()),
                    "yes" if rule else "no",
                    "yes" if statement else "no",
                )
            )
        self.out(f"Provider side ({self.provider_rules()} rules on the provider bus, any tenants):")
        self.out(
            table(
                (
                    "ACCOUNT",
                    "TENANT",
                    "ALLOWED ON",
                    "REGION OFFERED ON",
                    "ACCEPTED",
                    "EVENTS SENT",
                    "ANSWERS ADMITTED",
                ),
                provider_rows,
            )
        )

    # -- the act -----------------------------------------------------------------------
    def run_act(self) -> None:
        with environment(self.task_env), self.invoke.installed():
            self._act()

    def _act(self) -> None:
        run = self.run
        self.setup()
        same = self.consumers[SAME_REGION_ACCOUNT]
        other = self.consumers[OTHER_REGION_ACCOUNT]
        brokers = len(self.aws.msk.brokers(self.arn))

        run.story.heading(f"Onboard consumer {same.account_id} (same Region, {same.region})")
        self.execute("onboarding", self.onboarding_input(same))
        self.show()
        self.verify([same], [])
        self.out(CONSUMERS_VERIFIED)
        run.note("nlb-per-broker", f"onboard {same.account_id}", brokers)

        run.story.heading(f"Onboard consumer {other.account_id} (cross-Region, {other.region})")
        self.execute("onboarding", self.onboarding_input(other))
        self.show()
        self.verify([same, other], [])
        self.out(CONSUMERS_VERIFIED)
        run.note("nlb-per-broker", f"onboard {other.account_id}", brokers)

        run.story.heading("Scale out nlb-per-broker 3 -> 6: both consumers follow")
        run.update_broker_count(self.arn, 6)
        run.react(
            run.per_broker,
            "scale out, 2 consumers",
            "kafka-update-broker-count.json",
            targetNumberOfBrokerNodes=6,
        )
        self.follow([same, other])
        self.show()
        self.verify([same, other], [])
        self.out(CONSUMERS_VERIFIED)
        run.diagram("3-two-consumers", self.arn)
        run.cost(self.arn, gb_per_month=10_000)

        run.story.heading(f"Offboard consumer {other.account_id}; {same.account_id} keeps working")
        self.execute("offboarding", {"clusterArn": self.arn, "consumerAccountId": other.account_id})
        self.show()
        self.verify([same], [other])
        self.out(
            f"Verified: nothing of {other.account_id} is left on either side; "
            f"{same.account_id} still reaches every broker."
        )
        run.note("nlb-per-broker", f"offboard {other.account_id}", 6)

    def follow(self, consumers: list[ConsumerAccount], rounds: int = 5) -> None:
        """Let the consumers handle BrokerEndpointsChanged and the callback
        function accept their new connections (it reacts to their reports)."""
        before = len(self.verdicts)
        for _ in range(rounds):
            with contextlib.redirect_stdout(self.log):
                self.pump()
            if not any(self.check_follows(c) for c in consumers):
                break
        verdicts = [f"{v['verdict']} ({v['why']})" for v in self.verdicts[before:]]
        self.out(
            "Consumer-sync handled the new view in both accounts; task callback: "
            + ("; ".join(verdicts) or "nothing to do")
        )


def _dns(name: str) -> str:
    return name.rstrip(".").lower()
