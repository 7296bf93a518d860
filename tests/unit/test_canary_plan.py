"""What the canary probes and from where, from an applied view and the
endpoints serving it."""

from __future__ import annotations

import pytest

from msk_privatelink.canary.plan import (
    MAX_FUNCTION_SECURITY_GROUPS,
    MAX_FUNCTION_SUBNETS,
    EndpointAddresses,
    group_by_network,
    plan_cluster,
    plan_metadata,
    prober_network,
)
from msk_privatelink.canary.service import ClusterResult
from msk_privatelink.connectivity.kafka_metadata import Scram
from msk_privatelink.connectivity.metadata_check import MetadataOutcome
from msk_privatelink.connectivity.results import ProbeResult, Step
from msk_privatelink.consumer.aws.registry import Tenancy
from msk_privatelink.consumer.aws.views import AppliedView
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.events import (
    BootstrapEndpoint,
    BrokerEndpoint,
    BrokerEndpointsChanged,
)
from msk_privatelink.kernel.records import replace

ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/6f1c2b3a-1111-2222-3333-444455556666-2"
DOMAIN = "demo.abc123.c2.kafka.us-east-1.amazonaws.com"


def service(n: int) -> str:
    return f"com.amazonaws.vpce.us-east-1.vpce-svc-0{n:016x}"


def tenancy(subnets: int = 3, groups: int = 1, cluster_arn: str = ARN) -> Tenancy:
    return Tenancy(
        cluster_arn=cluster_arn,
        vpc_id="vpc-0a1b2c3d4e5f60718",
        region="us-east-1",
        subnet_ids=tuple(f"subnet-{i:017x}" for i in range(subnets)),
        security_group_ids=tuple(f"sg-{i:017x}" for i in range(groups)),
    )


def per_broker_view(brokers: int = 3) -> BrokerEndpointsChanged:
    return BrokerEndpointsChanged(
        cluster_arn=ARN,
        cluster_name="demo",
        region="us-east-1",
        pattern="nlb-per-broker",
        generation=4,
        brokers=tuple(
            BrokerEndpoint(
                broker_id=i,
                host_names=(f"b-{i}.{DOMAIN}",),
                endpoint_service_name=service(i),
                endpoint_service_id=f"vpce-svc-0{i:016x}",
                ports={"tls": 9094, "sasl_iam": 9098},
            )
            for i in range(1, brokers + 1)
        ),
    )


def shared_view() -> BrokerEndpointsChanged:
    return BrokerEndpointsChanged(
        cluster_arn=ARN,
        cluster_name="demo",
        region="us-east-1",
        pattern="shared-nlb",
        generation=2,
        brokers=tuple(
            BrokerEndpoint(
                broker_id=i,
                host_names=(f"b-{i}.{DOMAIN}",),
                endpoint_service_name=service(100),
                endpoint_service_id="vpce-svc-00000000000000064",
                ports={"sasl_iam": 14000 + i},
            )
            for i in (1, 2)
        ),
        bootstrap=BootstrapEndpoint(
            endpoint_service_name=service(100),
            endpoint_service_id="vpce-svc-00000000000000064",
            ports={"sasl_iam": 14100},
        ),
    )


def applied(view: BrokerEndpointsChanged, **kwargs: object) -> AppliedView:
    services = sorted({b.endpoint_service_name for b in view.brokers})
    return AppliedView(
        cluster_arn=view.cluster_arn,
        generation=view.generation,
        tenancy=kwargs.pop("tenancy", tenancy()),  # type: ignore[arg-type]
        view=view,
        endpoints={s: f"vpce-{i:017x}" for i, s in enumerate(services)},
    )


def serving(stored: AppliedView, **states: str) -> dict[str, EndpointAddresses]:
    """Every endpoint of the view available with two addresses, unless ``states``
    (by endpoint id) says otherwise."""
    out = {}
    for n, endpoint_id in enumerate(sorted(stored.endpoints.values())):
        out[endpoint_id] = EndpointAddresses(
            endpoint_id,
            states.get(endpoint_id, "available"),
            frozenset({f"10.0.1.{n + 10}", f"10.0.2.{n + 10}"}),
        )
    return out


def test_every_broker_name_and_scheme_expects_its_own_endpoints_addresses() -> None:
    stored = applied(per_broker_view())
    endpoints = serving(stored)

    check = plan_cluster(stored, endpoints)

    assert (check.cluster_arn, check.generation, check.pending, check.problems) == (ARN, 4, (), ())
    assert [(t.broker, t.port, t.scheme) for t in check.targets] == [
        (b, p, s) for b in ("1", "2", "3") for s, p in (("sasl_iam", 9098), ("tls", 9094))
    ]
    for t in check.targets:
        endpoint_id = stored.endpoints[service(int(t.broker))]
        assert t.expected == endpoints[endpoint_id].addresses
        assert t.host == f"b-{t.broker}.{DOMAIN}"


