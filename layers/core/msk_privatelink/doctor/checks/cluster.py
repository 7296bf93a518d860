"""The configuration and the cluster every other check starts from.

Severity: a configuration that does not load, or a cluster that cannot be
read, is not there or is failed/deleting, fails (the reconciler would refuse
it). A cluster MSK is still creating or changing warns: the reconciler
withholds removals until it is ACTIVE, and doctor's facts may change.
"""

from __future__ import annotations

from msk_privatelink.doctor.facts import ClusterFacts, Facts, Unread
from msk_privatelink.doctor.result import CheckResult, failed, not_checked, passed, warned
from msk_privatelink.kernel.models import TRANSITIONAL_STATES

CONFIG_CHECK = "configuration"
CLUSTER_CHECK = "cluster"
SETTLING_STATES = frozenset({"CREATING", *TRANSITIONAL_STATES})


def check_configuration(facts: Facts) -> CheckResult:
    if facts.config is None:
        fix = (
            "correct the file (docs/cli.md, README.md)"
            if facts.config_from_file
            else f"store the cluster's document at {facts.config_source} "
            "(aws ssm put-parameter --type String --name ... --value file://orders.json) "
            "or give --config FILE"
        )
        return failed(CONFIG_CHECK, facts.config_problem or "no configuration", fix)
    config = facts.config
    schemes = ",".join(s.value for s in config.auth_schemes) if config.auth_schemes else "all"
    return passed(
        CONFIG_CHECK,
        f"{config.pattern}, auth_schemes {schemes}, from {facts.config_source}",
    )


def check_cluster(facts: Facts) -> CheckResult:
    cluster = facts.cluster
    if cluster is None:
        return not_checked(CLUSTER_CHECK, "no cluster ARN (see configuration)")
    if isinstance(cluster, Unread):
        return failed(
            CLUSTER_CHECK,
            f"cannot read {facts.cluster_arn}: {cluster}",
            "check the cluster ARN and its Region, and allow kafka:DescribeClusterV2, "
            "kafka:ListNodes and ec2:DescribeSubnets",
        )
    return _cluster_state(cluster)


def _cluster_state(cluster: ClusterFacts) -> CheckResult:
    inv = cluster.inventory
    detail = (
        f"{inv.state}, {len(inv.brokers)} of {inv.expected_broker_count} brokers listed, "
        f"VPC {inv.vpc_id}, Kafka {inv.kafka_version}"
    )
    if inv.state == "ACTIVE":
        return passed(CLUSTER_CHECK, detail)
    if inv.state in SETTLING_STATES:
        return warned(
            CLUSTER_CHECK,
            detail + ": MSK is changing the cluster; removals wait until it is ACTIVE",
            "run doctor again once the cluster is ACTIVE",
        )
    return failed(
        CLUSTER_CHECK,
        detail + ": the reconciler cannot serve a cluster in this state",
        "repair or recreate the cluster in MSK, or configure another one",
    )
