"""msk-configuration mode on the embedded AWS: our own configuration, one rollout, no waiting."""

from __future__ import annotations

import contextlib

import pytest

from msk_privatelink.advertised.aws.msk_configuration import (
    MskConfigurationAdvertiser,
    configuration_description,
    configuration_name,
)
from msk_privatelink.advertised.listeners import CUSTOM_ADVERTISED_LISTENERS, property_value
from msk_privatelink.advertised.outcome import (
    AdvertisedListenersFailedError,
    AdvertisedStatus,
)
from msk_privatelink.kernel.errors import OwnershipConflictError
from msk_privatelink_dev.embedded import EmbeddedAws
from tests.advertised.support import (
    Crash,
    KafkaCalls,
    make_cluster,
    mapping_of,
    properties_in_force,
    until_settled,
)

pytestmark = pytest.mark.integration

THEIR_PROPERTIES = (
    b"# tuned by the platform team\r\n"
    b"auto.create.topics.enable = false\r\n"
    b"log.retention.hours=168\r\n"
    b"num.partitions:6\r\n"
)


def expected_value(cluster_arn: str, aws: EmbeddedAws) -> str:
    host = aws.msk.brokers(cluster_arn)[0].endpoint
    domain = host.split(".", 1)[1]
    return (
        f"CLIENT_SECURE://b-{{broker_id}}.{domain}:8440+{{broker_id}},"
        f"CLIENT_IAM://b-{{broker_id}}.{domain}:9000+{{broker_id}}"
    )


def their_configuration(aws: EmbeddedAws) -> str:
    created = aws.client("kafka").create_configuration(
        Name="platform-defaults", ServerProperties=THEIR_PROPERTIES
    )
    return str(created["Arn"])


def test_first_run_rolls_out_exactly_our_property_on_top_of_theirs(aws: EmbeddedAws) -> None:
    # Given a cluster running someone else's configuration
    theirs = their_configuration(aws)
    cluster_arn = make_cluster(aws, configuration=(theirs, 1))
    calls = KafkaCalls(aws)

    # When the mapping is ensured
    outcome = MskConfigurationAdvertiser(calls.client).ensure(
        cluster_arn, mapping_of(aws, cluster_arn)
    )

    # Then our own configuration holds their properties byte for byte plus ours,
    # and the cluster runs it
    assert outcome.status is AdvertisedStatus.IN_PROGRESS
    assert outcome.operation_arn
    in_force = properties_in_force(aws, cluster_arn)
    assert in_force == (
        THEIR_PROPERTIES
        + f"{CUSTOM_ADVERTISED_LISTENERS}={expected_value(cluster_arn, aws)}\r\n".encode()
    )
    kafka = aws.client("kafka")
    software = kafka.describe_cluster_v2(ClusterArn=cluster_arn)["ClusterInfo"]["Provisioned"][
        "CurrentBrokerSoftwareInfo"
    ]
    assert software["ConfigurationArn"] == outcome.configuration_arn != theirs
    ours = kafka.describe_configuration(Arn=outcome.configuration_arn)
    assert ours["Name"] == configuration_name(cluster_arn)
    assert ours["Description"] == configuration_description(cluster_arn)
    # Their configuration was only read.
    assert kafka.describe_configuration(Arn=theirs)["LatestRevision"]["Revision"] == 1
    assert calls.writes == {"CreateConfiguration": 1, "UpdateClusterConfiguration": 1}


def test_a_cluster_on_msk_defaults_gets_only_our_line(aws: EmbeddedAws) -> None:
    cluster_arn = make_cluster(aws)
    advertiser = MskConfigurationAdvertiser(aws.client("kafka"))

    advertiser.ensure(cluster_arn, mapping_of(aws, cluster_arn))

    assert properties_in_force(aws, cluster_arn) == (
        f"{CUSTOM_ADVERTISED_LISTENERS}={expected_value(cluster_arn, aws)}\n".encode()
    )