def test_shared_nlb_probes_every_broker_and_the_bootstrap_through_one_endpoint() -> None:
    stored = applied(shared_view())
    (endpoint,) = serving(stored).values()

    check = plan_cluster(stored, {endpoint.endpoint_id: endpoint})

    assert [(t.broker, t.host, t.port) for t in check.targets] == [
        ("1", f"b-1.{DOMAIN}", 14001),
        ("2", f"b-2.{DOMAIN}", 14002),
        ("bootstrap", f"bootstrap.{DOMAIN}", 14100),
    ]
    assert {t.expected for t in check.targets} == {endpoint.addresses}


def test_an_endpoint_not_serving_yet_is_pending_and_not_probed() -> None:
    stored = applied(per_broker_view())
    second = stored.endpoints[service(2)]
    endpoints = serving(stored, **{second: "pendingAcceptance"})
    endpoints[stored.endpoints[service(3)]] = EndpointAddresses(
        stored.endpoints[service(3)], "available"
    )

    check = plan_cluster(stored, endpoints)

    assert check.pending == ("2", "3")
    assert {t.broker for t in check.targets} == {"1"}


def test_a_rejected_or_failed_endpoint_is_a_problem_not_pending() -> None:
    stored = applied(per_broker_view())
    first = stored.endpoints[service(1)]

    check = plan_cluster(stored, serving(stored, **{first: "rejected"}))

    assert check.pending == ()
    assert check.problems == (f"1: endpoint {first} is rejected",)


def test_an_endpoint_gone_from_the_vpc_is_a_problem_named_with_its_service() -> None:
    stored = applied(per_broker_view())
    endpoints = serving(stored)
    del endpoints[stored.endpoints[service(1)]]

    check = plan_cluster(stored, endpoints)

    assert check.problems == (f"1: no endpoint of {service(1)} in vpc-0a1b2c3d4e5f60718",)
    assert {t.broker for t in check.targets} == {"2", "3"}
    assert plan_cluster(stored, {}).targets == ()


def test_the_network_is_cut_to_lambdas_vpc_limits_and_what_is_left_out_is_named() -> None:
    wide = tenancy(subnets=20, groups=7)
    network = prober_network(applied(per_broker_view(), tenancy=wide))

    assert len(network.subnet_ids) == MAX_FUNCTION_SUBNETS
    assert len(network.security_group_ids) == MAX_FUNCTION_SECURITY_GROUPS
    assert len(network.left_out) == (20 - 16) + (7 - 5)
    assert set(network.left_out) | set(network.subnet_ids) | set(network.security_group_ids) == (
        set(wide.subnet_ids) | set(wide.security_group_ids)
    )


def test_clusters_in_the_same_network_share_one_prober_named_stably() -> None:
    other_arn = ARN.replace("/demo/", "/other/")
    first = plan_cluster(applied(per_broker_view()), {})
    second_view = replace(per_broker_view(), cluster_arn=other_arn)
    second = plan_cluster(applied(second_view, tenancy=tenancy(cluster_arn=other_arn)), {})
    elsewhere = plan_cluster(applied(per_broker_view(), tenancy=tenancy(groups=2)), {})

    grouped = group_by_network([second, elsewhere, first])

    assert len(grouped) == 2
    assert [c.cluster_arn for c in grouped[first.network]] == sorted([ARN, other_arn])
    name = first.network.function_name("consumer-prober")
    assert name == second.network.function_name("consumer-prober")
    assert name != elsewhere.network.function_name("consumer-prober")
    assert name.startswith("consumer-prober-")
    assert len(name) <= 64
    assert len(first.network.function_name("p" * 47)) == 64
    with pytest.raises(ConfigError, match="prober name prefix"):
        first.network.function_name("p" * 48)
    with pytest.raises(ConfigError, match="prober name prefix"):
        first.network.function_name("bad/name")


# ------------------------------------------------------------ metadata check


def scram_view(view: BrokerEndpointsChanged, port: int = 9096) -> BrokerEndpointsChanged:
    brokers = tuple(replace(b, ports={**b.ports, "sasl_scram": port}) for b in view.brokers)
    bootstrap = view.bootstrap
    if bootstrap is not None:
        bootstrap = replace(bootstrap, ports={**bootstrap.ports, "sasl_scram": 14200})
    return replace(view, brokers=brokers, bootstrap=bootstrap)


