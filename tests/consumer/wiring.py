"""The consumer stack as consumer/template.yaml wires it, on the embedded AWS,
with the real consumer-sync handler.

Per consumer account and Region: the consumer bus (policy: the provider
account only), a rule sending ``source=msk-privatelink`` to the consumer-sync
function, a rule forwarding ``source=msk-privatelink.consumer`` to the
provider bus. On the provider bus: a rule collecting the answers that come
back and, for a "subscribed" stack, two rules that put the cluster's events
on its bus, standing in for the delivery function so these suites test the
consumer alone (the workflow suites and the demo run the real delivery
function, tests/workflow/test_consumer_delivery.py tests it).

moto cannot invoke a Lambda target from a rule (PutEvents fails), so the
function's rule targets an SQS queue standing in for it and ``deliver()``
hands each queued event to the handler, as Lambda's asynchronous invoke
would: one at a time (reserved concurrency 1), a raised error meaning the
invocation failed (Lambda retries it).

Two differences from AWS are modelled, because the function checks the
event's ``account`` against the provider's: moto leaves ``account`` out of
the event it hands to a target (AWS always sends it), and moto re-puts an
event forwarded to a bus in another account as if that account had sent it
(``account``, ``region``, ``id`` and ``time`` change; EventBridge keeps the
sender's). ``keep_sender`` restores AWS's behaviour for the duration of a test.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.consumer_events import (
    CONSUMER_EVENT_SOURCE,
    ConsumerEndpointsReady,
    ConsumerOffboardingRequested,
    ConsumerOnboardingRequested,
)
from msk_privatelink.kernel.events import EVENT_SOURCE, BrokerEndpointsChanged
from msk_privatelink.kernel.records import parse, to_data
from msk_privatelink_dev.local.consumers import (
    consumer_rules,
    consumer_stack,
    consumer_sync_environment,
    consumer_sync_invoker,
    create_consumer_bus,
    create_consumer_tables,
    put_bus_rules,
)
from msk_privatelink_dev.local.lambdas import environment, load_handler_module
from msk_privatelink_dev.local.workflows import create_queue as _queue
from msk_privatelink_dev.local.workflows import drain_queue as _drain
from tests.consumer.support import Consumer, Hook, add_consumer
from tests.integration.harness import BUS, World

PROVIDER_ACCOUNT = "123456789012"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAd1Example+TaskToken/Base64=="


def provider_bus_arn(w: World) -> str:
    return f"arn:aws:events:{w.aws.region}:{PROVIDER_ACCOUNT}:event-bus/{BUS}"


@dataclass
class ConsumerStack:
    """One consumer account's stack, and the provider's routing to it."""

    w: World
    consumer: Consumer
    bus_arn: str
    inbox_url: str
    replies_url: str
    log: io.StringIO = field(default_factory=io.StringIO)
    module: ModuleType | None = None

    @property
    def env(self) -> dict[str, str]:
        return consumer_sync_environment(
            PROVIDER_ACCOUNT, self.consumer.account_id, self.consumer.region
        )

    def handler(
        self, *hooks: Hook, setup: Callable[[Any], None] | None = None
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """The real handler, its AWS clients acting in the consumer account
        (through the hooks given: counters, crash injectors; ``setup`` gets
        the boto3 session first, e.g. to put a throttle in front of it)."""
        if self.module is None:
            with environment(self.env), contextlib.redirect_stdout(self.log):
                self.module = load_handler_module("consumer_sync")
        module = self.module
        consumer = self.consumer
        module._service.cache_clear()

        def clients(region: str | None = None) -> AwsClients:
            session = consumer.session(*hooks)
            if setup is not None:
                setup(session)
            return AwsClients(session, region=consumer.region)

        module.AwsClients = clients
        return consumer_sync_invoker(module, self.log, self.env)

    def infra(self) -> AwsClients:
        """Clients for the test's own plumbing (not counted as the function's calls)."""
        return AwsClients(self.consumer.session(counted=False), region=self.consumer.region)

    def queued(self) -> list[dict[str, Any]]:
        """Events the consumer bus delivered to the function, not yet handled."""
        return _drain(self.infra(), self.inbox_url)

    def deliver(self, *hooks: Hook) -> list[dict[str, Any]]:
        """Hand every queued event to the handler, one at a time."""
        invoke = self.handler(*hooks)
        return [invoke(event) for event in self.queued()]

    def replies(self) -> list[ConsumerEndpointsReady]:
        """Answers the function put on the consumer bus."""
        return [
            parse(ConsumerEndpointsReady, body["detail"])
            for body in _drain(self.infra(), self.replies_url)
        ]

    def logged(self) -> str:
        return self.log.getvalue()

    # -- what the provider's onboarding workflow sends ------------------------------

    def onboarding(
        self, view: BrokerEndpointsChanged, *, token: str = TOKEN
    ) -> ConsumerOnboardingRequested:
        s = self.consumer.settings
        return ConsumerOnboardingRequested(
            cluster_arn=view.cluster_arn,
            consumer_account_id=self.consumer.account_id,
            consumer_region=self.consumer.region,
            vpc_id=s.vpc_id,
            subnet_ids=s.subnet_ids,
            security_group_ids=s.security_group_ids,
            task_token=token,
            generation=view.generation,
            endpoints=view,
        )

    def offboarding(self, generation: int, *, token: str = TOKEN) -> ConsumerOffboardingRequested:
        return ConsumerOffboardingRequested(
            cluster_arn=self.w.cluster_arn,
            consumer_account_id=self.consumer.account_id,
            consumer_region=self.consumer.region,
            vpc_id=self.consumer.settings.vpc_id,
            task_token=token,
            generation=generation,
        )


def put_on_provider_bus(w: World, detail: Any) -> None:
    """Put a provider event on the provider bus, as the onboarding workflow does."""
    result = w.aws.client("events").put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": detail.detail_type,
                "Detail": detail.to_detail_json(),
                "EventBusName": BUS,
            }
        ]
    )
    assert result["FailedEntryCount"] == 0, result


def provider_replies_queue(w: World) -> str:
    """Answers that reached the provider bus land in this queue."""
    clients = AwsClients(w.aws.session(), region=w.aws.region)
    url, arn = _queue(clients, "provider-replies")
    clients.events.put_rule(
        Name="consumer-replies",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": [CONSUMER_EVENT_SOURCE]}),
    )
    clients.events.put_targets(
        Rule="consumer-replies", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}]
    )
    return url


def provider_replies(w: World, url: str) -> list[dict[str, Any]]:
    return _drain(AwsClients(w.aws.session(), region=w.aws.region), url)


def delivered(detail: Any, *, account: str = PROVIDER_ACCOUNT) -> dict[str, Any]:
    """A provider event as the consumer bus hands it to the function."""
    return {
        "version": "0",
        "id": "6f3c1b52-9a0e-4e43-8d0e-3b1f4c2a7d90",
        "detail-type": detail.detail_type,
        "source": EVENT_SOURCE,
        "account": account,
        "time": "2026-11-21T08:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": to_data(detail),
    }


def add_consumer_stack(
    w: World, account_id: str, region: str | None = None, *, subscribed: bool = True
) -> ConsumerStack:
    """A consumer account with its stack deployed, subscribed by the provider
    (unless ``subscribed`` is false: then events are handed to it directly)."""
    consumer = add_consumer(w, account_id, region)
    clients = AwsClients(consumer.session(counted=False), region=consumer.region)
    bus_arn = create_consumer_bus(clients, PROVIDER_ACCOUNT)
    stack = consumer_stack(PROVIDER_ACCOUNT, consumer.account_id, consumer.region)
    create_consumer_tables(clients, stack)
    inbox_url, inbox_arn = _queue(clients, "consumer-sync-invocations")
    replies_url, replies_arn = _queue(clients, "consumer-replies")
    put_bus_rules(
        clients,
        [
            *consumer_rules(
                stack,
                inbox_arn,
                provider_bus_arn(w),
            ),
            ("observe-replies", {"source": [CONSUMER_EVENT_SOURCE]}, replies_arn),
        ],
    )
    if not subscribed:
        return ConsumerStack(w, consumer, bus_arn, inbox_url, replies_url)
    # Stand-ins for the delivery function (see the module docstring).
    provider = w.aws.client("events")
    tenant = f"tenant-{account_id}-{consumer.region}"
    tenant_rules = {
        f"{tenant}-changes": {
            "source": [EVENT_SOURCE],
            "detail-type": ["BrokerEndpointsChanged"],
            "detail": {"clusterArn": [w.cluster_arn]},
        },
        f"{tenant}-requests": {
            "source": [EVENT_SOURCE],
            "detail-type": ["ConsumerOnboardingRequested", "ConsumerOffboardingRequested"],
            "detail": {"consumerAccountId": [account_id], "consumerRegion": [consumer.region]},
        },
    }
    for name, pattern in tenant_rules.items():
        provider.put_rule(Name=name, EventBusName=BUS, EventPattern=json.dumps(pattern))
        provider.put_targets(Rule=name, EventBusName=BUS, Targets=[{"Id": "c", "Arn": bus_arn}])
    return ConsumerStack(w, consumer, bus_arn, inbox_url, replies_url)
