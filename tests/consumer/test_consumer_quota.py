"""The consumer VPC's interface endpoint quota, read before endpoints are made."""

from __future__ import annotations

from collections import Counter

import pytest

from msk_privatelink.kernel.errors import QuotaExceededError
from tests.consumer.support import Consumer, reconcile_and_take_event
from tests.integration.harness import World

pytestmark = pytest.mark.integration


def foreign_endpoints(c: Consumer, count: int) -> None:
    ec2 = c.client("ec2")
    for _ in range(count):
        ec2.create_vpc_endpoint(
            VpcEndpointType="Interface",
            VpcId=c.settings.vpc_id,
            ServiceName="com.amazonaws.us-east-1.sqs",
            SubnetIds=list(c.settings.subnet_ids[:1]),
        )


def test_endpoints_that_do_not_fit_in_the_vpc_are_refused_before_any_write(
    accounts: tuple[World, Consumer],
) -> None:
    w, c = accounts
    event = reconcile_and_take_event(w)
    # 48 of someone else's: three brokers' endpoints make 51 of the 50 allowed.
    foreign_endpoints(c, 48)
    c.counter.reset()

    with pytest.raises(QuotaExceededError) as refused:
        c.sync(event)

    text = str(refused.value)
    assert "'Interface VPC endpoints per VPC' is 50" in text
    assert "it has 48 and this change creates 3" in text
    assert "L-29B6F2EB" in text
    assert c.counter.writes == Counter()
    assert c.counter.reads["GetServiceQuota"] == 1


def test_endpoints_that_fit_are_made_and_a_no_op_reads_no_quota(
    accounts: tuple[World, Consumer],
) -> None:
    w, c = accounts
    event = reconcile_and_take_event(w)
    foreign_endpoints(c, 47)

    outcome = c.sync(event)
    assert outcome.status == "converged"
    assert sorted(outcome.endpoints) == sorted(b.endpoint_service_name for b in event.brokers)
    c.counter.reset()

    assert c.sync(event).status == "unchanged"
    assert c.counter.reads["GetServiceQuota"] == 0
