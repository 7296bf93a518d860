"""Every check, in the order the table shows them: what the rest depends on
first (configuration, cluster), then the account's prerequisites."""

from __future__ import annotations

from msk_privatelink.doctor.checks.cloudtrail import check_cloudtrail
from msk_privatelink.doctor.checks.cluster import check_cluster, check_configuration
from msk_privatelink.doctor.checks.network import check_security_groups, check_subnets
from msk_privatelink.doctor.checks.provider_zone import check_provider_zone
from msk_privatelink.doctor.checks.quotas import check_quotas
from msk_privatelink.doctor.checks.schemes import check_auth_schemes
from msk_privatelink.doctor.checks.stack import check_stack
from msk_privatelink.doctor.facts import Facts
from msk_privatelink.doctor.result import CheckResult, not_checked


def run_checks(facts: Facts) -> list[CheckResult]:
    results = [check_configuration(facts), check_cluster(facts)]
    if facts.trails is None or facts.region is None:
        results.append(not_checked("cloudtrail", "no cluster Region (see configuration)"))
    else:
        results.append(check_cloudtrail(facts.region, facts.trails))
    results += [
        check_auth_schemes(facts.config, facts.cluster),
        check_subnets(facts.config, facts.cluster, facts.subnets),
        check_security_groups(facts.config, facts.cluster, facts.subnets, facts.ingress),
        check_provider_zone(facts.config),
        *check_quotas(facts.config, facts.cluster, facts.actual, facts.limits),
        *check_stack(facts),
    ]
    return results
