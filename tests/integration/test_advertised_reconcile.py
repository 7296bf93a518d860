"""Advertised listeners through the real reconciler on the embedded AWS (shared-nlb).

msk-configuration: the configuration revision in force holds exactly the
wanted ``custom.advertised.listeners`` next to the operator's properties, and
UpdateClusterConfiguration is called once, only after the networking exists,
never again for the same value.

broker-override: the reconciler invokes the Kafka admin function (Lambda
Invoke, served in-process) once after the networking exists, not on a no-op
run, again when brokers are added. The function's core (`BrokerOverride`)
runs for real; the brokers behind it are an in-memory stand-in, because the
admin client's Kafka behaviour is proven on real brokers in tests/kafka.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from msk_privatelink.advertised.kafka_admin import BrokerOverride, KafkaUnreachableError
from msk_privatelink.advertised.listeners import CUSTOM_ADVERTISED_LISTENERS, property_value
from msk_privatelink.advertised.outcome import AdvertisedStatus
from msk_privatelink.advertised.request import AdvertisedRequest, AdvertisedResponse
from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.reconcile.aws.publisher import EndpointsPublisher
from msk_privatelink.reconcile.reconciler import ReconcileOutcome, Reconciler
from msk_privatelink.reconcile.service import ReconcileService
from msk_privatelink.reconcile.settings import ReconcilerSettings
from tests.advertised.support import LocalInvoke, properties_in_force
from tests.integration.harness import (
    BUS,
    LEASE_SECONDS,
    PREFIX,
    TABLE,
    CrashInjector,
    InjectedCrash,
    World,
    world,
)

pytestmark = pytest.mark.integration

FUNCTION = "kafka-admin"
THEIR_PROPERTIES = b"# platform defaults\nauto.create.topics.enable=false\nnum.partitions=6\n"


def shared(mode: str) -> dict[str, Any]:
    return {"pattern": "shared-nlb", "advertised_listeners": {"mode": mode}}


def domain_of(w: World) -> str:
    host = w.aws.msk.brokers(w.cluster_arn)[0].endpoint
    return host.split(".", 1)[1]


def reads_budget(w: World) -> int:
    state = w.inventory_of_everything()
    return len(state["target_groups"]) + len(state["load_balancers"]) + 10


# ----------------------------------------------------------- msk-configuration


@pytest.fixture
def msk_conf() -> Iterator[World]:
    with world(auth=("tls", "iam"), config_overrides=shared("msk-configuration")) as w:
        # The operator's own configuration, which must survive ours.
        kafka = w.aws.client("kafka")
        theirs = kafka.create_configuration(Name="platform", ServerProperties=THEIR_PROPERTIES)
        version = kafka.describe_cluster_v2(ClusterArn=w.cluster_arn)["ClusterInfo"][
            "CurrentVersion"
        ]
        kafka.update_cluster_configuration(
            ClusterArn=w.cluster_arn,
            ConfigurationInfo={"Arn": theirs["Arn"], "Revision": 1},
            CurrentVersion=version,
        )
        yield w


def expected_property(w: World) -> str:
    domain = domain_of(w)
    return (
        f"CLIENT_SECURE://b-{{broker_id}}.{domain}:8440+{{broker_id}},"
        f"CLIENT_IAM://b-{{broker_id}}.{domain}:9000+{{broker_id}}"
    )


def test_msk_configuration_rolls_out_exactly_our_property_after_the_networking(
    msk_conf: World,
) -> None:
    w = msk_conf

    outcome = w.reconcile()

    assert outcome.status == "converged"
    assert w.residual_plan_size() == 0
    assert outcome.advertised is not None
    assert outcome.advertised.mode == "msk-configuration"
    # Started, not waited for (the simulator happens to finish it at once).
    assert outcome.advertised.status is AdvertisedStatus.IN_PROGRESS
    in_force = properties_in_force(w.aws, w.cluster_arn)
    assert in_force == (
        THEIR_PROPERTIES + f"{CUSTOM_ADVERTISED_LISTENERS}={expected_property(w)}\n".encode()
    )
    assert property_value(in_force, "num.partitions") == "6"
    assert w.counter.writes["UpdateClusterConfiguration"] == 1
    assert w.counter.writes["CreateConfiguration"] == 1
    assert outcome.to_dict()["advertised"] == {
        "mode": "msk-configuration",
        "status": "in-progress",
        "detail": outcome.advertised.detail,
    }


@pytest.mark.parametrize("at", [2, 5, 9])
def test_msk_configuration_waits_for_the_networking(msk_conf: World, at: int) -> None:
    # Given a run whose networking additions fail at write #at (#1 is the lease)
    w = msk_conf
    crash = CrashInjector(at=at)
    with pytest.raises(InjectedCrash):
        w.reconciler(w.clients(("before-call.*.*", crash.before))).reconcile(w.config)

    # Then MSK was not asked to advertise anything
    assert crash.operation not in ("UpdateClusterConfiguration", "CreateConfiguration")
    assert w.counter.writes["UpdateClusterConfiguration"] == 0
    assert w.counter.writes["CreateConfiguration"] == 0
    assert (
        property_value(properties_in_force(w.aws, w.cluster_arn), "custom.advertised.listeners")
        is None
    )

    # When a later run (after the crashed run's lease expired) completes the networking
    w.now += LEASE_SECONDS + 1
    outcome = w.reconcile()

    # Then, and only then, the rollout starts, once
    assert outcome.status == "converged"
    assert w.residual_plan_size() == 0
    assert w.counter.writes["UpdateClusterConfiguration"] == 1


def test_msk_configuration_is_rolled_out_once_across_runs(msk_conf: World) -> None:
    w = msk_conf
    w.aws.msk.complete_immediately = False
    statuses: list[AdvertisedStatus] = []

    def run() -> ReconcileOutcome:
        outcome = w.reconcile()
        assert outcome.advertised is not None
        statuses.append(outcome.advertised.status)
        return outcome

    run()  # networking + rollout started
    run()  # rollout PENDING
    w.aws.msk.advance_operations(w.cluster_arn)
    run()  # rollout UPDATE_IN_PROGRESS
    w.aws.msk.complete_operations(w.cluster_arn)
    run()  # in force
    run()
    # A new broker id comes with the same pattern: nothing to roll out again.
    w.aws.msk.complete_immediately = True
    w.aws.msk.scale(w.cluster_arn, 6)
    run()
    run()

    assert statuses == [AdvertisedStatus.IN_PROGRESS] * 3 + [AdvertisedStatus.UP_TO_DATE] * 4
    assert w.counter.writes["UpdateClusterConfiguration"] == 1
    assert w.counter.writes["CreateConfiguration"] == 1
    assert "UpdateConfiguration" not in w.counter.writes
    assert property_value(
        properties_in_force(w.aws, w.cluster_arn), CUSTOM_ADVERTISED_LISTENERS
    ) == expected_property(w)


def test_msk_configuration_no_op_run_reads_within_budget(msk_conf: World) -> None:
    w = msk_conf
    w.reconcile()
    w.reconcile()
    w.published()
    w.counter.reset()

    outcome = w.reconcile()

    assert outcome.status == "unchanged"
    assert outcome.advertised is not None
    assert outcome.advertised.status is AdvertisedStatus.UP_TO_DATE
    assert w.counter.writes == Counter()
    reads = sum(w.counter.reads.values())
    # 8 target groups + 1 load balancer + 10; the cluster is described once.
    assert reads <= reads_budget(w) == 19, w.counter.reads
    assert w.counter.reads["DescribeClusterV2"] == 1
    assert w.counter.reads["DescribeConfigurationRevision"] == 1


def test_a_dry_run_and_a_refused_run_never_touch_msk_configuration(msk_conf: World) -> None:
    w = msk_conf
    planned = w.reconciler().reconcile(w.config, dry_run=True)
    w.aws.msk.set_state(w.cluster_arn, "FAILED")
    refused = w.reconcile()

    assert planned.status == "planned"
    assert refused.status == "refused"
    assert planned.advertised is refused.advertised is None
    assert w.counter.writes["UpdateClusterConfiguration"] == 0
    assert "DescribeConfigurationRevision" not in w.counter.reads


# ------------------------------------------------------------- broker-override


class StandInBrokers:
    """The Kafka side of the admin function: each broker's advertised.listeners.

    Brokers are the ones MSK lists now, starting with MSK's own listeners.
    """

    def __init__(self, w: World) -> None:
        self._w = w
        self.overrides: dict[int, str] = {}
        self.unreachable = False

    def broker_ids(self) -> frozenset[int]:
        if self.unreachable:
            raise KafkaUnreachableError("reading the cluster metadata: all brokers down")
        return frozenset(b.broker_id for b in self._w.aws.msk.brokers(self._w.cluster_arn))

    def advertised_listeners(self, broker_id: int) -> str:
        if broker_id in self.overrides:
            return self.overrides[broker_id]
        host = next(
            b.endpoint
            for b in self._w.aws.msk.brokers(self._w.cluster_arn)
            if b.broker_id == broker_id
        )
        return f"CLIENT_SECURE://{host}:9094,CLIENT_IAM://{host}:9098,REPLICATION://{host}:9093"

    def set_advertised_listeners(
        self, broker_id: int, value: str, *, validate_only: bool = False
    ) -> None:
        if not validate_only:
            self.overrides[broker_id] = value

    def function(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The admin function's work, behind the same request/response contract."""
        request = AdvertisedRequest.from_dict(payload)
        response: AdvertisedResponse = BrokerOverride(self).apply(request)  # type: ignore[arg-type]
        return response.to_dict()


