"""Check 3: the auth schemes the configuration asks for are enabled on the
cluster (the same resolution the planner makes, reconcile/desired_common.py),
and broker-override's admin scheme is one of them.

Severity: fail. The planner refuses a scheme the cluster does not enable,
so no reconcile would run.
"""

from __future__ import annotations

from msk_privatelink.doctor.facts import ClusterFacts, Unread
from msk_privatelink.doctor.result import CheckResult, failed, not_checked, passed
from msk_privatelink.doctor.sources import MSK_PORTS_PAGE
from msk_privatelink.kernel.errors import ConfigError, UnsupportedClusterError
from msk_privatelink.reconcile.config import ClusterConfig
from msk_privatelink.reconcile.desired_common import resolve_schemes

CHECK = "auth-schemes"
FIX = (
    "enable the scheme on the cluster (aws kafka update-security) or name only enabled "
    "schemes in auth_schemes (omit it for every enabled scheme)"
)


def check_auth_schemes(
    config: ClusterConfig | None, cluster: ClusterFacts | Unread | None
) -> CheckResult:
    if config is None:
        return not_checked(CHECK, "no configuration")
    if not isinstance(cluster, ClusterFacts):
        return not_checked(CHECK, "the cluster could not be read")
    inventory = cluster.inventory
    enabled = ", ".join(sorted(s.value for s in inventory.enabled_schemes)) or "none"
    try:
        schemes = resolve_schemes(config, inventory)
    except (ConfigError, UnsupportedClusterError) as exc:
        return failed(CHECK, str(exc), FIX, MSK_PORTS_PAGE)
    admin = config.advertised_listeners.admin_auth
    override = config.advertised_listeners.mode == "broker-override"
    if override and admin is not None and admin not in inventory.enabled_schemes:
        return failed(
            CHECK,
            f"advertised_listeners.admin_auth {admin.value} is not enabled on the cluster "
            f"(enabled: {enabled})",
            "set admin_auth to an enabled scheme, or enable it on the cluster",
            MSK_PORTS_PAGE,
        )
    exposed = ", ".join(f"{s.value} ({s.broker_port})" for s in schemes)
    return passed(CHECK, f"exposes {exposed}; the cluster enables {enabled}", MSK_PORTS_PAGE)
