from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from msk_privatelink_dev.embedded import EmbeddedAws, Network


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


@pytest.fixture
def network(aws: EmbeddedAws) -> Network:
    return aws.create_network(subnet_count=3)


@pytest.fixture
def kafka(aws: EmbeddedAws) -> Any:
    return aws.client("kafka")


@pytest.fixture
def ec2(aws: EmbeddedAws) -> Any:
    return aws.client("ec2")
