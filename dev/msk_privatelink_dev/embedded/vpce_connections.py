"""Endpoint connections of VPC endpoint services, which moto does not serve.

moto 5.2.5 lacks DescribeVpcEndpointConnections, AcceptVpcEndpointConnections
and RejectVpcEndpointConnections, and makes every interface endpoint
`available` at once. This simulator answers the three calls through botocore
`before-call` handlers (like `inprocess.py` does for Kafka) from moto's own
EC2 backends: a connection is an interface endpoint, in any account and
Region, whose service name is one of the caller's endpoint services. A
connection seen for the first time is `pendingAcceptance` when its service
requires acceptance (and the consumer's endpoint shows that state too),
otherwise `available`; accepting makes both `available`, rejecting makes
both `rejected`. Requests and answers are validated against botocore's EC2
model, so the simulator cannot drift from the real API.

moto is imported inside the functions: this package ships in no Lambda layer,
but the module must import without moto all the same.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
import botocore.handlers
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

from msk_privatelink_dev.embedded.moto_accounts import account_id_for

if TYPE_CHECKING:
    from moto.ec2.models import EC2Backend

OPERATIONS = (
    "DescribeVpcEndpointConnections",
    "AcceptVpcEndpointConnections",
    "RejectVpcEndpointConnections",
)
_PARAMS_KEY = "embedded_vpce_params"
_AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
# Endpoint states that no longer count as a connection.
_GONE = frozenset({"deleted", "deleting", "failed", "expired"})


class SimulatorDriftError(AssertionError):
    """The simulator produced something botocore's model does not allow."""


class Ec2ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@cache
def ec2_service_model() -> ServiceModel:
    return ServiceModel(create_loader().load_service_model("ec2", "service-2"), "ec2")


def _problems(value: dict[str, Any], shape: Shape | None) -> str | None:
    if shape is None:
        return None
    report = ParamValidator().validate(value, shape)
    return report.generate_report() if report.has_errors() else None


