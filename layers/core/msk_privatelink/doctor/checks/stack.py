"""Check 6 (with ``--stack-name``): the deployed stack serves this cluster
with this configuration.

- ``stack`` (fail): the stack exists in a usable state and names the cluster
  in ``ClusterArn`` or ``MoreClusterArns`` (the functions' MSK permissions
  name exactly those). A stack being changed, or back from a rolled-back
  update, warns.
- ``stack-document`` (fail when missing or invalid, else warn): the document
  is stored where the functions read it (``CONFIG_PARAMETER_PREFIX``,
  ``/msk-privatelink/<stack>/clusters/<cluster name>``). For ``ClusterArn``
  the template writes that document from its parameters
  (``ClusterConfigParameter``); a document edited by hand since is what the
  reconciler uses, but the next stack update that changes the parameter's
  value rewrites it, so a difference warns. With ``--config``, a file that
  differs from the stored document warns: the stack reconciles the stored one.
- ``stack-kafka-admin`` (fail): broker-override needs the Kafka admin
  function (the template's rule ``BrokerOverrideNeedsTheAdminFunction``
  checks only the parameter, not a document edited later): subnets set, in
  the cluster's VPC, and a broker CIDR that holds every broker's address
  (the function's only egress besides HTTPS).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from msk_privatelink.doctor.facts import ClusterFacts, Facts, StackFacts, Unread
from msk_privatelink.doctor.result import (
    CheckResult,
    Outcome,
    failed,
    not_checked,
    passed,
    warned,
)
from msk_privatelink.doctor.sources import PROJECT_TEMPLATE
from msk_privatelink.kernel.records import to_data
from msk_privatelink.reconcile.config import ClusterConfig

STACK_CHECK = "stack"
DOCUMENT_CHECK = "stack-document"
KAFKA_ADMIN_CHECK = "stack-kafka-admin"
CHECKS = (STACK_CHECK, DOCUMENT_CHECK, KAFKA_ADMIN_CHECK)
USABLE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
GONE = frozenset({"ROLLBACK_COMPLETE", "DELETE_COMPLETE", "DELETE_IN_PROGRESS"})


def _csv(value: str) -> tuple[str, ...]:
    return tuple(sorted(v.strip() for v in value.split(",") if v.strip()))


@dataclass(frozen=True)
class Agreement:
    """A stack parameter the template writes into the cluster's document."""

    parameter: str
    field: str
    of_parameter: Callable[[str], Any]
    of_config: Callable[[ClusterConfig], Any]


# template.yaml, ClusterConfigParameter's Value: what each parameter becomes.
AGREEMENTS: tuple[Agreement, ...] = (
    Agreement("Pattern", "pattern", str, lambda c: c.pattern),
    Agreement(
        "AdvertisedListenersMode",
        "advertised_listeners.mode",
        str,
        lambda c: c.advertised_listeners.mode,
    ),
    Agreement(
        "AuthSchemes",
        "auth_schemes",
        _csv,
        lambda c: tuple(sorted(s.value for s in c.auth_schemes or ())),
    ),
    Agreement(
        "AcceptanceRequired",
        "acceptance_required",
        lambda v: v == "true",
        lambda c: c.acceptance_required,
    ),
    Agreement("AllowedPrincipals", "allowed_principals", _csv, lambda c: c.allowed_principals),
    Agreement("SupportedRegions", "supported_regions", _csv, lambda c: c.supported_regions),
    Agreement(
        "MaxBrokerRemovalRatio",
        "guard.max_broker_removal_ratio",
        float,
        lambda c: c.guard.max_broker_removal_ratio,
    ),
)
# Every stack parameter doctor reads (a unit test holds them to template.yaml).
READ_PARAMETERS = frozenset(
    {
        "ClusterArn",
        "MoreClusterArns",
        "KafkaAdminSubnetIds",
        "KafkaAdminVpcId",
        "KafkaAdminBrokerCidr",
        *(a.parameter for a in AGREEMENTS),
    }
)


