"""EC2's client-token idempotency for CreateVpcEndpoint, which moto lacks.

moto 5.2.5 stores ``ClientToken`` on the endpoint but creates a new endpoint
for every call. EC2 answers a token it has seen in the account and Region
(with the same parameters) with the endpoint that token created, as that
endpoint is now: deleted, rejected and failed included ("the result might
contain updated information", Ensuring idempotency in Amazon EC2 API
requests). The same token with another VPC, service name, endpoint type,
subnets or security groups is ``IdempotentParameterMismatch``. A consumer
that reused a token after the provider rejected its endpoint would get the
rejected endpoint back on AWS and a new one on plain moto; with this model
the demo and the tests see what AWS does.

The model wraps moto's ``VPCBackend.create_vpc_endpoint``, so it applies to
in-process calls and to moto's HTTP server alike. Overlapping users (an
EmbeddedAws and an HTTP server in the same process) each activate their own
`ClientTokens`; the wrapper is installed while at least one is active, and
every active one records the endpoints answered from a reused token.

moto is imported inside the functions: the module must import without moto.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MISMATCH_CODE = "IdempotentParameterMismatch"
# EC2's own wording for this error (RunInstances and the other idempotent calls).
MISMATCH_MESSAGE = (
    "Arguments on this idempotent request are inconsistent with arguments used in "
    "previous request(s)."
)
# EC2 makes a Gateway endpoint when the request names no type.
_DEFAULT_ENDPOINT_TYPE = "gateway"


@dataclass(frozen=True)
class EndpointRequest:
    """The parameters EC2 compares when a client token comes back."""

    vpc_id: str
    service_name: str
    endpoint_type: str
    subnet_ids: frozenset[str]
    security_group_ids: frozenset[str]

    @classmethod
    def of(
        cls,
        vpc_id: str,
        service_name: str,
        endpoint_type: str | None,
        subnet_ids: Iterable[str] | None,
        security_group_ids: Iterable[str] | None,
    ) -> EndpointRequest:
        return cls(
            vpc_id=vpc_id,
            service_name=service_name,
            endpoint_type=(endpoint_type or _DEFAULT_ENDPOINT_TYPE).lower(),
            subnet_ids=frozenset(subnet_ids or ()),
            security_group_ids=frozenset(security_group_ids or ()),
        )


class ClientTokens:
    """One user's view of the model: active between `activate()` and `deactivate()`.

    `reused` lists, in order, the ids of the endpoints answered from a token
    seen before while this instance was active."""

    def __init__(self) -> None:
        self.reused: list[str] = []

    @property
    def active(self) -> bool:
        with _lock:
            return self in _active

    def activate(self) -> None:
        with _lock:
            if self in _active:
                raise RuntimeError("this ClientTokens model is already active")
            if not _active:
                _install()
            _active.append(self)

    def deactivate(self) -> None:
        """Idempotent: a second call (or one without `activate`) does nothing."""
        with _lock:
            if self not in _active:
                return
            _active.remove(self)
            if not _active:
                _uninstall()

    def clear(self) -> None:
        with _lock:
            self.reused.clear()


# One lock for the registry and the check-then-create, so two threads (moto's
# Step Functions engine, the HTTP server's request threads) sending the same
# token create one endpoint between them.
_lock = threading.RLock()
_active: list[ClientTokens] = []
_restore: Callable[[], None] | None = None
# The request each endpoint was created by: EC2 compares a repeated token with
# that request, not with the endpoint after ModifyVpcEndpoint changed it. Weak
# keys: moto's reset drops its endpoints, and their requests go with them.
_requests: weakref.WeakKeyDictionary[Any, EndpointRequest] = weakref.WeakKeyDictionary()


def active_models() -> tuple[ClientTokens, ...]:
    with _lock:
        return tuple(_active)


def _install() -> None:
    global _restore  # noqa: PLW0603 - one patch of moto's class per process
    from moto.ec2.models.vpcs import VPCBackend

    original = VPCBackend.__dict__["create_vpc_endpoint"]
    wrapper = _wrap(original)
    VPCBackend.create_vpc_endpoint = wrapper  # type: ignore[method-assign]

    def restore() -> None:
        # Someone patched over us meanwhile: leave theirs in place; ours
        # passes calls straight through while no model is active.
        if VPCBackend.__dict__.get("create_vpc_endpoint") is wrapper:
            VPCBackend.create_vpc_endpoint = original  # type: ignore[method-assign]

    _restore = restore


def _uninstall() -> None:
    global _restore  # noqa: PLW0603
    if _restore is not None:
        _restore()
        _restore = None


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create_vpc_endpoint(
        self: Any,
        vpc_id: str,
        service_name: str,
        endpoint_type: str | None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        token = kwargs.get("client_token")
        with _lock:
            if not _active or not token:
                return original(self, vpc_id, service_name, endpoint_type, *args, **kwargs)
            request = EndpointRequest.of(
                vpc_id,
                service_name,
                endpoint_type,
                kwargs.get("subnet_ids"),
                kwargs.get("security_group_ids"),
            )
            seen = _endpoint_of(self, token)
            if seen is not None:
                if _request_of(seen) != request:
                    from moto.ec2.exceptions import EC2ClientError

                    raise EC2ClientError(MISMATCH_CODE, MISMATCH_MESSAGE)
                for model in _active:
                    model.reused.append(seen.id)
                return seen
            created = original(self, vpc_id, service_name, endpoint_type, *args, **kwargs)
            _requests[created] = request
            return created

    return create_vpc_endpoint


def _endpoint_of(backend: Any, token: str) -> Any:
    """The endpoint this account and Region created for `token`, if any.
    moto keeps deleted endpoints (state `deleted`), as EC2 keeps the token."""
    for endpoint in backend.vpc_end_points.values():
        if endpoint.client_token == token:
            return endpoint
    return None


def _request_of(endpoint: Any) -> EndpointRequest:
    recorded = _requests.get(endpoint)
    if recorded is not None:
        return recorded
    # Created before the model was active: the endpoint's own fields are the
    # closest record of its request.
    return EndpointRequest.of(
        endpoint.vpc_id,
        endpoint.service_name,
        endpoint.vpc_endpoint_type,
        endpoint.subnet_ids,
        endpoint.security_group_ids,
    )
