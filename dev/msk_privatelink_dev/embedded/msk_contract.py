"""botocore's `kafka` service model used as the simulator's contract.

Requests are checked against the operation's input shape and answers against
its output shape, so the simulator cannot drift from the real API when
botocore is upgraded. botocore's own validator checks types and required
members only; the extra walk below adds what it leaves out (`max` bounds,
enum values, and doubles that must be floats as MSK sends them).
"""

from __future__ import annotations

import functools
from typing import Any

from botocore.loaders import create_loader
from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    ServiceModel,
    Shape,
    StringShape,
    StructureShape,
)
from botocore.validate import ParamValidator

SERVICE_NAME = "kafka"


class MskApiError(Exception):
    """An error answer in the shape MSK uses: an error code, a message, an HTTP status."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        invalid_parameter: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else _modeled_status(code)
        self.invalid_parameter = invalid_parameter


class SimulatorDriftError(AssertionError):
    """The simulator produced an answer the real API could not have produced."""


def bad_request(message: str, *, invalid_parameter: str | None = None) -> MskApiError:
    return MskApiError("BadRequestException", message, invalid_parameter=invalid_parameter)


def not_found(message: str) -> MskApiError:
    return MskApiError("NotFoundException", message)


def conflict(message: str) -> MskApiError:
    return MskApiError("ConflictException", message)


def not_implemented(operation_name: str) -> MskApiError:
    # No MSK error code exists for this; 501 is not retried by botocore's
    # retry modes, so callers fail at once with a message naming the operation.
    return MskApiError(
        "NotImplemented",
        f"The embedded MSK simulator does not implement the Kafka operation {operation_name}.",
        status=501,
    )


@functools.cache
def kafka_service_model() -> ServiceModel:
    loader = create_loader()
    return ServiceModel(loader.load_service_model(SERVICE_NAME, "service-2"), SERVICE_NAME)


def operation_model(operation_name: str) -> OperationModel:
    if operation_name not in kafka_service_model().operation_names:
        raise not_implemented(operation_name)
    return kafka_service_model().operation_model(operation_name)


def validate_input(operation_name: str, params: dict[str, Any]) -> None:
    """Raise BadRequestException when `params` is not a valid request."""
    shape = operation_model(operation_name).input_shape
    problems = _problems(params, shape, for_output=False)
    if problems:
        raise bad_request("; ".join(problems))


def validate_output(operation_name: str, response: dict[str, Any]) -> None:
    """Raise SimulatorDriftError when `response` does not fit the output shape."""
    shape = operation_model(operation_name).output_shape
    if shape is None:
        if response:
            raise SimulatorDriftError(f"{operation_name} has no output, got {response!r}")
        return
    problems = _problems(response, shape, for_output=True)
    if problems:
        raise SimulatorDriftError(
            f"simulated {operation_name} response does not match botocore's model: "
            + "; ".join(problems)
        )


def _modeled_status(code: str) -> int:
    for shape in kafka_service_model().error_shapes:
        error = shape.metadata.get("error", {})
        if error.get("code", shape.name) == code:
            status: int = error.get("httpStatusCode", 400)
            return status
    return 400


def _problems(value: dict[str, Any], shape: Shape | None, *, for_output: bool) -> list[str]:
    if shape is None:
        return [f"unexpected members {sorted(value)}"] if value else []
    report = ParamValidator().validate(value, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    if not problems:
        _walk(value, shape, "", problems, for_output=for_output)
    return problems


# The model's max of 15 for these predates MSK's current broker quota; the
# simulator applies the quota itself (msk_rules.MAX_BROKERS_PER_CLUSTER).
BROKER_COUNT_MEMBERS = frozenset({"NumberOfBrokerNodes", "TargetNumberOfBrokerNodes"})


def _walk(value: Any, shape: Shape, path: str, problems: list[str], *, for_output: bool) -> None:
    where = path.lstrip(".")
    if isinstance(shape, StructureShape):
        for name, member in shape.members.items():
            if name in value:
                _walk(value[name], member, f"{path}.{name}", problems, for_output=for_output)
    elif isinstance(shape, ListShape):
        for index, item in enumerate(value):
            _walk(item, shape.member, f"{path}[{index}]", problems, for_output=for_output)
    elif isinstance(shape, MapShape):
        for key, item in value.items():
            _walk(item, shape.value, f"{path}.{key}", problems, for_output=for_output)
    elif isinstance(shape, StringShape) and shape.enum and value not in shape.enum:
        problems.append(f"{where}: {value!r} is not one of {shape.enum}")
    elif (
        shape.type_name in ("integer", "long")
        and path.rsplit(".", 1)[-1] not in BROKER_COUNT_MEMBERS
        and value > shape.metadata.get("max", value)
    ):
        problems.append(f"{where}: {value} is above the maximum {shape.metadata['max']}")
    elif shape.type_name in ("double", "float") and for_output and not isinstance(value, float):
        problems.append(f"{where}: {value!r} must be a float, as MSK sends it")