@pytest.fixture
def override() -> Iterator[tuple[World, StandInBrokers, LocalInvoke]]:
    with world(auth=("tls", "iam"), config_overrides=shared("broker-override")) as w:
        brokers = StandInBrokers(w)
        yield w, brokers, LocalInvoke({FUNCTION: brokers.function})


def service(w: World, invoke: LocalInvoke, function: str | None = FUNCTION) -> ReconcileService:
    settings = ReconcilerSettings(
        config_parameter_prefix=PREFIX,
        event_bus_name=BUS,
        state_table_name=TABLE,
        kafka_admin_function_name=function,
    )
    clients = w.clients(("before-call.lambda.Invoke", invoke))
    return ReconcileService(clients, settings)


def advertised_by(brokers: StandInBrokers, w: World) -> dict[int, str]:
    return {b: brokers.advertised_listeners(b) for b in sorted(brokers.broker_ids())}


def expected_overrides(w: World) -> dict[int, str]:
    domain = domain_of(w)
    return {
        b.broker_id: (
            f"CLIENT_SECURE://b-{b.broker_id}.{domain}:{8440 + b.broker_id},"
            f"CLIENT_IAM://b-{b.broker_id}.{domain}:{9000 + b.broker_id},"
            f"REPLICATION://{b.endpoint}:9093"
        )
        for b in w.aws.msk.brokers(w.cluster_arn)
    }