class ConnectionsSimulator:
    """Connection states by (service id, endpoint id); endpoints live in moto."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], str] = {}
        self._created: dict[tuple[str, str], datetime] = {}

    def reset(self) -> None:
        with self._lock:
            self._states.clear()
            self._created.clear()

    # -- the three operations ------------------------------------------------
    def handle(
        self, operation: str, params: dict[str, Any], account_id: str, region: str
    ) -> dict[str, Any]:
        model = ec2_service_model().operation_model(operation)
        problem = _problems(params, model.input_shape)
        if problem:
            raise Ec2ApiError("InvalidParameterValue", problem)
        with self._lock:
            if operation == "DescribeVpcEndpointConnections":
                result = self._describe(params, account_id, region)
            else:
                target = "available" if operation.startswith("Accept") else "rejected"
                result = self._decide(params, account_id, region, target)
        problem = _problems(result, model.output_shape)
        if problem:
            raise SimulatorDriftError(f"simulated {operation} does not fit the model: {problem}")
        return result

    def _describe(self, params: dict[str, Any], account_id: str, region: str) -> dict[str, Any]:
        filters = {f["Name"]: set(f.get("Values", [])) for f in params.get("Filters", [])}
        unknown = set(filters) - {
            "service-id",
            "vpc-endpoint-owner",
            "vpc-endpoint-id",
            "vpc-endpoint-state",
        }
        if unknown:
            raise Ec2ApiError("InvalidParameterValue", f"unknown filter(s) {sorted(unknown)}")
        rows = []
        for service in _ec2(account_id, region).configurations.values():
            if "service-id" in filters and service.id not in filters["service-id"]:
                continue
            for owner, endpoint in self._connections(service):
                row = self._row(service, owner, endpoint)
                if (
                    ("vpc-endpoint-owner" in filters and owner not in filters["vpc-endpoint-owner"])
                    or (
                        "vpc-endpoint-id" in filters
                        and endpoint.id not in filters["vpc-endpoint-id"]
                    )
                    or (
                        "vpc-endpoint-state" in filters
                        and row["VpcEndpointState"] not in filters["vpc-endpoint-state"]
                    )
                ):
                    continue
                rows.append(row)
        rows.sort(key=lambda r: (r["ServiceId"], r["VpcEndpointId"]))
        # One page: MaxResults/NextToken are accepted, everything fits.
        return {"VpcEndpointConnections": rows}

    def _decide(
        self, params: dict[str, Any], account_id: str, region: str, target: str
    ) -> dict[str, Any]:
        service_id = params["ServiceId"]
        service = _ec2(account_id, region).configurations.get(service_id)
        if service is None:
            raise Ec2ApiError(
                "InvalidVpcEndpointServiceId.NotFound",
                f"The service ID '{service_id}' does not exist",
            )
        connected = {endpoint.id: endpoint for _, endpoint in self._connections(service)}
        unsuccessful = []
        for endpoint_id in params["VpcEndpointIds"]:
            endpoint = connected.get(endpoint_id)
            key = (service.id, endpoint_id)
            current = self._states.get(key)
            if endpoint is None:
                unsuccessful.append(
                    _failure(endpoint_id, "InvalidVpcEndpoint.NotFound", "no such connection")
                )
            elif target == "available" and current not in ("pendingAcceptance", "available"):
                unsuccessful.append(
                    _failure(
                        endpoint_id,
                        "InvalidState",
                        f"Endpoint {endpoint_id} is in state {current} and cannot be accepted",
                    )
                )
            else:
                self._states[key] = target
                endpoint.state = target
        return {"Unsuccessful": unsuccessful}

    # -- state ---------------------------------------------------------------
    def _connections(self, service: Any) -> list[tuple[str, Any]]:
        found = []
        for owner, endpoint in _interface_endpoints(service.service_name):
            key = (service.id, endpoint.id)
            if key not in self._states:
                if endpoint.state in _GONE:
                    continue
                first = "pendingAcceptance" if service.acceptance_required else "available"
                self._states[key] = first
                self._created[key] = datetime.now(UTC)
                endpoint.state = first
            elif endpoint.state in _GONE:
                continue
            found.append((owner, endpoint))
        return found

    def _row(self, service: Any, owner: str, endpoint: Any) -> dict[str, Any]:
        key = (service.id, endpoint.id)
        return {
            "ServiceId": service.id,
            "VpcEndpointId": endpoint.id,
            "VpcEndpointOwner": owner,
            "VpcEndpointState": self._states[key],
            "CreationTimestamp": self._created[key],
            "NetworkLoadBalancerArns": list(service.network_load_balancer_arns),
            "IpAddressType": "ipv4",
            "VpcEndpointConnectionId": f"vpce-con-{endpoint.id.removeprefix('vpce-')}",
        }


def _failure(resource_id: str, code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}, "ResourceId": resource_id}


def _ec2(account_id: str, region: str) -> EC2Backend:
    from moto.backends import get_backend

    return get_backend("ec2")[account_id][region]


def _interface_endpoints(service_name: str) -> list[tuple[str, Any]]:
    """Endpoints to `service_name` in every account and Region moto has touched."""
    from moto.backends import get_backend

    found = []
    # dict.items: only backends that exist, without creating new ones.
    for account_id, regions in dict.items(get_backend("ec2")):
        for backend in dict.values(regions):
            for endpoint in backend.vpc_end_points.values():
                if endpoint.service_name == service_name:
                    found.append((account_id, endpoint))
    return found


# ---------------------------------------------------------------------------
# botocore wiring
# ---------------------------------------------------------------------------
_install_lock = threading.Lock()
_current: ConnectionsSimulator | None = None


def activate(simulator: ConnectionsSimulator) -> None:
    global _current  # noqa: PLW0603 - one embedded AWS per process, by design
    with _install_lock:
        _current = simulator
    install()


def deactivate() -> None:
    global _current  # noqa: PLW0603
    with _install_lock:
        _current = None


def current() -> ConnectionsSimulator | None:
    return _current


def _handlers() -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for name in OPERATIONS:
        pairs.append((f"before-parameter-build.ec2.{name}", capture_params))
        pairs.append((f"before-call.ec2.{name}", answer_call))
    return pairs


def install() -> None:
    with _install_lock:
        for event, handler in _handlers():
            if (event, handler) not in botocore.handlers.BUILTIN_HANDLERS:
                botocore.handlers.BUILTIN_HANDLERS.append((event, handler))
        if boto3.DEFAULT_SESSION is not None:
            session = boto3.DEFAULT_SESSION._session
            for event, handler in _handlers():
                session.register(event, handler, unique_id=event)


def capture_params(**event: Any) -> None:
    if _current is not None:
        event["context"][_PARAMS_KEY] = dict(event["params"])


def answer_call(**event: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    simulator = _current
    url = str(event["params"].get("url", ""))
    host = url.split("/")[2] if "//" in url else ""
    if simulator is None or not host.split(":")[0].endswith(_AWS_HOST_SUFFIXES):
        return None
    model: OperationModel = event["model"]
    params = event["context"].pop(_PARAMS_KEY, None)
    if params is None:
        raise RuntimeError(f"ec2 {model.name}: parameters were not captured before the call")
    signer = event["request_signer"]
    credentials = getattr(signer, "_credentials", None)
    access_key = credentials.get_frozen_credentials().access_key if credentials else None
    region = event["context"].get("client_region") or signer.region_name
    try:
        parsed = simulator.handle(model.name, params, account_id_for(access_key), region)
        status = 200
    except Ec2ApiError as error:
        parsed = {"Error": {"Code": error.code, "Message": error.message}}
        status = 400
    parsed["ResponseMetadata"] = {
        "RequestId": "embedded-vpce-connections",
        "HTTPStatusCode": status,
        "HTTPHeaders": {},
        "RetryAttempts": 0,
    }
    return AWSResponse(url, status, HTTPHeaders(), None), parsed
