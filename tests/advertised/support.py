"""Kafka clients that count (or fail) their calls, and a cluster to re-advertise."""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.response import StreamingBody

from msk_privatelink.advertised.listeners import AdvertisedMapping, mapping_for
from msk_privatelink.kernel.models import AuthScheme
from msk_privatelink.reconcile.aws.msk import MskInventoryReader
from msk_privatelink_dev.embedded import EmbeddedAws

READS = ("Describe", "List", "Get")
PORT_BASES = {AuthScheme.SASL_IAM: 9000, AuthScheme.TLS: 8440, AuthScheme.SASL_SCRAM: 8640}


def is_write(operation: str) -> bool:
    return not operation.startswith(READS)


class Crash(Exception):
    """Stands for the process dying at a chosen call."""


class KafkaCalls:
    """A kafka client whose calls are counted; optionally the Nth write crashes."""

    def __init__(self, aws: EmbeddedAws, *, crash_at: int = 0, after: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        self.crash_at = crash_at
        self.after = after
        self.writes_seen = 0
        self.crashed_at: str | None = None
        session = aws.session()
        # Registered on the session before the client exists, and more specific
        # than the embedded MSK's own before-call hook, so it sees every call.
        session.events.register("before-call.*.*", self._before)
        session.events.register("after-call.*.*", self._after)
        self.client: Any = session.client("kafka")

    def _before(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        if not is_write(model.name):
            return
        self.writes_seen += 1
        if self.writes_seen == self.crash_at and not self.after:
            self.crashed_at = f"before {model.name}"
            raise Crash(self.crashed_at)

    def _after(self, model: Any, **_: Any) -> None:
        at_the_write = self.after and is_write(model.name) and self.writes_seen == self.crash_at
        if at_the_write and self.crashed_at is None:
            self.crashed_at = f"after {model.name}"
            raise Crash(self.crashed_at)

    @property
    def writes(self) -> Counter[str]:
        return Counter({k: v for k, v in self.calls.items() if is_write(k)})


def make_cluster(
    aws: EmbeddedAws,
    *,
    auth: tuple[str, ...] = ("iam", "tls"),
    configuration: tuple[str, int] | None = None,
    name: str = "orders",
) -> str:
    network = aws.create_network(subnet_count=3)
    arn = aws.msk.create_cluster(name, network.subnet_ids, auth=auth)
    if configuration is not None:
        kafka = aws.client("kafka")
        version = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
        kafka.update_cluster_configuration(
            ClusterArn=arn,
            ConfigurationInfo={"Arn": configuration[0], "Revision": configuration[1]},
            CurrentVersion=version,
        )
    return arn


def mapping_of(aws: EmbeddedAws, cluster_arn: str) -> AdvertisedMapping:
    inventory = MskInventoryReader(aws.client("kafka"), aws.client("ec2")).read(cluster_arn)
    return mapping_for(inventory, inventory.enabled_schemes, PORT_BASES)


def properties_in_force(aws: EmbeddedAws, cluster_arn: str) -> bytes:
    kafka = aws.client("kafka")
    software = kafka.describe_cluster_v2(ClusterArn=cluster_arn)["ClusterInfo"]["Provisioned"][
        "CurrentBrokerSoftwareInfo"
    ]
    if "ConfigurationArn" not in software:
        return b""
    answer = kafka.describe_configuration_revision(
        Arn=software["ConfigurationArn"], Revision=software["ConfigurationRevision"]
    )
    return bytes(answer["ServerProperties"])


def until_settled(run: Callable[[], Any], complete: Callable[[], None], limit: int = 6) -> Any:
    """Run, let MSK finish what was started, run again, until a run changes nothing."""
    for _ in range(limit):
        outcome = run()
        if outcome.done:
            return outcome
        complete()
    raise AssertionError(f"not settled after {limit} runs: {outcome}")


class LocalInvoke:
    """`before-call.lambda.Invoke` on one session: runs a Python function as the Lambda.

    An exception becomes what Lambda answers for an unhandled error
    (``FunctionError: Unhandled`` and an errorMessage payload).
    """

    def __init__(self, functions: dict[str, Callable[[dict[str, Any]], Any]]) -> None:
        self.functions = functions
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, **event: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        params = event["params"]
        name = unquote(params["url_path"].split("/functions/")[1].split("/")[0])
        function = self.functions.get(name)
        if function is None:
            return None
        payload = json.loads(params.get("body") or b"{}")
        self.payloads.append(payload)
        parsed: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": str(uuid.uuid4())},
        }
        try:
            out = json.dumps(function(payload)).encode()
        except Exception as exc:  # what Lambda reports for an unhandled error
            parsed["FunctionError"] = "Unhandled"
            out = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        parsed["Payload"] = StreamingBody(io.BytesIO(out), len(out))
        return AWSResponse(str(params.get("url", "")), 200, HTTPHeaders(), None), parsed

    def client(self, aws: EmbeddedAws) -> Any:
        session = aws.session()
        # botocore types hooks as returning None; a before-call hook may answer.
        session.events.register("before-call.lambda.Invoke", self)  # type: ignore[arg-type]
        return session.client("lambda")