def test_broker_override_is_invoked_once_after_the_networking_then_on_new_brokers(
    override: tuple[World, StandInBrokers, LocalInvoke],
) -> None:
    w, brokers, invoke = override
    svc = service(w, invoke)

    first = svc.reconcile_cluster(w.cluster_arn)

    assert first.status == "converged"
    assert first.advertised is not None
    assert first.advertised.status is AdvertisedStatus.APPLIED
    assert w.counter.calls["Invoke"] == 1
    assert advertised_by(brokers, w) == expected_overrides(w)
    (payload,) = invoke.payloads
    assert payload["connection"]["auth"] == "sasl_iam"
    assert [b["brokerId"] for b in payload["brokers"]] == [1, 2, 3]

    # A no-op run: no Invoke, no write at all, reads within the budget.
    w.published()
    w.counter.reset()
    again = svc.reconcile_cluster(w.cluster_arn)
    assert again.status == "unchanged"
    assert again.advertised is not None
    assert again.advertised.done
    assert w.counter.writes == Counter()
    assert sum(w.counter.reads.values()) <= reads_budget(w), w.counter.reads
    assert "GetBootstrapBrokers" not in w.counter.reads

    # Brokers added: their networking first, then one Invoke for the new mapping.
    w.aws.msk.scale(w.cluster_arn, 6)
    w.counter.reset()
    scaled = svc.reconcile_cluster(w.cluster_arn)
    assert scaled.status == "converged"
    assert w.counter.calls["Invoke"] == 1
    assert advertised_by(brokers, w) == expected_overrides(w)
    assert sorted(b["brokerId"] for b in invoke.payloads[-1]["brokers"]) == [1, 2, 3, 4, 5, 6]
    w.counter.reset()
    svc.reconcile_cluster(w.cluster_arn)
    assert w.counter.calls["Invoke"] == 0

    # The scheduled (deep) run checks the brokers again.
    deep = svc.reconcile_cluster(w.cluster_arn, deep=True)
    assert deep.advertised is not None
    assert deep.advertised.status is AdvertisedStatus.UP_TO_DATE
    assert w.counter.calls["Invoke"] == 1


