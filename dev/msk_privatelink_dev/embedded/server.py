"""The embedded AWS over HTTP, for other processes (CLI, scripts, the AWS CLI).

moto's server app answers everything except the `kafka` service, which a
small WSGI layer in front of it answers with the MSK simulator. Requests are
recognised by the SigV4 credential scope (`.../<region>/kafka/aws4_request`).
Two extra routes let demo and ops scripts act like MSK itself:

    POST /_msk_sim/replace-broker  {"cluster_arn": ..., "broker_id": 1}
    POST /_msk_sim/scale           {"cluster_arn": ..., "count": 6}

EC2's ClientToken idempotency for CreateVpcEndpoint (`ec2_client_tokens`)
is active while the server serves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from msk_privatelink_dev.embedded import elb_arns, event_bus_routing
from msk_privatelink_dev.embedded.ec2_client_tokens import ClientTokens
from msk_privatelink_dev.embedded.moto_accounts import account_id_for
from msk_privatelink_dev.embedded.msk_contract import (
    SERVICE_NAME,
    MskApiError,
    kafka_service_model,
)
from msk_privatelink_dev.embedded.msk_simulator import MskSimulator
from msk_privatelink_dev.embedded.rest_json import (
    HttpRequest,
    HttpResponse,
    decode_request,
    encode_error,
    encode_response,
)

_CONTROL_PREFIX = "/_msk_sim/"
_MOTO_RESET_PATH = "/moto-api/reset"


class MskMiddleware:
    """WSGI app: `kafka` requests and /_msk_sim/ go to the simulator, the rest to moto."""

    def __init__(
        self,
        moto_app: WSGIApplication,
        simulator: MskSimulator,
        client_tokens: ClientTokens | None = None,
    ) -> None:
        self.moto_app = moto_app
        self.simulator = simulator
        # Activated by serve() / start_in_thread() for as long as they serve.
        self.client_tokens = ClientTokens() if client_tokens is None else client_tokens

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(_CONTROL_PREFIX):
            return _send(start_response, self._control(environ, path))
        scope = _credential_scope(environ.get("HTTP_AUTHORIZATION", ""))
        if scope is not None and scope[1] == SERVICE_NAME:
            return _send(start_response, self._kafka(environ, scope[0]))
        if path == _MOTO_RESET_PATH and environ.get("REQUEST_METHOD") == "POST":
            # moto forgets every ENI on reset; clusters pointing at them must go too.
            self.simulator.reset()
        return self.moto_app(environ, start_response)

    def _kafka(self, environ: WSGIEnvironment, region: str) -> HttpResponse:
        service = kafka_service_model()
        try:
            operation_name, params = decode_request(service, _http_request(environ))
            result = self.simulator.handle(
                operation_name,
                params,
                account_id=account_id_for(
                    _access_key(environ.get("HTTP_AUTHORIZATION", "")),
                    account_header=environ.get("HTTP_X_MOTO_ACCOUNT_ID"),
                ),
                region=region,
            )
            return encode_response(service.operation_model(operation_name), result)
        except MskApiError as error:
            return encode_error(error)

    def _control(self, environ: WSGIEnvironment, path: str) -> HttpResponse:
        action = path.removeprefix(_CONTROL_PREFIX)
        if environ.get("REQUEST_METHOD") != "POST":
            return _json_response(405, {"message": "Use POST."})
        try:
            body = json.loads(_read_body(environ) or b"{}")
            cluster_arn = str(body["cluster_arn"])
            if action == "replace-broker":
                broker_id = int(body["broker_id"])
                self.simulator.replace_broker(cluster_arn, broker_id)
                broker = next(
                    b for b in self.simulator.brokers(cluster_arn) if b.broker_id == broker_id
                )
                return _json_response(
                    200,
                    {
                        "cluster_arn": cluster_arn,
                        "broker_id": broker_id,
                        "eni_id": broker.eni_id,
                        "ip_address": broker.ip_address,
                    },
                )
            if action == "scale":
                operation_arn = self.simulator.scale(cluster_arn, int(body["count"]))
                return _json_response(
                    200, {"cluster_arn": cluster_arn, "operation_arn": operation_arn}
                )
            return _json_response(404, {"message": f"Unknown control {path}."})
        except (KeyError, ValueError, TypeError) as exc:
            return _json_response(400, {"message": f"Bad control request: {exc!r}"})
        except MskApiError as error:
            return _json_response(error.status, {"code": error.code, "message": error.message})


def make_app(simulator: MskSimulator | None = None) -> MskMiddleware:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return MskMiddleware(
        DomainDispatcherApplication(create_backend_app), simulator or MskSimulator()
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 4566,
    *,
    simulator: MskSimulator | None = None,
    log_requests: bool = True,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve the embedded AWS until interrupted (for `msk-privatelink local-aws`);
    ``on_listening`` gets the base URL once the socket is bound."""
    app = make_app(simulator)
    server = _make_server(host, port, app, log_requests=log_requests)
    if on_listening is not None:
        on_listening(f"http://{host}:{server.server_port}")
    elb_arns.install()
    event_bus_routing.install()
    app.client_tokens.activate()
    try:
        server.serve_forever()
    finally:
        app.client_tokens.deactivate()
        server.server_close()


