"""The Describe pacer: a token bucket on botocore's before-call event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from msk_privatelink.aws.pacing import DescribePacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


@pytest.fixture
def elbv2() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client(
            "elbv2",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def test_describe_calls_past_the_burst_wait_for_the_rate(elbv2: Any) -> None:
    time = FakeTime()
    pacer = DescribePacer(2.5, burst=10, clock=time.clock, sleep=time.sleep)
    pacer.attach(elbv2)

    with pacer.active(60):
        for _ in range(30):
            elbv2.describe_target_groups()

    # 10 at once, then 20 at 2.5 a second.
    assert time.slept == pytest.approx(8.0)
    assert pacer.paced_calls == 30


def test_nothing_waits_outside_a_paced_run_or_for_writes(elbv2: Any) -> None:
    time = FakeTime()
    pacer = DescribePacer(1, burst=1, clock=time.clock, sleep=time.sleep)
    pacer.attach(elbv2)

    for _ in range(3):
        elbv2.describe_target_groups()
    with pacer.active(60):
        elbv2.describe_target_groups()
        for _ in range(2):  # writes: never paced (these fail, after the call was made)
            with pytest.raises(ClientError):
                elbv2.create_target_group(Name="tg", Protocol="TCP", Port=1, VpcId="vpc-1")
        elbv2.describe_target_groups()

    assert time.slept == pytest.approx(1.0)  # only the second paced Describe


def test_pacing_stops_when_its_time_is_spent(elbv2: Any) -> None:
    time = FakeTime()
    pacer = DescribePacer(1, burst=1, clock=time.clock, sleep=time.sleep)
    pacer.attach(elbv2)

    with pacer.active(5):
        for _ in range(20):
            elbv2.describe_target_groups()

    # Paced for 5 seconds, then at the API's own pace.
    assert time.slept == pytest.approx(5.0)


def test_a_pacer_needs_a_rate() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        DescribePacer(0, burst=1)
