"""Elastic Load Balancing account quotas as AWS documents them.

moto 5.2.5 answers DescribeAccountLimits with fixed values from an older
picture of AWS (20 Network Load Balancers, 200 targets per Network Load
Balancer). The embedded AWS answers the defaults of "Quotas for your Network
Load Balancers" instead, under the names the Elastic Load Balancing API
Reference ("Limit") gives, and lets a test lower one (``set_limit``) as an
account whose quota differs would. CreateLoadBalancer beyond the
"network-load-balancers" value fails with TooManyLoadBalancers, the error
code botocore's elbv2 model lists for it.

moto is imported inside the functions: the module must import without moto.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.Lock()
_INSTALLED: set[str] = set()

# The documented defaults (Elastic Load Balancing, "Quotas for your Network
# Load Balancers"), and the Application Load Balancer ones moto also lists.
DOCUMENTED: dict[str, int] = {
    "network-load-balancers": 50,
    "listeners-per-network-load-balancer": 50,
    "targets-per-network-load-balancer": 3000,
    "targets-per-availability-zone-per-network-load-balancer": 500,
    "target-groups": 3000,
    "application-load-balancers": 50,
    "listeners-per-application-load-balancer": 50,
    "targets-per-application-load-balancer": 1000,
    "rules-per-application-load-balancer": 100,
}
# (account, Region) -> name -> value, set by tests; cleared with the mock.
_OVERRIDES: dict[tuple[str, str], dict[str, int]] = {}


def set_limit(account_id: str, region: str, name: str, value: int) -> None:
    if name not in DOCUMENTED:
        raise ValueError(f"{name!r} is not a limit DescribeAccountLimits names here")
    _OVERRIDES.setdefault((account_id, region), {})[name] = value


def reset() -> None:
    _OVERRIDES.clear()


def limits(account_id: str, region: str) -> dict[str, int]:
    return {**DOCUMENTED, **_OVERRIDES.get((account_id, region), {})}


def install() -> None:
    """Wrap moto's DescribeAccountLimits and CreateLoadBalancer once per process."""
    with _LOCK:
        if _INSTALLED:
            return
        from moto.core.responses import ActionResult
        from moto.elbv2.exceptions import ELBClientError
        from moto.elbv2.models import ELBv2Backend
        from moto.elbv2.responses import ELBV2Response

        def describe_account_limits(self: Any) -> Any:
            answer = limits(self.current_account, self.region)
            return ActionResult({"Limits": [{"Name": k, "Max": str(v)} for k, v in answer.items()]})

        ELBV2Response.describe_account_limits = describe_account_limits  # type: ignore[method-assign]

        original = ELBv2Backend.create_load_balancer

        @functools.wraps(original)
        def create_load_balancer(self: Any, *args: Any, **kwargs: Any) -> Any:
            name = kwargs.get("name", args[0] if args else None)
            again = any(lb.name == name for lb in self.load_balancers.values())
            if kwargs.get("loadbalancer_type") == "network" and not again:
                most = limits(self.account_id, self.region_name)["network-load-balancers"]
                existing = sum(1 for lb in self.load_balancers.values() if lb.type == "network")
                if existing >= most:
                    raise ELBClientError(
                        "TooManyLoadBalancers",
                        "You've reached the limit on the number of load balancers for your "
                        "AWS account.",
                    )
            return original(self, *args, **kwargs)

        ELBv2Backend.create_load_balancer = create_load_balancer  # type: ignore[method-assign]
        _INSTALLED.add("elb_limits")