def test_metadata_goes_through_shared_nlbs_bootstrap_and_expects_every_broker() -> None:
    view = scram_view(shared_view(), port=14300)
    view = replace(
        view,
        brokers=tuple(
            replace(b, ports={**b.ports, "sasl_scram": 14300 + b.broker_id}) for b in view.brokers
        ),
    )
    stored = applied(view)
    check = plan_cluster(stored, serving(stored))
    user = Scram("canary", "s3cret-Pa55")

    metadata = plan_metadata(stored, check, "sasl_scram", user)

    assert metadata is not None
    assert (metadata.request.host, metadata.request.port, metadata.request.scheme) == (
        f"bootstrap.{DOMAIN}",
        14200,
        "sasl_scram",
    )
    assert metadata.request.auth == user
    assert metadata.expected == {
        1: (frozenset({f"b-1.{DOMAIN}"}), 14301),
        2: (frozenset({f"b-2.{DOMAIN}"}), 14302),
    }


def test_nlb_per_broker_fetches_through_the_lowest_serving_broker() -> None:
    stored = applied(scram_view(per_broker_view()))
    first = stored.endpoints[service(1)]
    check = plan_cluster(stored, serving(stored, **{first: "pendingAcceptance"}))

    metadata = plan_metadata(stored, check, "sasl_scram", None)

    assert metadata is not None
    assert (metadata.request.host, metadata.request.port) == (f"b-2.{DOMAIN}", 9096)
    # Every broker of the view is expected, the pending one too: the
    # cluster advertises it whatever this account's endpoint does.
    assert sorted(metadata.expected) == [1, 2, 3]
    # Nothing serves the scheme: nothing to fetch through.
    assert plan_metadata(applied(per_broker_view()), check, "sasl_scram", None) is None


def checked(outcome: MetadataOutcome, **kwargs: object) -> ClusterResult:
    stored = applied(scram_view(per_broker_view()))
    check = plan_cluster(stored, serving(stored))
    metadata = plan_metadata(stored, check, "sasl_scram", Scram("canary", "s3cret-Pa55"))
    results = tuple(
        ProbeResult(target=t, step=Step.OK, ok=True, detail="", elapsed_ms=1) for t in check.targets
    )
    return ClusterResult(check, results, metadata=metadata, metadata_outcome=outcome, **kwargs)  # type: ignore[arg-type]


def test_brokers_advertised_elsewhere_turn_the_cluster_red_naming_each() -> None:
    advertised = (
        (1, f"b-1.{DOMAIN}", 9096),
        (2, "10.0.0.12", 9096),  # the broker's own address: clients leave PrivateLink
        (3, f"b-3.{DOMAIN}", 9196),
    )
    result = checked(MetadataOutcome(cluster=ARN, step=Step.OK, brokers=advertised))

    report = result.report("111122223333", "us-east-1", "2026-12-05T21:00:00+00:00")

    assert result.state == report.state == "unreachable"
    assert result.unreachable_brokers() == ["2", "3"]
    assert (report.probes, report.failed) == (9 + 3, 2)
    assert [(f.broker, f.scheme, f.port, f.step) for f in report.failures] == [
        ("2", "sasl_scram", 9096, "kafka"),
        ("3", "sasl_scram", 9096, "kafka"),
    ]
    assert report.failures[0].detail == (
        f"metadata: advertised at 10.0.0.12:9096, the view has b-2.{DOMAIN}:9096"
    )


def test_agreeing_metadata_is_green_and_a_failed_fetch_is_a_problem_not_red() -> None:
    agreeing = tuple((i, f"b-{i}.{DOMAIN}", 9096) for i in (1, 2, 3))
    green = checked(MetadataOutcome(cluster=ARN, step=Step.OK, brokers=agreeing))
    assert green.state == "reachable"
    assert green.misadvertised == {}
    assert green.report("111122223333", "us-east-1", "2026-12-05T21:00:00+00:00").probes == 12

    refused = checked(
        MetadataOutcome(
            cluster=ARN,
            step=Step.KAFKA,
            stage="SaslAuthenticate",
            detail="Authentication failed during authentication due to invalid credentials",
            authentication=True,
        )
    )
    report = refused.report("111122223333", "us-east-1", "2026-12-05T21:00:00+00:00")
    assert (report.state, report.probes, report.failed) == ("reachable", 9, 0)
    assert report.problems == (
        f"metadata check through b-1.{DOMAIN}:9096: the credentials were refused: "
        "Authentication failed during authentication due to invalid credentials",
    )