def start_in_thread(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    simulator: MskSimulator | None = None,
    log_requests: bool = False,
) -> tuple[str, Callable[[], None]]:
    """Serve in a daemon thread; return (base URL, stop). Port 0 picks a free port."""
    app = make_app(simulator)
    server = _make_server(host, port, app, log_requests=log_requests)
    elb_arns.install()
    event_bus_routing.install()
    app.client_tokens.activate()
    # A short poll keeps stop() quick; the default waits up to half a second.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="embedded-aws",
        daemon=True,
    )
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()
        app.client_tokens.deactivate()

    return f"http://{host}:{server.server_port}", stop


def _make_server(host: str, port: int, app: WSGIApplication, *, log_requests: bool) -> Any:
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    class QuietRequestHandler(MotoRequestHandler):
        def log_request(self, *_args: Any, **_kwargs: Any) -> None:
            return None

    # moto's request handler keeps header spellings S3 metadata depends on.
    handler = MotoRequestHandler if log_requests else QuietRequestHandler
    return make_server(host, port, app, threaded=True, request_handler=handler)


def _credential_scope(authorization: str) -> tuple[str, str] | None:
    """(region, service) from `Credential=AKID/date/region/service/aws4_request`."""
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return None
    credential = authorization[start + len(marker) :].split(",", 1)[0].strip()
    parts = credential.split("/")
    if len(parts) != 5:
        return None
    return parts[2], parts[3]


def _access_key(authorization: str) -> str | None:
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return None
    return authorization[start + len(marker) :].split("/", 1)[0]


def _read_body(environ: WSGIEnvironment) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _http_request(environ: WSGIEnvironment) -> HttpRequest:
    # PATH_INFO is already percent-decoded, and an ARN in a URI label holds
    # encoded "/" characters, so routing needs the path exactly as sent.
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    raw_path = urlsplit(raw).path if raw else quote(environ.get("PATH_INFO", ""))
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return HttpRequest(
        method=environ.get("REQUEST_METHOD", "GET"),
        raw_path=raw_path,
        query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
        headers=headers,
        body=_read_body(environ),
    )


def _json_response(status: int, document: dict[str, Any]) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(document).encode())


def _send(start_response: StartResponse, answer: HttpResponse) -> list[bytes]:
    try:
        reason = HTTPStatus(answer.status).phrase
    except ValueError:
        reason = "Unknown"
    headers = [*answer.headers.items(), ("Content-Length", str(len(answer.body)))]
    start_response(f"{answer.status} {reason}", headers)
    return [answer.body]
