"""Shared arrangements of the consumer suites."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from msk_privatelink.kernel.events import BrokerEndpointsChanged
from msk_privatelink_dev.local.workflows import keep_sender
from tests.consumer.support import Consumer, reconcile_and_take_event, two_accounts
from tests.consumer.wiring import (
    ConsumerStack,
    add_consumer_stack,
    provider_replies_queue,
)
from tests.integration.harness import World, world

SAME_REGION_ACCOUNT = "111122223333"
OTHER_REGION_ACCOUNT = "444455556666"
OTHER_REGION = "eu-west-1"


@pytest.fixture
def accounts() -> Iterator[tuple[World, Consumer]]:
    """The provider and one consumer account, no stack: the core on its own."""
    with two_accounts() as pair:
        yield pair


Synced = tuple[World, Consumer, BrokerEndpointsChanged]


@pytest.fixture
def synced(accounts: tuple[World, Consumer]) -> Synced:
    """The provider's first view, already followed by the consumer."""
    w, c = accounts
    event = reconcile_and_take_event(w)
    c.sync(event)
    return w, c, event


@dataclass
class Deployment:
    """The provider and two consumer stacks: one in the provider's Region, one
    in another Region (cross-Region PrivateLink)."""

    w: World
    near: ConsumerStack
    far: ConsumerStack
    provider_replies_url: str

    @property
    def stacks(self) -> tuple[ConsumerStack, ConsumerStack]:
        return (self.near, self.far)


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    with keep_sender(), world() as w:
        yield Deployment(
            w,
            add_consumer_stack(w, SAME_REGION_ACCOUNT),
            add_consumer_stack(w, OTHER_REGION_ACCOUNT, OTHER_REGION),
            provider_replies_queue(w),
        )
