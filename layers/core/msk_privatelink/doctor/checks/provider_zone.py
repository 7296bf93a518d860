"""Check: shared-nlb's provider hosted zone goes with re-advertised listeners.

The zone answers every broker name in the cluster VPC with the NLB
(docs/architecture.md, "provider hosted zone"). While brokers still
advertise their native ports (advertised_listeners.mode none), a client in
that VPC connecting to a broker's native port reaches the bootstrap
listener instead: any broker, wrong for a per-broker connection.

Severity: warn. Nothing fails to converge; clients in the cluster VPC may
talk to the wrong broker until listeners are re-advertised or the zone is
turned off. A stack deployed with Pattern=shared-nlb and the default
AdvertisedListenersMode (none) stores exactly this combination.
"""

from __future__ import annotations

from msk_privatelink.doctor.result import CheckResult, not_checked, passed, warned
from msk_privatelink.reconcile.config import ClusterConfig

CHECK = "provider-zone"
FIX = (
    "re-advertise the listeners (advertised_listeners.mode msk-configuration or "
    "broker-override; stack parameter AdvertisedListenersMode), or set "
    "shared_nlb.provider_zone: false while brokers advertise their native ports"
)


def check_provider_zone(config: ClusterConfig | None) -> CheckResult:
    if config is None:
        return not_checked(CHECK, "no configuration")
    if config.pattern != "shared-nlb":
        return passed(CHECK, "nlb-per-broker: no provider hosted zone")
    mode = config.advertised_listeners.mode
    if not config.shared_nlb.provider_zone:
        return passed(CHECK, f"off (advertised listeners: {mode})")
    if mode == "none":
        return warned(
            CHECK,
            "the provider zone sends every broker name in the cluster VPC to the NLB while "
            "brokers still advertise their native ports (advertised_listeners.mode none): a "
            "client there connecting to a broker's native port reaches the bootstrap "
            "listener, which is any broker",
            FIX,
        )
    return passed(CHECK, f"on, with advertised listeners by {mode}")
