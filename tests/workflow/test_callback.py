"""The task callback answers only the tenant's own account with the token its
workflow waits on; everything else is dropped without touching the workflow."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from msk_privatelink.kernel.consumer_events import CONSUMER_EVENT_SOURCE, ConsumerEndpointsReady
from msk_privatelink.kernel.records import replace
from msk_privatelink_dev.local.lambdas import FakeContext
from tests.workflow.harness import (
    OTHER_REGION,
    OTHER_REGION_ACCOUNT,
    SAME_REGION_ACCOUNT,
    Workflows,
)

pytestmark = pytest.mark.workflow


def reply_event(account: str, detail: ConsumerEndpointsReady) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "e1",
        "detail-type": "ConsumerEndpointsReady",
        "source": CONSUMER_EVENT_SOURCE,
        "account": account,
        "time": "2026-11-21T00:00:00Z",
        "region": OTHER_REGION,
        "resources": [],
        "detail": json.loads(detail.to_detail_json()),
    }


def test_only_the_tenant_with_its_token_completes_the_wait(flows: Workflows) -> None:
    stack = flows.stacks[OTHER_REGION_ACCOUNT]
    flows.silent.add(OTHER_REGION_ACCOUNT)
    execution = flows.start("onboarding", flows.onboarding_input(OTHER_REGION_ACCOUNT))
    # The request reaches the consumer bus; keep it instead of answering.
    deadline = time.monotonic() + 60
    requests: list[dict[str, Any]] = []
    while not requests and time.monotonic() < deadline:
        flows.delivery.run()
        requests = [e for e in stack.queued() if e["detail-type"] == "ConsumerOnboardingRequested"]
        time.sleep(0.05)
    [request] = requests
    token = request["detail"]["taskToken"]
    tenant = flows.tenant(OTHER_REGION_ACCOUNT)
    assert tenant is not None
    assert tenant.token_hash
    assert token not in json.dumps(tenant.__dict__)  # only its hash is stored
    ready = ConsumerEndpointsReady(
        cluster_arn=flows.w.cluster_arn,
        consumer_account_id=OTHER_REGION_ACCOUNT,
        consumer_region=OTHER_REGION,
        vpc_id=request["detail"]["vpcId"],
        generation=request["detail"]["generation"],
        state="ready",
        task_token=token,
        endpoints=(),
    )

    def answer(account: str, detail: ConsumerEndpointsReady) -> dict[str, Any]:
        result: dict[str, Any] = flows.callback.lambda_handler(
            reply_event(account, detail), FakeContext("task-callback")
        )
        return result

    # Another onboarded account speaking for this tenant, a forged token,
    # a report without a token: all dropped.
    assert answer(SAME_REGION_ACCOUNT, ready)["verdict"] == "ignored"
    forged = replace(ready, task_token=token[:-4] + "AAAA")
    assert answer(OTHER_REGION_ACCOUNT, forged)["verdict"] == "ignored"
    assert answer(OTHER_REGION_ACCOUNT, replace(ready, task_token=None))["verdict"] == "ignored"
    sfn = flows.w.aws.client("stepfunctions")
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    # The real consumer answers the kept request: the workflow completes.
    stack.handler()(request)
    flows.silent.discard(OTHER_REGION_ACCOUNT)
    result = flows.wait(execution)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert [c["verdict"] for c in flows.callbacks] == ["success"]