def test_once_in_force_nothing_is_written_again(aws: EmbeddedAws) -> None:
    cluster_arn = make_cluster(aws, configuration=(their_configuration(aws), 1))
    mapping = mapping_of(aws, cluster_arn)
    MskConfigurationAdvertiser(aws.client("kafka")).ensure(cluster_arn, mapping)

    calls = KafkaCalls(aws)
    for _ in range(3):
        outcome = MskConfigurationAdvertiser(calls.client).ensure(cluster_arn, mapping)
        assert outcome.status is AdvertisedStatus.UP_TO_DATE

    assert calls.writes == {}
    assert calls.calls == {"DescribeClusterV2": 3, "DescribeConfigurationRevision": 3}


def test_an_operation_in_progress_is_followed_across_runs(aws: EmbeddedAws) -> None:
    cluster_arn = make_cluster(aws)
    mapping = mapping_of(aws, cluster_arn)
    aws.msk.complete_immediately = False
    calls = KafkaCalls(aws)
    advertiser = MskConfigurationAdvertiser(calls.client)

    started = advertiser.ensure(cluster_arn, mapping)
    following = advertiser.ensure(cluster_arn, mapping)
    aws.msk.advance_operations(cluster_arn)
    still = advertiser.ensure(cluster_arn, mapping)

    assert started.status is AdvertisedStatus.IN_PROGRESS
    assert following.status is still.status is AdvertisedStatus.IN_PROGRESS
    assert following.operation_arn == still.operation_arn == started.operation_arn
    assert "PENDING" in following.detail
    assert "UPDATE_IN_PROGRESS" in still.detail
    assert calls.writes == {"CreateConfiguration": 1, "UpdateClusterConfiguration": 1}
    assert calls.calls["DescribeClusterOperationV2"] == 2

    aws.msk.complete_operations(cluster_arn)
    done = advertiser.ensure(cluster_arn, mapping)

    assert done.status is AdvertisedStatus.UP_TO_DATE
    assert calls.writes == {"CreateConfiguration": 1, "UpdateClusterConfiguration": 1}


def test_another_operation_makes_it_wait_without_writing(aws: EmbeddedAws) -> None:
    cluster_arn = make_cluster(aws)
    mapping = mapping_of(aws, cluster_arn)
    aws.msk.complete_immediately = False
    aws.msk.scale(cluster_arn, 6)
    calls = KafkaCalls(aws)

    outcome = MskConfigurationAdvertiser(calls.client).ensure(cluster_arn, mapping)

    assert outcome.status is AdvertisedStatus.BUSY
    assert outcome.pending
    assert not outcome.done
    assert "INCREASE_BROKER_COUNT" in outcome.detail
    assert calls.writes == {}


def test_a_failed_rollout_is_reported_and_not_repeated(aws: EmbeddedAws) -> None:
    cluster_arn = make_cluster(aws)
    mapping = mapping_of(aws, cluster_arn)
    aws.msk.complete_immediately = False
    advertiser = MskConfigurationAdvertiser(aws.client("kafka"))
    started = advertiser.ensure(cluster_arn, mapping)
    aws.msk.fail_operations(cluster_arn, "InvalidConfiguration", "Listener CLIENT_IAM refused.")
    calls = KafkaCalls(aws)

    outcome = MskConfigurationAdvertiser(calls.client).ensure(cluster_arn, mapping)

    assert outcome.status is AdvertisedStatus.FAILED
    assert outcome.operation_arn == started.operation_arn
    assert "Listener CLIENT_IAM refused." in outcome.detail
    assert calls.writes == {}
    with pytest.raises(AdvertisedListenersFailedError, match="refused"):
        outcome.raise_for_failure()

    retried = MskConfigurationAdvertiser(calls.client).ensure(
        cluster_arn, mapping, retry_failed=True
    )
    assert retried.status is AdvertisedStatus.IN_PROGRESS
    assert retried.configuration_revision == started.configuration_revision
    assert calls.writes == {"UpdateClusterConfiguration": 1}


