"""The connectivity canary as consumer/template.yaml wires it, on the
embedded AWS: the real handler, its environment from the template, the
prober role and the core layer the stack would create, and the prober
functions it creates served in this process.

moto stores a function but runs its code only in a container, so Invoke of a
prober is answered here: the function is looked up as the canary created it
(its handler string, its VPC configuration) and that handler runs in this
process with the payload and a context holding the function's timeout, as
Lambda's Python runtime would. Its probes use this machine's resolver (the
MSK names do not resolve here, as from a VPC whose private zone is missing),
or a stand-in consumer network (tests/kafka/consumer_network.py).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from types import ModuleType
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.canary.probers import placeholder_package
from msk_privatelink.connectivity import prober, prober_function
from msk_privatelink.connectivity.metadata_check import run_request
from msk_privatelink.connectivity.probe import Resolver, Route, check
from msk_privatelink_dev.local.consumers import consumer_stack
from msk_privatelink_dev.local.lambdas import FakeContext, environment, load_handler_module
from tests.consumer.wiring import PROVIDER_ACCOUNT, ConsumerStack

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


class _RuntimeContext:
    def __init__(self, timeout: int) -> None:
        self._ends = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


@dataclass
class Canary:
    stack: ConsumerStack
    # The consumer network the probers run in: None for this machine's own
    # resolver and routes; else (resolver, route) of a stand-in network.
    network: tuple[Resolver, Route] | None = None
    # Stack parameters beside the provider account (ConnectivityCanaryIamAuth).
    parameters: dict[str, str] = field(default_factory=dict)
    log: io.StringIO = field(default_factory=io.StringIO)
    invocations: list[dict[str, Any]] = field(default_factory=list)
    module: ModuleType | None = None

    @property
    def env(self) -> dict[str, str]:
        consumer = self.stack.consumer
        template = consumer_stack(
            PROVIDER_ACCOUNT, consumer.account_id, consumer.region, self.parameters
        )
        return template.environment("connectivity_canary")

    def deploy(self) -> None:
        """What the stack creates for the canary: the prober role and the core layer."""
        consumer = self.stack.consumer
        template = consumer_stack(PROVIDER_ACCOUNT, consumer.account_id, consumer.region)
        infra = self.stack.infra()
        iam = consumer.session(counted=False).client("iam")
        iam.create_role(
            RoleName=template.physical_name("ProberRole"),
            AssumeRolePolicyDocument=json.dumps(TRUST),
        )
        # SAM names the layer version's logical id CoreLayer<hash>: its name
        # comes from the Ref the template resolves to.
        layer_name = self.env["PROBER_LAYER_ARN"].split(":")[6]
        published = infra.lambda_.publish_layer_version(
            LayerName=layer_name,
            Content={"ZipFile": placeholder_package()},
        )["LayerVersionArn"]
        assert published == self.env["PROBER_LAYER_ARN"], published

    def _serve_invoke(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        """Lambda's Invoke of a prober, run in this process."""
        name = params["url_path"].split("/functions/", 1)[1].split("/", 1)[0]
        config = self.stack.infra().lambda_.get_function(FunctionName=name)["Configuration"]
        module_name, _, function = config["Handler"].rpartition(".")
        module = importlib.import_module(module_name)
        assert module is prober_function, config["Handler"]
        event = json.loads(params["body"])
        self.invocations.append({"function": name, "vpc": config["VpcConfig"], "event": event})
        handler = getattr(module, function)
        if self.network is not None:
            # The handler is handle() and a log line (run alone, on the
            # standard library only, in tests/unit/test_connectivity_prober.py);
            # here its probes and metadata fetches go through the stand-in network.
            resolver, route = self.network

            def handler(event: Any, context: _RuntimeContext) -> Any:
                seconds = context.get_remaining_time_in_millis() / 1000
                return prober.handle(
                    event,
                    seconds,
                    run=partial(check, resolver=resolver, route=route),
                    fetch=partial(run_request, resolver=resolver, route=route),
                )

        try:
            answer = handler(event, _RuntimeContext(config["Timeout"]))
            extra: dict[str, str] = {}
        except Exception as exc:  # the runtime reports it as the function's error
            answer = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            extra = {"FunctionError": "Unhandled"}
        body = json.dumps(answer).encode()
        parsed = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": StreamingBody(io.BytesIO(body), len(body)),
            **extra,
        }
        return AWSResponse(params["url"], 200, {}, None), parsed

    def handler(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """The real canary handler, acting in the consumer account."""
        env = self.env
        if self.module is None:
            with environment(env), contextlib.redirect_stdout(self.log):
                self.module = load_handler_module("connectivity_canary")
        module = self.module
        module._service.cache_clear()
        consumer = self.stack.consumer
        serve = ("before-call.lambda.Invoke", self._serve_invoke)

        def clients(region: str | None = None) -> AwsClients:
            return AwsClients(consumer.session(serve), region=region or consumer.region)

        module.AwsClients = clients

        def invoke(event: dict[str, Any]) -> dict[str, Any]:
            module.logger.registered_handler.setStream(self.log)
            with environment(env), contextlib.redirect_stdout(self.log):
                result: dict[str, Any] = module.lambda_handler(event, FakeContext("canary"))
            return result

        return invoke

    def metrics(self) -> list[dict[str, Any]]:
        """The EMF documents the handler printed."""
        out = []
        for line in self.log.getvalue().splitlines():
            if line.startswith("{") and '"_aws"' in line:
                out.append(json.loads(line))
        return out


SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "111122223333",
    "time": "2026-12-05T18:15:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:111122223333:rule/canary-schedule"],
    "detail": {},
}