def check_stack(facts: Facts) -> list[CheckResult]:
    stack = facts.stack
    if stack is None:
        return []
    if isinstance(stack, Unread):
        return [
            failed(
                STACK_CHECK,
                f"cannot read the stack: {stack}",
                "deploy the stack (sam deploy), or check --stack-name and the Region (the "
                "cluster's); reading it needs cloudformation:DescribeStacks",
                PROJECT_TEMPLATE,
            ),
            *(not_checked(c, "the stack could not be read") for c in CHECKS[1:]),
        ]
    return [
        _stack(stack, facts.cluster_arn or ""),
        _document(stack, facts),
        _kafka_admin(stack, facts),
    ]


def _stack(stack: StackFacts, cluster_arn: str) -> CheckResult:
    params = stack.parameters
    primary = params.get("ClusterArn", "")
    more = _csv(params.get("MoreClusterArns", ""))
    problems: list[tuple[Outcome, str, str]] = []
    if stack.status in GONE or stack.status.endswith("FAILED"):
        problems.append(
            (
                Outcome.FAIL,
                f"stack {stack.name} is {stack.status}",
                "deploy it again (sam deploy) once the cause in its events is fixed",
            )
        )
    elif stack.status not in USABLE:
        problems.append(
            (
                Outcome.WARN,
                f"stack {stack.name} is {stack.status}",
                "run doctor again once the stack operation has finished",
            )
        )
    if cluster_arn not in (primary, *more):
        problems.append(
            (
                Outcome.FAIL,
                f"stack {stack.name} serves {primary or 'no cluster'}"
                + (f" and {', '.join(more)}" if more else "")
                + f", not {cluster_arn}: its functions may not read this cluster",
                f"add {cluster_arn} to MoreClusterArns (sam deploy --parameter-overrides)",
            )
        )
    if not problems:
        return passed(
            STACK_CHECK,
            f"stack {stack.name} is {stack.status} and serves the cluster"
            + (" (ClusterArn)" if cluster_arn == primary else " (MoreClusterArns)"),
            PROJECT_TEMPLATE,
        )
    worst = Outcome.FAIL if any(o is Outcome.FAIL for o, _, _ in problems) else Outcome.WARN
    return CheckResult(
        STACK_CHECK,
        worst,
        "; ".join(d for _, d, _ in problems),
        "; ".join(f for _, _, f in problems),
        PROJECT_TEMPLATE,
    )


def _differences(a: Mapping[str, Any], b: Mapping[str, Any], path: str = "") -> list[str]:
    names = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            names.extend(_differences(left, right, f"{path}{key}."))
        elif left != right:
            names.append(f"{path}{key}")
    return names


def _document(stack: StackFacts, facts: Facts) -> CheckResult:
    stored = stack.stored
    put = (
        f"aws ssm put-parameter --overwrite --type String --name {stack.parameter_name} "
        "--value file://DOCUMENT"
    )
    if isinstance(stored, Unread):
        return failed(
            DOCUMENT_CHECK,
            f"cannot read {stack.parameter_name}: {stored}",
            "allow ssm:GetParameter",
        )
    if stored is None:
        return failed(
            DOCUMENT_CHECK,
            stack.stored_problem or f"no document at {stack.parameter_name}",
            f"store the cluster's document: {put}",
            PROJECT_TEMPLATE,
        )
    warnings: list[tuple[str, str]] = []
    if stored.cluster_arn == stack.parameters.get("ClusterArn"):
        for a in AGREEMENTS:
            raw = stack.parameters.get(a.parameter)
            if raw is None:
                continue
            try:
                wanted = a.of_parameter(raw)
            except ValueError:
                wanted = raw
            have = a.of_config(stored)
            if wanted != have:
                warnings.append(
                    (
                        f"{a.field} is {have!r} in the stored document but the stack's "
                        f"{a.parameter} gives {wanted!r}: the next stack update that changes "
                        "the document rewrites it from the parameters",
                        f"set {a.parameter} to match (sam deploy --parameter-overrides) or "
                        "the document to the parameter",
                    )
                )
    if facts.config_from_file and facts.config is not None:
        differ = _differences(to_data(facts.config), to_data(stored))
        if differ:
            warnings.append(
                (
                    f"{facts.config_source} differs from the stored document in "
                    f"{', '.join(differ)}: the stack reconciles the stored one",
                    f"to make the file the stack's configuration: {put}",
                )
            )
    if warnings:
        return warned(
            DOCUMENT_CHECK,
            "; ".join(d for d, _ in warnings),
            "; ".join(f for _, f in warnings),
            PROJECT_TEMPLATE,
        )
    return passed(
        DOCUMENT_CHECK,
        f"stored at {stack.parameter_name}, agrees with the stack's parameters",
        PROJECT_TEMPLATE,
    )


