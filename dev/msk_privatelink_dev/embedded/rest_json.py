"""REST-JSON on the wire, driven by a botocore service model.

Requests are matched to an operation by `http.method` and the
`http.requestUri` template; members are read from the URI, the query string,
headers and the JSON body by their `locationName`. Answers are written the
same way. Nothing here knows about MSK beyond the error body, which follows
the `{"message": ...}` shape MSK's errors use.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import unquote

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.utils import parse_timestamp

from msk_privatelink_dev.embedded.msk_contract import MskApiError, bad_request


@dataclass(frozen=True)
class HttpRequest:
    method: str
    raw_path: str  # percent-encoded, as sent, without the query string
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Route:
    operation_name: str
    method: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]  # URI label per regex group, in order
    literal_length: int  # more literal text wins when two templates match


def decode_request(service: ServiceModel, request: HttpRequest) -> tuple[str, dict[str, Any]]:
    """Return (operation name, parameters with botocore member names)."""
    route, values = _match(service, request)
    operation = service.operation_model(route.operation_name)
    shape = operation.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return route.operation_name, params
    uri_values = dict(zip(route.labels, values, strict=True))
    body = _json_body(request.body)
    payload_member = shape.serialization.get("payload")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in uri_values:
                params[name] = _from_text(uri_values[wire_name], member)
        elif location == "querystring":
            _read_query(params, name, member, wire_name, request.query)
        elif location == "header":
            if wire_name.lower() in request.headers:
                params[name] = _from_text(request.headers[wire_name.lower()], member)
        elif name == payload_member:
            if body is not None:
                params[name] = _from_json(body, member)
        elif location is None and body is not None and wire_name in body:
            params[name] = _from_json(body[wire_name], member)
    return route.operation_name, params


def encode_response(operation: OperationModel, result: Mapping[str, Any]) -> HttpResponse:
    status = int(operation.http.get("responseCode", 200))
    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    shape = operation.output_shape
    if shape is None:
        return HttpResponse(status, headers, b"")
    document: dict[str, Any] = {}
    for name, member in shape.members.items():
        if name not in result:
            continue
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "header":
            headers[wire_name] = _to_text(result[name])
        elif location == "statusCode":
            status = int(result[name])
        else:
            document[wire_name] = _to_json(result[name], member)
    headers["Content-Type"] = "application/json"
    return HttpResponse(status, headers, json.dumps(document).encode())


def encode_error(error: MskApiError) -> HttpResponse:
    document: dict[str, Any] = {"message": error.message}
    if error.invalid_parameter:
        document["invalidParameter"] = error.invalid_parameter
    headers = {
        "x-amzn-RequestId": str(uuid.uuid4()),
        "x-amzn-ErrorType": error.code,
        "Content-Type": "application/json",
    }
    return HttpResponse(error.status, headers, json.dumps(document).encode())


# ------------------------------------------------------------------ routing


@cache
def _routes(service: ServiceModel) -> tuple[_Route, ...]:
    routes = []
    for operation_name in service.operation_names:
        http = service.operation_model(operation_name).http
        template = http["requestUri"].split("?", 1)[0]
        labels: list[str] = []

        def label(match: re.Match[str], labels: list[str] = labels) -> str:
            labels.append(match.group(1))
            return "(.+)" if match.group(2) else "([^/]+)"

        pieces = re.split(r"(\{[^}]+\})", template)
        regex = "".join(
            re.sub(r"\{([^}+]+)(\+?)\}", label, piece)
            if piece.startswith("{")
            else re.escape(piece)
            for piece in pieces
        )
        literal = sum(len(piece) for piece in pieces if not piece.startswith("{"))
        routes.append(
            _Route(operation_name, http["method"], re.compile(f"^{regex}$"), tuple(labels), literal)
        )
    return tuple(routes)


def _match(service: ServiceModel, request: HttpRequest) -> tuple[_Route, tuple[str, ...]]:
    path = request.raw_path.rstrip("/") or "/"
    candidates = []
    for route in _routes(service):
        if route.method != request.method.upper():
            continue
        found = route.pattern.match(path)
        if found:
            candidates.append((route, tuple(unquote(value) for value in found.groups())))
    if not candidates:
        raise MskApiError(
            "UnknownOperationException",
            f"No {service.service_name} operation matches {request.method} {request.raw_path}.",
            status=404,
        )
    return max(candidates, key=lambda candidate: candidate[0].literal_length)


# ----------------------------------------------------------- value decoding


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise bad_request("The request body is not valid JSON.") from exc


def _read_query(
    params: dict[str, Any],
    name: str,
    member: Shape,
    wire_name: str,
    query: Mapping[str, list[str]],
) -> None:
    if isinstance(member, MapShape):
        params[name] = {key: values[-1] for key, values in query.items()}
    elif isinstance(member, ListShape):
        if wire_name in query:
            params[name] = [_from_text(value, member.member) for value in query[wire_name]]
    elif wire_name in query:
        params[name] = _from_text(query[wire_name][-1], member)


def _from_text(text: str, shape: Shape) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("double", "float"):
            return float(text)
    except ValueError as exc:
        raise bad_request(f"{text!r} is not a valid {kind}.") from exc
    if kind == "boolean":
        return text.lower() == "true"
    if kind == "timestamp":
        return parse_timestamp(text)
    if isinstance(shape, ListShape):
        return [_from_text(item.strip(), shape.member) for item in text.split(",")]
    return text


def _from_json(value: Any, shape: Shape) -> Any:
    if value is None:
        return None
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        wire_names = {m.serialization.get("name", n): n for n, m in shape.members.items()}
        return {
            wire_names[key]: _from_json(item, shape.members[wire_names[key]])
            for key, item in value.items()
            if key in wire_names
        }
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_from_json(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: _from_json(item, shape.value) for key, item in value.items()}
    if shape.type_name == "timestamp":
        return parse_timestamp(value)
    if shape.type_name == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    return value


# ----------------------------------------------------------- value encoding


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _iso8601(value)
    return str(value)


def _to_json(value: Any, shape: Shape) -> Any:
    if isinstance(shape, StructureShape):
        return {
            member.serialization.get("name", name): _to_json(value[name], member)
            for name, member in shape.members.items()
            if name in value
        }
    if isinstance(shape, ListShape):
        return [_to_json(item, shape.member) for item in value]
    if isinstance(shape, MapShape):
        return {key: _to_json(item, shape.value) for key, item in value.items()}
    if shape.type_name == "timestamp":
        return _timestamp(value, shape.serialization.get("timestampFormat", "iso8601"))
    if shape.type_name == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode()
    return value


def _timestamp(value: datetime | str, timestamp_format: str) -> Any:
    moment = parse_timestamp(value) if isinstance(value, str) else value
    if timestamp_format == "unixTimestamp":
        return moment.timestamp()
    return _iso8601(moment)


def _iso8601(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
