"""Network Load Balancer ARNs as Elastic Load Balancing writes them.

moto 5.2.5 gives every load balancer an Application Load Balancer ARN
(``loadbalancer/app/<name>/<id>``, and its listeners ``listener/app/...``);
AWS writes ``loadbalancer/net/...`` and ``listener/net/...`` for a Network Load
Balancer (Elastic Load Balancing API Reference, "LoadBalancer";
Service Authorization Reference, resource types ``loadbalancer/net/`` and
``listener/net``). IAM policies that name NLB ARNs only match the ``net``
form, so the embedded AWS re-keys a network load balancer, and its tags,
under the ARN AWS would give it.

moto is imported inside the function: the module must import without moto.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.Lock()
_INSTALLED: set[str] = set()


def install() -> None:
    """Wrap moto's CreateLoadBalancer once per process (idempotent)."""
    with _LOCK:
        if _INSTALLED:
            return
        from moto.elbv2.models import ELBv2Backend

        original = ELBv2Backend.create_load_balancer

        @functools.wraps(original)
        def create_load_balancer(self: Any, *args: Any, **kwargs: Any) -> Any:
            balancer = original(self, *args, **kwargs)
            if balancer.type == "network" and "/app/" in balancer.arn:
                old = balancer.arn
                new = old.replace(":loadbalancer/app/", ":loadbalancer/net/", 1)
                self.load_balancers[new] = self.load_balancers.pop(old)
                balancer.arn = new
                tags = self.tagging_service.tags.pop(old, None)
                if tags is not None:
                    self.tagging_service.tags[new] = tags
            return balancer

        ELBv2Backend.create_load_balancer = create_load_balancer  # type: ignore[method-assign]
        _INSTALLED.add("create_load_balancer")
