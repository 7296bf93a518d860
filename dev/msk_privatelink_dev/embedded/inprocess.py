"""Serve the MSK simulator to every boto3/botocore client in this process.

botocore lets a `before-call` handler return `(http_response, parsed)` and
skip the HTTP send. Registered in `botocore.handlers.BUILTIN_HANDLERS` the
handlers reach every session created afterwards (including the ones moto's
Step Functions engine creates), and they are added to boto3's default session
if it already exists. Clients created earlier keep their own copy of the
event hooks and are not served. `before-call` only sees the serialised
request, so `before-parameter-build` keeps the caller's parameters for it.

The answer is encoded to REST-JSON and parsed by botocore's own parser, the
same bytes the HTTP server would send, so callers get real datetimes and
real `ClientError` subclasses (`client.exceptions.NotFoundException`).
"""

from __future__ import annotations

import copy
import threading
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.handlers
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.endpoint import convert_to_response_dict
from botocore.model import OperationModel
from botocore.parsers import create_parser

from msk_privatelink_dev.embedded.moto_accounts import account_id_for
from msk_privatelink_dev.embedded.msk_contract import MskApiError, kafka_service_model
from msk_privatelink_dev.embedded.msk_simulator import MskSimulator
from msk_privatelink_dev.embedded.rest_json import HttpResponse, encode_error, encode_response

_PARAMS_EVENT = "before-parameter-build.kafka"
_CALL_EVENT = "before-call.kafka"
_CONTEXT_KEY = "embedded_msk_params"
# Like moto's mock, only requests meant for AWS itself are answered; a client
# with endpoint_url pointing at the embedded HTTP server goes over the wire.
_AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")

_state_lock = threading.Lock()
_current: MskSimulator | None = None


def activate(simulator: MskSimulator) -> None:
    """Make `simulator` answer Kafka calls until `deactivate()`."""
    global _current  # noqa: PLW0603 - one embedded AWS per process, by design
    with _state_lock:
        if _current is not None and _current is not simulator:
            raise RuntimeError("another embedded AWS is already active in this process")
        _current = simulator
    install()


def deactivate() -> None:
    global _current  # noqa: PLW0603
    with _state_lock:
        _current = None


def current_simulator() -> MskSimulator | None:
    return _current


def install() -> None:
    """Register the handlers once; they answer only while a simulator is active."""
    with _state_lock:
        for event, handler in ((_PARAMS_EVENT, capture_params), (_CALL_EVENT, answer_call)):
            if (event, handler) not in botocore.handlers.BUILTIN_HANDLERS:
                botocore.handlers.BUILTIN_HANDLERS.append((event, handler))
        if boto3.DEFAULT_SESSION is not None:
            session = boto3.DEFAULT_SESSION._session
            session.register(_PARAMS_EVENT, capture_params, unique_id=_PARAMS_EVENT)
            # The stubs type handlers as returning None; before-call ones may answer.
            session.register(_CALL_EVENT, answer_call, unique_id=_CALL_EVENT)  # type: ignore[arg-type]


def capture_params(**event: Any) -> None:
    """`before-parameter-build.kafka`: keep the caller's parameters for the call."""
    if _current is not None:
        event["context"][_CONTEXT_KEY] = copy.deepcopy(event["params"])


def answer_call(**event: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    """`before-call.kafka`: answer from the simulator, or None to let the call through."""
    simulator = _current
    url = str(event["params"].get("url", ""))
    if simulator is None or not _is_aws_host(url):
        return None
    model: OperationModel = event["model"]
    context: dict[str, Any] = event["context"]
    if _CONTEXT_KEY not in context:
        raise RuntimeError(f"kafka {model.name}: parameters were not captured before the call")
    signer = event["request_signer"]
    try:
        result = simulator.handle(
            model.name,
            context.pop(_CONTEXT_KEY),
            account_id=account_id_for(_access_key(signer)),
            region=context.get("client_region") or signer.region_name,
        )
        answer = encode_response(model, result)
    except MskApiError as error:
        answer = encode_error(error)
    return _as_botocore_response(model, answer, url)


def _is_aws_host(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.endswith(_AWS_HOST_SUFFIXES)


def _access_key(request_signer: Any) -> str | None:
    # RequestSigner has no public accessor for its credentials.
    credentials = getattr(request_signer, "_credentials", None)
    if credentials is None:
        return None
    return str(credentials.get_frozen_credentials().access_key)


class _BodyStream:
    """The one method AWSResponse needs from urllib3's raw response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_: Any, **__: Any) -> Any:
        yield self._body


def _as_botocore_response(
    model: OperationModel, answer: HttpResponse, url: str
) -> tuple[AWSResponse, dict[str, Any]]:
    headers = HTTPHeaders.from_dict(answer.headers)
    http = AWSResponse(url, answer.status, headers, _BodyStream(answer.body))
    response_dict = convert_to_response_dict(http, model)
    parser = create_parser(kafka_service_model().protocol)
    # botocore itself passes None for operations without output (TagResource).
    parsed: dict[str, Any] = parser.parse(response_dict, model.output_shape)  # type: ignore[arg-type]
    if answer.status >= 300:
        # What botocore's Endpoint does so modeled error members reach the caller.
        code = parsed.get("Error", {}).get("Code")
        error_shape = next((s for s in kafka_service_model().error_shapes if s.name == code), None)
        if error_shape is not None:
            parsed.update(parser.parse(response_dict, error_shape))
    return http, parsed
