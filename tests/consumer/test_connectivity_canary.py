"""The connectivity canary's handler on the embedded AWS, wired as
consumer/template.yaml wires it: it finds the onboarded cluster's applied
view, creates the prober function in the consumer network, probes from it,
and reports on the consumer bus (forwarded to the provider)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar, cast

import pytest

from msk_privatelink.canary.cleanup import handle_custom_resource
from msk_privatelink.canary.credentials import CLUSTER_TAG
from msk_privatelink.canary.probers import ProberFunctions
from msk_privatelink.connectivity import prober_function
from msk_privatelink.kernel.consumer_events import ConsumerConnectivityReport
from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink.kernel.records import parse, replace
from msk_privatelink_dev.local.workflows import keep_sender
from tests.consumer.canary_wiring import SCHEDULED, Canary
from tests.consumer.support import events_of
from tests.consumer.wiring import (
    ConsumerStack,
    add_consumer_stack,
    provider_replies,
    provider_replies_queue,
    put_on_provider_bus,
)
from tests.integration.harness import World, world

pytestmark = pytest.mark.integration


@pytest.fixture
def onboarded() -> Iterator[tuple[World, ConsumerStack, BrokerEndpointsChanged, str]]:
    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, "111122223333")
        replies = provider_replies_queue(w)
        w.reconcile()
        view = events_of(w)[-1]
        stack.queued()
        put_on_provider_bus(w, stack.onboarding(view))
        (result,) = stack.deliver()
        assert result["status"] == "ready", result
        provider_replies(w, replies)  # the onboarding answer
        yield w, stack, view, replies


def reports(w: World, url: str) -> list[ConsumerConnectivityReport]:
    return [
        parse(ConsumerConnectivityReport, body["detail"])
        for body in provider_replies(w, url)
        if body["detail-type"] == "ConsumerConnectivityReport"
    ]


def test_the_first_run_creates_the_prober_in_the_consumer_network_and_reports_unchecked(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    w, stack, view, replies = onboarded
    canary = Canary(stack)
    canary.deploy()

    result = canary.handler()(SCHEDULED)

    assert result == {"clusters": {view.cluster_arn: "unchecked"}}
    (function,) = stack.infra().lambda_.list_functions()["Functions"]
    assert function["FunctionName"].startswith(canary.env["PROBER_NAME_PREFIX"] + "-")
    settings = stack.consumer.settings
    assert sorted(function["VpcConfig"]["SubnetIds"]) == sorted(settings.subnet_ids)
    assert function["VpcConfig"]["SecurityGroupIds"] == list(settings.security_group_ids)
    assert function["Role"] == canary.env["PROBER_ROLE_ARN"]
    (report,) = reports(w, replies)
    assert (report.state, report.generation, report.vpc_id) == (
        "unchecked",
        view.generation,
        settings.vpc_id,
    )
    assert "is starting" in report.problems[0]
    assert canary.invocations == []


def test_a_name_that_does_not_resolve_in_the_network_is_reported_per_broker_at_dns(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    w, stack, view, replies = onboarded
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)
    reports(w, replies)

    result = invoke(SCHEDULED)

    assert result == {"clusters": {view.cluster_arn: "unreachable"}}
    (call,) = canary.invocations
    probed = {(t["broker"], t["host"], t["port"]) for t in call["event"]["targets"]}
    assert probed == {
        (str(b.broker_id), h, p)
        for b in view.brokers
        for h in b.host_names
        for p in b.ports.values()
    }
    # Each name must resolve to this account's endpoint for its broker.
    assert all(t["expected"] for t in call["event"]["targets"])
    (report,) = reports(w, replies)
    assert report.state == "unreachable"
    assert report.failed == report.probes == len(probed)
    assert {f.step for f in report.failures} == {"dns"}
    assert {f.broker for f in report.failures} == {str(b.broker_id) for b in view.brokers}
    # The alarm's metric counts every unreachable broker; each broker has its own.
    documents = canary.metrics()
    totals = [d["UnreachableBrokersTotal"] for d in documents if "UnreachableBrokersTotal" in d]
    # EMF writes a metric's values as a list when the handler added several.
    assert totals[-1] in (len(view.brokers), [len(view.brokers)])
    per_broker = {d["Broker"] for d in documents if "BrokerUnreachable" in d}
    assert per_broker == {str(b.broker_id) for b in view.brokers}


def test_a_ready_answer_names_its_cluster_and_other_events_mean_every_cluster(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    _, stack, view, _ = onboarded
    canary = Canary(stack)
    canary.handler()
    assert canary.module is not None
    cluster_of = canary.module.cluster_of
    ready = {
        "version": "0",
        "id": "1b0c7a52-3f7e-4b44-9d0a-2f6c1e3d5a71",
        "detail-type": "ConsumerEndpointsReady",
        "source": "msk-privatelink.consumer",
        "account": "111122223333",
        "time": "2026-12-05T18:15:00Z",
        "region": "us-east-1",
        "resources": [view.cluster_arn],
        "detail": {"clusterArn": view.cluster_arn, "state": "ready"},
    }
    assert cluster_of(ready) == view.cluster_arn
    assert cluster_of({**ready, "detail": {**ready["detail"], "state": "failed"}}) is None
    assert cluster_of(SCHEDULED) is None


def test_offboarding_leaves_no_prober_behind(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    w, stack, view, replies = onboarded
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)
    assert stack.infra().lambda_.list_functions()["Functions"]
    assert len(reports(w, replies)) == 1

    put_on_provider_bus(w, stack.offboarding(view.generation, token="offboarding-token"))
    (result,) = stack.deliver()
    assert result["status"] == "removed"
    assert invoke(SCHEDULED) == {"clusters": {}}

    assert stack.infra().lambda_.list_functions()["Functions"] == []
    assert reports(w, replies) == []


class ResponseCatcher(BaseHTTPRequestHandler):
    """CloudFormation's pre-signed response URL, on loopback."""

    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    ResponseCatcher.received = []
    server = HTTPServer(("127.0.0.1", 0), ResponseCatcher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/cloudformation-response?X-Amz-Signature=abc"
        yield url, ResponseCatcher.received
    finally:
        server.shutdown()
        thread.join(10)


def custom_resource_request(kind: str, url: str, **extra: Any) -> dict[str, Any]:
    """A request object as CloudFormation sends it (CloudFormation User Guide,
    "Custom resource request objects")."""
    return {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/msk-privatelink-consumer/"
        "5b9e4f10-93a1-11ef-8f6b-0a1b2c3d4e5f",
        "RequestId": "0c2c8f4b-6a3e-4d4c-9b77-3b3c4f6f1a2e",
        "ResourceType": "AWS::CloudFormation::CustomResource",
        "LogicalResourceId": "ProberCleanup",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:canary",
            "ProberNamePrefix": "msk-privatelink-prober",
        },
        **extra,
    }


