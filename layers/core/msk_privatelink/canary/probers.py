"""The prober functions: one small Lambda function per consumer network,
created, kept in line and removed by the canary, and invoked with the
prober contract (connectivity/prober.py).

Each function takes its code from the core layer (its handler is
``msk_privatelink.connectivity.prober_function.lambda_handler``); its own
package is a one-file placeholder, because CreateFunction needs one. Every
function carries the ownership tag and the network digest; only functions
with the canary's name prefix *and* the ownership tag are ever changed or
deleted.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from msk_privatelink import PROJECT
from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.canary.plan import ProberNetwork
from msk_privatelink.kernel.errors import OwnershipConflictError, TerminalError
from msk_privatelink.kernel.naming import TAG_MANAGED_BY

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

HANDLER = "msk_privatelink.connectivity.prober_function.lambda_handler"
RUNTIME = "python3.13"
ARCHITECTURE: Literal["arm64"] = "arm64"
TAG_NETWORK = "msk-privatelink:prober-network"
# The prober's answer must leave before its timeout: its deadline is cut to
# what the invocation has left (connectivity/prober.py).
DEFAULT_TIMEOUT = 90
DEFAULT_MEMORY = 256

ProberState = Literal["ready", "starting"]


class ProberFailedError(TerminalError):
    """The prober function ran and failed (its error, not a broker's)."""


@dataclass(frozen=True)
class ProberSettings:
    role_arn: str
    layer_arn: str
    name_prefix: str
    timeout: int = DEFAULT_TIMEOUT
    memory: int = DEFAULT_MEMORY


def placeholder_package() -> bytes:
    """The function's own package: the code is the layer's."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "README.txt",
            f"{PROJECT} connectivity prober: the handler ({HANDLER}) comes from the core layer.\n",
        )
    return buffer.getvalue()


class ProberFunctions:
    def __init__(self, client: LambdaClient, settings: ProberSettings) -> None:
        self._lambda = client
        self._settings = settings

    def name(self, network: ProberNetwork) -> str:
        return network.function_name(self._settings.name_prefix)

    def _desired(self, network: ProberNetwork) -> dict[str, Any]:
        s = self._settings
        return {
            "Role": s.role_arn,
            "Handler": HANDLER,
            "Runtime": RUNTIME,
            "Timeout": s.timeout,
            "MemorySize": s.memory,
            "Layers": [s.layer_arn],
            "VpcConfig": {
                "SubnetIds": list(network.subnet_ids),
                "SecurityGroupIds": list(network.security_group_ids),
            },
            "Description": f"{PROJECT} connectivity prober for {network.vpc_id}",
        }

    def ensure(self, network: ProberNetwork) -> ProberState:
        """The network's prober exists and is configured as it should be;
        ``starting`` while Lambda still prepares it (a VPC function's first
        network interface takes a while): probe it next time."""
        name = self.name(network)
        desired = self._desired(network)
        try:
            current = self._lambda.get_function(FunctionName=name)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise translate(exc, f"GetFunction {name}") from exc
            self._create(name, desired)
            return "starting"
        tags = current.get("Tags", {})
        if tags.get(TAG_MANAGED_BY) != PROJECT:
            raise OwnershipConflictError(
                f"function {name} exists but is not {PROJECT}'s (no ownership tag); "
                "rename it or change the canary's name prefix"
            )
        config = current["Configuration"]
        if self._differs(config, desired):
            try:
                self._lambda.update_function_configuration(FunctionName=name, **desired)
            except ClientError as exc:
                raise translate(exc, f"UpdateFunctionConfiguration {name}") from exc
            return "starting"
        ready = config.get("State", "Active") == "Active"
        updating = config.get("LastUpdateStatus", "Successful") == "InProgress"
        return "ready" if ready and not updating else "starting"

    @staticmethod
    def _differs(config: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
        vpc = config.get("VpcConfig", {})
        layers = [layer.get("Arn") for layer in config.get("Layers", [])]
        return bool(
            config.get("Role") != desired["Role"]
            or config.get("Handler") != desired["Handler"]
            or config.get("Runtime") != desired["Runtime"]
            or config.get("Timeout") != desired["Timeout"]
            or config.get("MemorySize") != desired["MemorySize"]
            or layers != desired["Layers"]
            or sorted(vpc.get("SubnetIds", [])) != desired["VpcConfig"]["SubnetIds"]
            or sorted(vpc.get("SecurityGroupIds", [])) != desired["VpcConfig"]["SecurityGroupIds"]
        )

    def _create(self, name: str, desired: Mapping[str, Any]) -> None:
        try:
            self._lambda.create_function(
                FunctionName=name,
                Code={"ZipFile": placeholder_package()},
                Architectures=[ARCHITECTURE],
                Tags={TAG_MANAGED_BY: PROJECT, TAG_NETWORK: name.rsplit("-", 1)[1]},
                **desired,
            )
        except ClientError as exc:
            if error_code(exc) == "ResourceConflictException":
                return  # created meanwhile by an overlapping run: same name, same network
            raise translate(exc, f"CreateFunction {name}") from exc

    def invoke(self, name: str, request: Mapping[str, Any]) -> Any:
        try:
            answer = self._lambda.invoke(
                FunctionName=name,
                InvocationType="RequestResponse",
                Payload=json.dumps(request).encode(),
            )
        except ClientError as exc:
            raise translate(exc, f"Invoke {name}") from exc
        payload = answer["Payload"].read()
        if answer.get("FunctionError"):
            raise ProberFailedError(
                f"prober {name} failed: {payload[:500].decode(errors='replace')}"
            )
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise ProberFailedError(f"prober {name} answered no JSON: {exc}") from exc

    def remove_unused(self, in_use: Iterable[str]) -> list[str]:
        """Delete the canary's probers no network needs any more; returns their names."""
        keep = set(in_use)
        prefix = f"{self._settings.name_prefix}-"
        removed: list[str] = []
        try:
            for page in self._lambda.get_paginator("list_functions").paginate():
                for function in page.get("Functions", []):
                    name = function["FunctionName"]
                    if not name.startswith(prefix) or name in keep:
                        continue
                    tags = self._lambda.list_tags(Resource=function["FunctionArn"]).get("Tags", {})
                    if tags.get(TAG_MANAGED_BY) != PROJECT or TAG_NETWORK not in tags:
                        continue  # someone else's function under our prefix: never touched
                    self._lambda.delete_function(FunctionName=name)
                    removed.append(name)
        except ClientError as exc:
            raise translate(exc, "removing unused probers") from exc
        return removed