def test_a_changed_mapping_adds_one_revision(aws: EmbeddedAws) -> None:
    cluster_arn = make_cluster(aws)
    advertiser = MskConfigurationAdvertiser(aws.client("kafka"))
    first = advertiser.ensure(cluster_arn, mapping_of(aws, cluster_arn))
    narrower = mapping_of(aws, cluster_arn)
    narrower = type(narrower)(
        schemes=narrower.schemes[-1:],
        port_bases=narrower.port_bases[-1:],
        brokers=narrower.brokers,
    )

    second = advertiser.ensure(cluster_arn, narrower)

    assert (first.configuration_arn, first.configuration_revision) == (
        second.configuration_arn,
        1,
    )
    assert second.configuration_revision == 2
    value = property_value(properties_in_force(aws, cluster_arn), CUSTOM_ADVERTISED_LISTENERS)
    assert value is not None
    assert value.startswith("CLIENT_IAM://")
    assert "CLIENT_SECURE" not in value


def test_a_configuration_with_our_name_that_is_not_ours_is_left_alone(aws: EmbeddedAws) -> None:
    cluster_arn = make_cluster(aws)
    kafka = aws.client("kafka")
    kafka.create_configuration(
        Name=configuration_name(cluster_arn), ServerProperties=b"a=1\n", Description="mine"
    )

    with pytest.raises(OwnershipConflictError):
        MskConfigurationAdvertiser(kafka).ensure(cluster_arn, mapping_of(aws, cluster_arn))

    assert properties_in_force(aws, cluster_arn) == b""


# Create- or UpdateConfiguration, then UpdateClusterConfiguration.
WRITES = 2


@pytest.mark.crash
@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("at", range(1, WRITES + 1))
@pytest.mark.parametrize("changed", [False, True], ids=["first", "changed"])
def test_a_crash_at_any_write_converges_without_extra_revisions(
    aws: EmbeddedAws, at: int, after: bool, changed: bool
) -> None:
    # Given a cluster on someone else's configuration (and, for "changed", on
    # our revision 1 that a new mapping has to replace)
    cluster_arn = make_cluster(aws, configuration=(their_configuration(aws), 1))
    mapping = mapping_of(aws, cluster_arn)
    kafka = aws.client("kafka")
    if changed:
        MskConfigurationAdvertiser(kafka).ensure(cluster_arn, mapping)
        mapping = type(mapping)(mapping.schemes[:1], mapping.port_bases[:1], mapping.brokers)
    aws.msk.complete_immediately = False

    # When the process dies at write #at (before or after it reached MSK)
    crashing = KafkaCalls(aws, crash_at=at, after=after)
    with contextlib.suppress(Crash):
        MskConfigurationAdvertiser(crashing.client).ensure(cluster_arn, mapping)
    assert crashing.crashed_at is not None

    # Then later runs converge, with one revision per wanted content
    calls = KafkaCalls(aws)
    outcome = until_settled(
        lambda: MskConfigurationAdvertiser(calls.client).ensure(cluster_arn, mapping),
        lambda: aws.msk.complete_operations(cluster_arn),
    )
    assert outcome.status is AdvertisedStatus.UP_TO_DATE
    revisions = kafka.list_configuration_revisions(Arn=outcome.configuration_arn)["Revisions"]
    assert len(revisions) == (2 if changed else 1)
    in_force = properties_in_force(aws, cluster_arn)
    assert in_force.startswith(THEIR_PROPERTIES)
    assert property_value(in_force, CUSTOM_ADVERTISED_LISTENERS) == (
        mapping_value := ",".join(mapping.custom_listener_entries().values())
    )
    assert in_force.count(mapping_value.encode()) == 1
    assert calls.writes["UpdateClusterConfiguration"] <= 1
    assert (
        crashing.writes["UpdateClusterConfiguration"] + calls.writes["UpdateClusterConfiguration"]
        <= 2
    )
