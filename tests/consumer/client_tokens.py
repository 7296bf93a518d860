"""EC2's client-token idempotency for CreateVpcEndpoint, which moto lacks.

moto 5.2.5 stores ``ClientToken`` on the endpoint but creates a new endpoint
for every call. EC2 answers a token it has seen (with the same parameters)
with the endpoint that token created, as that endpoint is now: deleted,
rejected and failed included ("the result might contain updated
information", Ensuring idempotency in Amazon EC2 API requests); the same
token with other parameters is ``IdempotentParameterMismatch``. A consumer
that reused a token after the provider rejected its endpoint would get the
rejected endpoint back on AWS, and a new one on moto: modelled here so the
tests see what AWS does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def idempotent_endpoint_creates() -> Iterator[list[str]]:
    """While active, a repeated token returns its first endpoint. Yields the
    ids of the endpoints answered that way (for assertions)."""
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.vpcs import VPCBackend

    original = VPCBackend.create_vpc_endpoint
    reused: list[str] = []

    def create_vpc_endpoint(
        self: Any, vpc_id: str, service_name: str, *args: Any, **kwargs: Any
    ) -> Any:
        token = kwargs.get("client_token")
        if token:
            for endpoint in self.vpc_end_points.values():
                if endpoint.client_token != token:
                    continue
                if endpoint.vpc_id != vpc_id or endpoint.service_name != service_name:
                    raise EC2ClientError(
                        "IdempotentParameterMismatch",
                        f"client token {token} was used with other parameters",
                    )
                reused.append(endpoint.id)
                return endpoint
        return original(self, vpc_id, service_name, *args, **kwargs)

    VPCBackend.create_vpc_endpoint = create_vpc_endpoint  # type: ignore[method-assign]
    try:
        yield reused
    finally:
        VPCBackend.create_vpc_endpoint = original  # type: ignore[method-assign]