@pytest.mark.parametrize("at", [2, 7])
def test_broker_override_is_never_invoked_before_the_networking_exists(
    override: tuple[World, StandInBrokers, LocalInvoke], at: int
) -> None:
    w, brokers, invoke = override
    crash = CrashInjector(at=at)
    svc = service(w, invoke)
    crashing = Reconciler(
        w.clients(("before-call.*.*", crash.before)),
        broker_override=lambda r: AdvertisedResponse.from_dict(brokers.function(r.to_dict())),
    )

    with pytest.raises(InjectedCrash):
        crashing.reconcile(w.config)

    assert w.counter.calls["Invoke"] == 0
    assert invoke.payloads == []
    assert brokers.overrides == {}

    outcome = svc.reconcile_cluster(w.cluster_arn)
    assert outcome.status == "converged"
    assert w.counter.calls["Invoke"] == 1


def test_broker_override_success_is_recorded_only_when_the_function_reports_it(
    override: tuple[World, StandInBrokers, LocalInvoke],
) -> None:
    w, brokers, invoke = override
    svc = service(w, invoke)
    brokers.unreachable = True

    failed = svc.reconcile_cluster(w.cluster_arn)

    # A retryable failure of the function is pending, not terminal, and not recorded.
    assert failed.status == "converged"
    assert failed.advertised is not None
    assert failed.advertised.status is AdvertisedStatus.BUSY
    assert failed.advertised_pending
    clients = AwsClients(w.aws.session(), region=w.aws.region)
    publisher = EndpointsPublisher(clients.events, clients.dynamodb, BUS, TABLE)
    assert publisher.state(w.cluster_arn).advertised_fingerprint is None

    brokers.unreachable = False
    retried = svc.reconcile_cluster(w.cluster_arn)

    assert retried.advertised is not None
    assert retried.advertised.status is AdvertisedStatus.APPLIED
    assert w.counter.calls["Invoke"] == 2
    assert publisher.state(w.cluster_arn).advertised_fingerprint is not None
    # The generation survived the extra attribute on the same item.
    assert publisher.state(w.cluster_arn).generation == 1


def test_broker_override_without_an_admin_function_is_refused_before_any_write(
    override: tuple[World, StandInBrokers, LocalInvoke],
) -> None:
    w, _, invoke = override
    svc = service(w, invoke, function=None)

    with pytest.raises(ConfigError, match="Kafka admin function"):
        svc.reconcile_cluster(w.cluster_arn)

    assert w.counter.writes == Counter()
    assert w.inventory_of_everything()["load_balancers"] == []


def test_broker_override_in_process_for_local_runs(
    override: tuple[World, StandInBrokers, LocalInvoke],
) -> None:
    # The CLI's way: the same reconciler core with the function's code in-process.
    w, brokers, _ = override
    calls: list[AdvertisedRequest] = []

    def in_process(request: AdvertisedRequest) -> AdvertisedResponse:
        calls.append(request)
        return AdvertisedResponse.from_dict(brokers.function(request.to_dict()))

    clients = w.clients()
    reconciler = Reconciler(
        clients,
        EndpointsPublisher(clients.events, clients.dynamodb, BUS, TABLE),
        leases=w.leases(clients),
        broker_override=in_process,
    )
    first = reconciler.reconcile(w.config)
    second = reconciler.reconcile(w.config)

    assert first.advertised is not None
    assert first.advertised.status is AdvertisedStatus.APPLIED
    assert second.advertised is not None
    assert second.advertised.done
    assert len(calls) == 1
    assert advertised_by(brokers, w) == expected_overrides(w)
    assert w.counter.calls["Invoke"] == 0


def test_brokers_without_an_address_hold_the_advertised_listeners_back(
    override: tuple[World, StandInBrokers, LocalInvoke],
) -> None:
    # Given a scale-out whose new brokers are listed but have no address yet
    w, brokers, invoke = override
    svc = service(w, invoke)
    svc.reconcile_cluster(w.cluster_arn)
    w.aws.msk.complete_immediately = False
    w.aws.msk.scale(w.cluster_arn, 6)
    w.counter.reset()

    # When a run prepares their listeners
    outcome = svc.reconcile_cluster(w.cluster_arn)

    # Then the function is not invoked: their target groups have no target yet
    assert outcome.advertised is not None
    assert outcome.advertised.status is AdvertisedStatus.BUSY
    assert "no address yet" in outcome.advertised.detail
    assert w.counter.calls["Invoke"] == 0

    # Once MSK gives them addresses, they are registered and then advertised.
    w.aws.msk.complete_operations(w.cluster_arn)
    done = svc.reconcile_cluster(w.cluster_arn)
    assert done.advertised is not None
    assert done.advertised.status is AdvertisedStatus.APPLIED
    assert w.counter.calls["Invoke"] == 1
    assert advertised_by(brokers, w) == expected_overrides(w)