def _kafka_admin(stack: StackFacts, facts: Facts) -> CheckResult:
    document = stack.stored if isinstance(stack.stored, ClusterConfig) else facts.config
    if document is None:
        return not_checked(KAFKA_ADMIN_CHECK, "no configuration")
    mode = document.advertised_listeners.mode
    params = stack.parameters
    subnet_ids = _csv(params.get("KafkaAdminSubnetIds", ""))
    if mode != "broker-override":
        return passed(KAFKA_ADMIN_CHECK, f"not needed (advertised_listeners.mode {mode})")
    deploy = "sam deploy --parameter-overrides"
    if not subnet_ids:
        return failed(
            KAFKA_ADMIN_CHECK,
            "advertised_listeners.mode is broker-override but KafkaAdminSubnetIds is empty: "
            "the stack has no Kafka admin function and the reconciler refuses the cluster",
            f"{deploy} KafkaAdminSubnetIds=... KafkaAdminVpcId=... KafkaAdminBrokerCidr=... "
            "(subnets of the cluster's VPC), or use mode msk-configuration",
            PROJECT_TEMPLATE,
        )
    cluster = facts.cluster
    if not isinstance(cluster, ClusterFacts):
        return not_checked(KAFKA_ADMIN_CHECK, "the cluster could not be read")
    if isinstance(facts.subnets, Unread):
        return not_checked(KAFKA_ADMIN_CHECK, "the subnets could not be read (see subnets)")
    vpc = cluster.inventory.vpc_id
    problems: list[str] = []
    fixes: list[str] = []
    if params.get("KafkaAdminVpcId", "") != vpc:
        problems.append(f"KafkaAdminVpcId is {params.get('KafkaAdminVpcId')!r}, not {vpc}")
        fixes.append(f"{deploy} KafkaAdminVpcId={vpc}")
    outside = [s for s in subnet_ids if s not in facts.subnets or facts.subnets[s].vpc_id != vpc]
    if outside:
        problems.append(f"KafkaAdminSubnetIds {', '.join(outside)} are not subnets of {vpc}")
        fixes.append(f"{deploy} KafkaAdminSubnetIds=<private subnets of {vpc}>")
    cidr = params.get("KafkaAdminBrokerCidr", "")
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        problems.append(f"KafkaAdminBrokerCidr {cidr!r} is not a CIDR")
        fixes.append(f"{deploy} KafkaAdminBrokerCidr=<the VPC's CIDR>")
    else:
        beyond = [
            f"{b.broker_id} ({b.ip})"
            for b in cluster.inventory.brokers
            if b.ip and ipaddress.ip_address(b.ip) not in network
        ]
        if beyond:
            problems.append(
                f"KafkaAdminBrokerCidr {cidr} does not hold broker(s) {', '.join(beyond)}: "
                "the function cannot reach them"
            )
            fixes.append(f"{deploy} KafkaAdminBrokerCidr=<the VPC's CIDR>")
    if problems:
        return failed(KAFKA_ADMIN_CHECK, "; ".join(problems), "; ".join(fixes), PROJECT_TEMPLATE)
    return passed(
        KAFKA_ADMIN_CHECK,
        f"broker-override: the Kafka admin function runs in {', '.join(subnet_ids)} of {vpc} "
        f"and reaches every broker through {cidr}",
        PROJECT_TEMPLATE,
    )