def test_deleting_the_stack_removes_the_probers_and_answers_cloudformation(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
    response_url: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    _, stack, _, _ = onboarded
    url, received = response_url
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    assert invoke(custom_resource_request("Create", url))["Status"] == "SUCCESS"
    invoke(SCHEDULED)
    assert len(stack.infra().lambda_.list_functions()["Functions"]) == 1

    answer = invoke(
        custom_resource_request("Delete", url, PhysicalResourceId="connectivity-canary-probers")
    )

    assert answer["Status"] == "SUCCESS"
    assert stack.infra().lambda_.list_functions()["Functions"] == []
    assert len(received) == 2
    path, headers, body = received[-1]
    assert path.endswith("X-Amz-Signature=abc")
    assert headers.get("Content-Type", "") == ""
    sent = json.loads(body)
    # The response object's required fields ("Custom resource response objects").
    assert sent["Status"] == "SUCCESS"
    assert sent["PhysicalResourceId"] == "connectivity-canary-probers"
    assert (sent["StackId"], sent["RequestId"], sent["LogicalResourceId"]) == (
        custom_resource_request("Delete", url)["StackId"],
        "0c2c8f4b-6a3e-4d4c-9b77-3b3c4f6f1a2e",
        "ProberCleanup",
    )
    assert sent["Data"] == {"Removed": "1"}


@pytest.mark.iam
def test_every_call_the_canary_makes_is_allowed_by_its_role(
    onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
    response_url: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    """Creating a prober, probing through it, reporting and removing it,
    held against ConnectivityCanaryRole as the template defines it (after
    the SAM transform), with the Service Authorization Reference's actions,
    resources and condition keys."""
    from msk_privatelink_dev.local.consumers import consumer_stack
    from tests.iam.recorder import recording

    _, stack, _, _ = onboarded
    url, _ = response_url
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    template = consumer_stack("123456789012", stack.consumer.account_id, stack.consumer.region)

    with recording(lambda *_: template) as calls:
        invoke(SCHEDULED)
        invoke(SCHEDULED)
        invoke(custom_resource_request("Delete", url))

    assert [d.describe() for d in calls.denied()] == []
    used = {d.request.action for d in calls.decisions if d.request}
    assert {
        "dynamodb:Scan",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeNetworkInterfaces",
        "lambda:CreateFunction",
        "lambda:GetFunction",
        "lambda:InvokeFunction",
        "lambda:ListFunctions",
        "lambda:ListTags",
        "lambda:DeleteFunction",
        "events:PutEvents",
    } <= used
    assert {d.call.function for d in calls.decisions} == {"connectivity_canary"}
    # What Lambda checks on the side when it creates a VPC function with a layer and tags.
    assert {
        "iam:PassRole",
        "lambda:TagResource",
        "lambda:GetLayerVersion",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
    } <= used


def test_a_cluster_onboarded_without_the_canary_is_never_probed() -> None:
    with keep_sender(), world() as w:
        stack = add_consumer_stack(w, "111122223333")
        replies = provider_replies_queue(w)
        w.reconcile()
        view = events_of(w)[-1]
        stack.queued()
        request = replace(stack.onboarding(view), connectivity_canary=False)
        put_on_provider_bus(w, request)
        (result,) = stack.deliver()
        assert result["status"] == "ready", result
        provider_replies(w, replies)
        canary = Canary(stack)
        canary.deploy()

        assert canary.handler()(SCHEDULED) == {"clusters": {}}

        assert stack.infra().lambda_.list_functions()["Functions"] == []
        assert reports(w, replies) == []


class _UnreachableLambda:
    """Prober functions whose Lambda endpoint cannot be reached: botocore
    raises its own error, not an AWS answer."""

    def remove_unused(self, in_use: list[str]) -> list[str]:
        from botocore.exceptions import EndpointConnectionError

        assert in_use == []
        raise EndpointConnectionError(endpoint_url="https://lambda.us-east-1.amazonaws.com")


def test_a_failed_removal_of_any_kind_is_answered_failed_so_the_stack_never_waits(
    response_url: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    url, received = response_url
    request = custom_resource_request(
        "Delete", url, PhysicalResourceId="connectivity-canary-probers"
    )

    answer = handle_custom_resource(request, cast(ProberFunctions, _UnreachableLambda()))

    assert answer["Status"] == "FAILED"
    ((_, _, body),) = received
    sent = json.loads(body)
    assert sent["Status"] == "FAILED"
    assert sent["Reason"].startswith("EndpointConnectionError: Could not connect")
    assert sent["PhysicalResourceId"] == "connectivity-canary-probers"


# ------------------------------------------------------------ metadata check

SCRAM_USER = {"username": "canary", "password": "canary-Pa55word-4-metadata"}


@pytest.fixture
def scram_onboarded() -> Iterator[tuple[World, ConsumerStack, BrokerEndpointsChanged, str]]:
    """A cluster with SASL/SCRAM (port 9096) beside IAM, onboarded."""
    with keep_sender(), world(auth=("iam", "scram")) as w:
        stack = add_consumer_stack(w, "111122223333")
        replies = provider_replies_queue(w)
        w.reconcile()
        view = events_of(w)[-1]
        assert all("sasl_scram" in b.ports for b in view.brokers)
        stack.queued()
        put_on_provider_bus(w, stack.onboarding(view))
        (result,) = stack.deliver()
        assert result["status"] == "ready", result
        provider_replies(w, replies)
        yield w, stack, view, replies


def add_secret(stack: ConsumerStack, name: str, value: str, cluster: str | None) -> str:
    tags = [] if cluster is None else [{"Key": CLUSTER_TAG, "Value": cluster}]
    secrets = stack.infra().secretsmanager
    return secrets.create_secret(Name=name, SecretString=value, Tags=tags)["ARN"]


def test_a_tagged_scram_secret_has_the_prober_fetch_metadata_through_the_bootstrap(
    scram_onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    w, stack, view, replies = scram_onboarded
    add_secret(stack, "AmazonMSK_canary", json.dumps(SCRAM_USER), view.cluster_arn)
    # Neither is used: one is untagged, the other names another cluster.
    someone = {"username": "someone", "password": "someone-else-Pa55"}
    add_secret(stack, "AmazonMSK_other", json.dumps(someone), None)
    other = view.cluster_arn.replace("/demo-cluster/", "/another-cluster/")
    add_secret(stack, "AmazonMSK_elsewhere", json.dumps(someone), other)
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)
    reports(w, replies)

    invoke(SCHEDULED)

    (call,) = canary.invocations
    first = min(view.brokers, key=lambda b: b.broker_id)
    assert call["event"]["metadata"] == [
        {
            "cluster": view.cluster_arn,
            "host": first.host_names[0],
            "port": first.ports["sasl_scram"],
            "scheme": "sasl_scram",
            "auth": {"mechanism": "SCRAM-SHA-512", **SCRAM_USER},
        }
    ]
    # The names do not resolve from this machine: the fetch fails at DNS,
    # a problem of the check, named with the bootstrap it went through.
    (report,) = reports(w, replies)
    (problem,) = [p for p in report.problems if p.startswith("metadata check")]
    assert problem.startswith(
        f"metadata check through {first.host_names[0]}:{first.ports['sasl_scram']} failed at dns"
    )
    # Nothing of the secret's value is logged or reported.
    assert SCRAM_USER["password"] not in canary.log.getvalue()
    assert SCRAM_USER["password"] not in report.to_detail_json()


def test_a_secret_that_is_not_an_msk_scram_secret_is_named_and_nothing_is_fetched(
    scram_onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    w, stack, view, replies = scram_onboarded
    secret = add_secret(stack, "AmazonMSK_canary", "not json", view.cluster_arn)
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)
    reports(w, replies)

    invoke(SCHEDULED)

    (call,) = canary.invocations
    assert "metadata" not in call["event"]
    (report,) = reports(w, replies)
    assert (
        f"metadata check: {secret} is not a JSON object with a username and a password "
        "(the form of an MSK SCRAM secret)"
    ) in report.problems


@pytest.mark.iam
def test_the_metadata_check_reads_its_tagged_secret_within_the_canarys_role(
    scram_onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    _, stack, view, _ = scram_onboarded
    tagged = add_secret(stack, "AmazonMSK_canary", json.dumps(SCRAM_USER), view.cluster_arn)
    add_secret(stack, "AmazonMSK_other", json.dumps(SCRAM_USER), None)
    other = view.cluster_arn.replace("/demo-cluster/", "/another-cluster/")
    add_secret(stack, "AmazonMSK_elsewhere", json.dumps(SCRAM_USER), other)
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    from msk_privatelink_dev.local.consumers import consumer_stack
    from tests.iam.recorder import recording

    template = consumer_stack("123456789012", stack.consumer.account_id, stack.consumer.region)

    with recording(lambda *_: template) as calls:
        invoke(SCHEDULED)

    assert [d.describe() for d in calls.denied()] == []
    used = {d.request.action for d in calls.decisions if d.request}
    assert {"secretsmanager:ListSecrets", "secretsmanager:GetSecretValue"} <= used
    # Only the secret tagged for this cluster is read.
    read = [
        d.request.resource
        for d in calls.decisions
        if d.request and d.request.action == "secretsmanager:GetSecretValue"
    ]
    assert read == [tagged]


def test_with_iam_enabled_the_canary_signs_a_token_for_the_clusters_region(
    scram_onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    _, stack, view, _ = scram_onboarded
    canary = Canary(stack, parameters={"ConnectivityCanaryIamAuth": "enabled"})
    assert canary.env["METADATA_IAM_AUTH"] == "enabled"
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)

    invoke(SCHEDULED)

    (call,) = canary.invocations
    (asked,) = call["event"]["metadata"]
    first = min(view.brokers, key=lambda b: b.broker_id)
    assert (asked["host"], asked["port"], asked["scheme"]) == (
        first.host_names[0],
        first.ports["sasl_iam"],
        "sasl_iam",
    )
    assert asked["auth"]["mechanism"] == "OAUTHBEARER"
    token = asked["auth"]["token"]
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    assert url.startswith(
        f"https://kafka.{view.region}.amazonaws.com/?Action=kafka-cluster%3AConnect&"
    )
    assert token not in canary.log.getvalue()


def test_a_tagged_scram_secret_wins_over_iam(
    scram_onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    _, stack, view, _ = scram_onboarded
    add_secret(stack, "AmazonMSK_canary", json.dumps(SCRAM_USER), view.cluster_arn)
    canary = Canary(stack, parameters={"ConnectivityCanaryIamAuth": "enabled"})
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)

    invoke(SCHEDULED)

    (call,) = canary.invocations
    assert [m["scheme"] for m in call["event"]["metadata"]] == ["sasl_scram"]


def test_iam_stays_off_unless_enabled(
    scram_onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    _, stack, _, _ = scram_onboarded
    canary = Canary(stack)
    assert canary.env["METADATA_IAM_AUTH"] == "disabled"
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)

    invoke(SCHEDULED)

    (call,) = canary.invocations
    assert "metadata" not in call["event"]


def test_a_metadata_answer_out_of_contract_loses_only_the_metadata_check(
    scram_onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, stack, view, replies = scram_onboarded
    add_secret(stack, "AmazonMSK_canary", json.dumps(SCRAM_USER), view.cluster_arn)
    real = prober_function.handle

    def confused(event: Any, remaining: float) -> dict[str, Any]:
        answer = real(event, remaining)
        answer["metadata"][0]["cluster"] = "arn:aws:kafka:us-east-1:123456789012:cluster/x/y"
        return answer

    monkeypatch.setattr(prober_function, "handle", confused)
    canary = Canary(stack)
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)
    reports(w, replies)

    invoke(SCHEDULED)

    (report,) = reports(w, replies)
    # The probes' results stand (every name fails at dns from this machine).
    assert report.state == "unreachable"
    assert report.probes == report.failed > 0
    assert {f.step for f in report.failures} == {"dns"}
    assert any(
        p.startswith("metadata check: MetadataContractError:") and "another cluster" in p
        for p in report.problems
    )


def test_a_secret_that_cannot_be_used_leaves_iam_to_check_the_metadata(
    scram_onboarded: tuple[World, ConsumerStack, BrokerEndpointsChanged, str],
) -> None:
    w, stack, view, replies = scram_onboarded
    secret = add_secret(stack, "AmazonMSK_canary", "not json", view.cluster_arn)
    canary = Canary(stack, parameters={"ConnectivityCanaryIamAuth": "enabled"})
    canary.deploy()
    invoke = canary.handler()
    invoke(SCHEDULED)
    reports(w, replies)

    invoke(SCHEDULED)

    (call,) = canary.invocations
    assert [m["scheme"] for m in call["event"]["metadata"]] == ["sasl_iam"]
    (report,) = reports(w, replies)
    assert any(
        p.startswith(f"metadata check: {secret} is not a JSON object") for p in report.problems
    )
