"""Offboarding: the mirror of onboarding, ending with nothing of the consumer
on the provider side, even when the consumer never answers."""

from __future__ import annotations

import pytest

from tests.workflow.harness import SAME_REGION_ACCOUNT, Workflows

pytestmark = pytest.mark.workflow


def test_offboarding_without_an_answer_still_cleans_the_provider_side(flows: Workflows) -> None:
    region = flows.w.aws.region
    assert flows.run("onboarding", flows.onboarding_input(SAME_REGION_ACCOUNT))["status"] == (
        "SUCCEEDED"
    )
    flows.silent.add(SAME_REGION_ACCOUNT)

    result = flows.run(
        "offboarding",
        {
            "clusterArn": flows.w.cluster_arn,
            "consumerAccountId": SAME_REGION_ACCOUNT,
            "callbackTimeoutSeconds": 1,
        },
    )

    assert result["status"] == "FAILED"
    assert result["error"] == "ConsumerDidNotConfirm"
    assert flows.is_clean(SAME_REGION_ACCOUNT, region), flows.provider_side(
        SAME_REGION_ACCOUNT, region
    )
    tenant = flows.tenant(SAME_REGION_ACCOUNT)
    assert tenant is not None
    assert tenant.state == "OFFBOARDED"

    # Offboarding again is refused: there is nothing left to offboard.
    again = flows.run(
        "offboarding", {"clusterArn": flows.w.cluster_arn, "consumerAccountId": SAME_REGION_ACCOUNT}
    )
    assert again["status"] == "FAILED"
    assert again["error"] == "OffboardingRejected"
    assert "OFFBOARDED" in again["cause"]


def test_offboarding_an_unknown_account_is_refused(flows: Workflows) -> None:
    result = flows.run(
        "offboarding", {"clusterArn": flows.w.cluster_arn, "consumerAccountId": "999988887777"}
    )
    assert result["status"] == "FAILED"
    assert result["error"] == "OffboardingRejected"
    assert "absent" in result["cause"]
