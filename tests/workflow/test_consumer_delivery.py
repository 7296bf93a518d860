"""Delivery of provider events to consumer buses through the delivery
function: one rule on the provider bus whatever the tenants, each event on
every subscribed tenant's bus (ten per PutEvents call), a refusing bus
retried on its own and dead-lettered after a day, and the answers' bus
policy growing per account (or not at all with an organization), never per
cluster and account. Earlier versions' per-tenant rules are migrated without
losing a tenant."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.consumer_events import consumer_bus_arn
from msk_privatelink.kernel.errors import OwnershipConflictError, QuotaExceededError
from msk_privatelink.kernel.naming import ownership_tags
from msk_privatelink.onboarding.aws.subscriptions import (
    ORGANIZATION_STATEMENT_ID,
    TAG_CONSUMER_ACCOUNT,
    Subscriptions,
    account_statement_id,
    legacy_rule_name,
    legacy_statement_id,
)
from msk_privatelink.onboarding.aws.tenants import TenantRegistry, create_tenant_table
from msk_privatelink.onboarding.delivery import (
    MAX_BYTES_PER_CALL,
    MAX_ENTRIES_PER_CALL,
    ConsumerDelivery,
    DeliveryQueue,
    Envelope,
    handle,
    is_forwarded,
    retry_delay,
)
from msk_privatelink.onboarding.request import (
    InvalidRequestError,
    OnboardingRequest,
    parse_request,
)
from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.local.consumers import account_session, create_consumer_bus
from msk_privatelink_dev.local.workflows import create_queue, drain_queue, keep_sender

pytestmark = pytest.mark.integration

CLUSTER = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
OTHER_CLUSTER = CLUSTER.replace("orders", "payments")
ACCOUNT = "111122223333"
BUS = "provider"
TABLE = "tenants"
REQUEST: dict[str, Any] = {
    "clusterArn": CLUSTER,
    "consumerAccountId": ACCOUNT,
    "consumerRegion": "eu-west-1",
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "subnetIds": ["subnet-0a1b2c3d4e5f60718"],
}


@pytest.mark.parametrize("name", ["default", "payments-events", "msk-privatelink-provider"])
def test_a_bus_the_delivery_role_cannot_write_to_is_refused_before_anything_is_written(
    name: str,
) -> None:
    arn = f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/{name}"
    with pytest.raises(InvalidRequestError, match="must start with msk-privatelink-consumer"):
        parse_request(OnboardingRequest, {**REQUEST, "consumerEventBusArn": arn})


def test_a_bus_named_with_the_consumer_prefix_is_accepted() -> None:
    arn = f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/msk-privatelink-consumer-payments"
    request = parse_request(OnboardingRequest, {**REQUEST, "consumerEventBusArn": arn})
    assert request.bus_arn == arn


# -- the embedded provider and consumers -------------------------------------------


@dataclass
class Consumer:
    account_id: str
    region: str
    clients: AwsClients
    inbox_url: str

    def received(self) -> list[dict[str, Any]]:
        return drain_queue(self.clients, self.inbox_url)


class Provider:
    def __init__(self, aws: EmbeddedAws) -> None:
        self.aws = aws
        self.clients = AwsClients(aws.session(), region=aws.region)
        self.clients.events.create_event_bus(Name=BUS)
        create_tenant_table(self.clients.dynamodb, TABLE)
        self.tenants = TenantRegistry(self.clients.dynamodb, TABLE)
        self.calls: Counter[str] = Counter()
        self.consumers: dict[str, Consumer] = {}

    def events_in(self, region: str) -> Any:
        client = AwsClients(self.aws.session(), region=region).events
        client.meta.events.register(
            "before-call.events.PutEvents", lambda **_: self.calls.update([region])
        )
        return client

    def delivery(self) -> ConsumerDelivery:
        return ConsumerDelivery(self.tenants, self.events_in)

    def consumer(self, account_id: str, region: str, *, admits_provider: bool = True) -> Consumer:
        credentials = self.aws.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/consumer", RoleSessionName="consumer"
        )["Credentials"]
        session = account_session(
            {k: str(credentials[k]) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")},
            region,
        )
        clients = AwsClients(session, region=region)
        if admits_provider:
            create_consumer_bus(clients, self.aws.account_id)
        else:
            clients.events.create_event_bus(Name="msk-privatelink-consumer")
        inbox_url, inbox_arn = create_queue(clients, "inbox")
        clients.events.put_rule(
            Name="everything",
            EventBusName="msk-privatelink-consumer",
            EventPattern=json.dumps({"source": ["msk-privatelink"]}),
        )
        clients.events.put_targets(
            Rule="everything",
            EventBusName="msk-privatelink-consumer",
            Targets=[{"Id": "inbox", "Arn": inbox_arn}],
        )
        consumer = Consumer(account_id, region, clients, inbox_url)
        self.consumers[account_id] = consumer
        return consumer

    def tenant(self, consumer: Consumer, state: str = "ACTIVE", cluster_arn: str = CLUSTER) -> None:
        self.tenants.register(
            cluster_arn=cluster_arn,
            account_id=consumer.account_id,
            region=consumer.region,
            vpc_id="vpc-1",
            consumer_bus_arn=consumer_bus_arn(consumer.account_id, consumer.region),
            request_digest="d",
            request="{}",
        )
        path = {
            "PENDING": [],
            "ACTIVE": ["ACTIVE"],
            "FAILED": ["FAILED"],
            "OFFBOARDING": ["ACTIVE", "OFFBOARDING"],
            "OFFBOARDED": ["ACTIVE", "OFFBOARDING", "OFFBOARDED"],
        }[state]
        seen = "PENDING"
        for to in path:
            self.tenants.transition(
                cluster_arn, consumer.account_id, allowed_from=frozenset({seen}), to=to
            )
            seen = to


def changed(cluster_arn: str = CLUSTER, **detail: Any) -> dict[str, Any]:
    return {
        "id": "e1",
        "account": "123456789012",
        "source": "msk-privatelink",
        "detail-type": "BrokerEndpointsChanged",
        "time": datetime.now(UTC).isoformat(),
        "region": "us-east-1",
        "resources": [cluster_arn],
        "detail": {"clusterArn": cluster_arn, "generation": 7, **detail},
    }


@pytest.fixture
def provider() -> Iterator[Provider]:
    # keep_sender: what a queue target receives carries the event's account.
    with EmbeddedAws() as aws, keep_sender():
        yield Provider(aws)


def account(n: int) -> str:
    return f"{210000000000 + n}"


# -- fan-out ------------------------------------------------------------------------


def test_one_event_reaches_every_subscribed_tenant_ten_per_call_and_no_one_else(
    provider: Provider,
) -> None:
    here = [provider.consumer(account(n), "us-east-1") for n in range(23)]
    there = [provider.consumer(account(100 + n), "eu-west-1") for n in range(4)]
    for c in here + there:
        provider.tenant(c)
    gone = provider.consumer(account(200), "us-east-1")
    provider.tenant(gone, "OFFBOARDED")
    failed = provider.consumer(account(201), "us-east-1")
    provider.tenant(failed, "FAILED")
    leaving = provider.consumer(account(202), "us-east-1")
    provider.tenant(leaving, "OFFBOARDING")
    elsewhere = provider.consumer(account(203), "us-east-1")
    provider.tenant(elsewhere, cluster_arn=OTHER_CLUSTER)

    result = provider.delivery().deliver(changed())

    assert not result.failed
    assert len(result.delivered) == 23 + 4 + 1
    for c in [*here, *there, leaving]:
        [event] = c.received()
        assert event["detail-type"] == "BrokerEndpointsChanged"
        assert event["detail"]["generation"] == 7
        # EventBridge stamps the sender: the consumer checks it is its provider.
        assert event["account"] == provider.aws.account_id
    for c in (gone, failed, elsewhere):
        assert c.received() == []
    # Ten entries per PutEvents call, each call in the buses' own Region.
    assert provider.calls == Counter({"us-east-1": 3, "eu-west-1": 1})
    assert result.calls == 4


def test_a_request_for_one_account_reaches_that_tenant_only(provider: Provider) -> None:
    one, other = provider.consumer(ACCOUNT, "us-east-1"), provider.consumer(account(1), "us-east-1")
    provider.tenant(one, "PENDING")
    provider.tenant(other)
    event = {
        **changed(),
        "detail-type": "ConsumerOnboardingRequested",
        "detail": {"clusterArn": CLUSTER, "consumerAccountId": ACCOUNT},
    }
    result = provider.delivery().deliver(event)
    assert [r.account_id for r in result.delivered] == [ACCOUNT]
    assert len(one.received()) == 1
    assert other.received() == []


def test_a_refusing_bus_does_not_hold_back_the_others_and_is_retried_alone(
    provider: Provider,
) -> None:
    good = [provider.consumer(account(n), "us-east-1") for n in range(3)]
    bad = provider.consumer(account(9), "us-east-1", admits_provider=False)
    for c in [*good, bad]:
        provider.tenant(c)
    sent: list[tuple[str, str, int]] = []
    queue = DeliveryQueue(lambda url, body, delay: sent.append((url, body, delay)), "q", "dlq")

    handled = handle(provider.delivery(), queue, json.dumps(changed()))

    assert sorted(r.account_id for r in handled.result.delivered) == [c.account_id for c in good]
    assert all(len(c.received()) == 1 for c in good)
    [failure] = handled.result.failed
    assert failure.recipient.account_id == bad.account_id
    assert "AccessDeniedException" in failure.error
    # Back on the queue for the refusing tenant only, after a delay.
    [(url, body, delay)] = sent
    retry = Envelope.from_body(body)
    assert (url, delay, retry.attempt) == ("q", retry_delay(1), 1)
    assert retry.only == (f"{bad.account_id}/us-east-1",)

    # Once the bus admits the provider, the retry reaches it, and only it.
    bad.clients.events.put_permission(
        EventBusName="msk-privatelink-consumer",
        StatementId="provider",
        Action="events:PutEvents",
        Principal=provider.aws.account_id,
    )
    sent.clear()
    again = handle(provider.delivery(), queue, body)
    assert [r.account_id for r in again.result.delivered] == [bad.account_id]
    assert len(bad.received()) == 1
    assert all(c.received() == [] for c in good)
    assert sent == []


def test_what_is_still_undeliverable_after_a_day_goes_to_the_dead_letter_queue(
    provider: Provider,
) -> None:
    bad = provider.consumer(account(9), "us-east-1", admits_provider=False)
    provider.tenant(bad)
    sent: list[tuple[str, str, int]] = []
    queue = DeliveryQueue(lambda url, body, delay: sent.append((url, body, delay)), "q", "dlq")
    old = changed()
    old["time"] = (datetime.now(UTC) - timedelta(hours=23, minutes=59)).isoformat()
    envelope = Envelope(old, (f"{bad.account_id}/us-east-1",), 12)

    handled = handle(provider.delivery(), queue, envelope.to_body())

    assert handled.dead_lettered == 1
    [(url, body, _)] = sent
    letter = json.loads(body)
    assert url == "dlq"
    assert letter["undelivered"][0]["to"] == f"{bad.account_id}/us-east-1"
    assert "AccessDeniedException" in letter["undelivered"][0]["error"]
    assert letter["event"]["detail"]["clusterArn"] == CLUSTER


def test_a_tenant_offboarded_before_its_retry_is_not_retried(provider: Provider) -> None:
    bad = provider.consumer(account(9), "us-east-1", admits_provider=False)
    provider.tenant(bad, "OFFBOARDED")
    envelope = Envelope(changed(), (f"{bad.account_id}/us-east-1",), 3)
    result = provider.delivery().deliver(envelope.event, envelope.only)
    assert (result.delivered, result.failed, result.calls) == ([], [], 0)


def test_large_events_are_sent_in_fewer_entries_per_call_within_the_request_size(
    provider: Provider,
) -> None:
    consumers = [provider.consumer(account(n), "us-east-1") for n in range(6)]
    for c in consumers:
        provider.tenant(c)
    # About 62 KB of detail: four entries fit in 256 KB, not ten.
    big = changed(brokers=[{"id": n, "host": "b" * 600} for n in range(100)])
    size = len(json.dumps(big["detail"], separators=(",", ":")))
    assert MAX_BYTES_PER_CALL // size == 4 < MAX_ENTRIES_PER_CALL
    result = provider.delivery().deliver(big)
    assert len(result.delivered) == 6
    assert all(len(c.received()) == 1 for c in consumers)
    assert provider.calls == Counter({"us-east-1": 2})


@pytest.mark.parametrize(
    ("detail_type", "forwarded"),
    [
        ("BrokerEndpointsChanged", True),
        ("ConsumerOnboardingRequested", True),
        ("ConsumerOffboardingRequested", True),
        ("ConsumerOnboarded", False),
        ("ConsumerEndpointsReady", False),
    ],
)
def test_the_template_rule_and_the_function_agree_on_what_consumers_get(
    detail_type: str, forwarded: bool
) -> None:
    from moto.events.models import EventPattern

    from msk_privatelink_dev.local.stack import PROVIDER_TEMPLATE, Stack

    stack = Stack(PROVIDER_TEMPLATE, "s", "123456789012", "us-east-1")
    pattern = EventPattern.load(json.dumps(stack.event_patterns()["ConsumerDeliveryRule"]))
    event = {**changed(), "detail-type": detail_type}
    assert pattern.matches_event(event) is forwarded
    assert is_forwarded(event) is forwarded


# -- answers: the provider bus policy -------------------------------------------------


def test_the_bus_policy_grows_per_account_not_per_cluster(provider: Provider) -> None:
    subscriptions = Subscriptions(provider.clients.events, BUS)
    for _ in range(2):  # a resumed step admits again: nothing changes
        subscriptions.admit(ACCOUNT)
    size = subscriptions.policy_size()
    subscriptions.admit(ACCOUNT)  # the same account for another cluster
    assert subscriptions.policy_size() == size
    assert subscriptions.statement_ids() == {account_statement_id(ACCOUNT)}
    subscriptions.revoke(ACCOUNT)
    subscriptions.revoke(ACCOUNT)  # absent is done
    assert subscriptions.statement_ids() == set()


def test_an_organization_is_admitted_in_one_statement_whatever_the_accounts(
    provider: Provider,
) -> None:
    subscriptions = Subscriptions(provider.clients.events, BUS, "o-a1b2c3d4e5")
    subscriptions.admit(account(0))
    size = subscriptions.policy_size()
    for n in range(1, 40):
        subscriptions.admit(account(n))
    assert subscriptions.policy_size() == size
    assert subscriptions.statement_ids() == {ORGANIZATION_STATEMENT_ID}
    [statement] = json.loads(provider.clients.events.describe_event_bus(Name=BUS)["Policy"])[
        "Statement"
    ]
    assert statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == "o-a1b2c3d4e5"


def test_a_full_bus_policy_is_a_terminal_error_naming_the_quota_and_the_way_out(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = provider.clients.events

    def full(**_: Any) -> Any:
        # The error botocore's events model gives PutPermission for this case.
        raise ClientError(
            {"Error": {"Code": "PolicyLengthExceededException", "Message": "too long"}},
            "PutPermission",
        )

    monkeypatch.setattr(events, "put_permission", full)
    with pytest.raises(QuotaExceededError, match="event bus policy size") as caught:
        Subscriptions(events, BUS).admit(ACCOUNT)
    assert "ConsumerOrganizationId" in str(caught.value)
    assert not caught.value.retryable


# -- migration of earlier versions' subscriptions ----------------------------------------


def legacy_subscribe(provider: Provider, consumer: Consumer, cluster_arn: str = CLUSTER) -> None:
    """What earlier versions' onboarding wrote for a tenant."""
    events = provider.clients.events
    name = legacy_rule_name(cluster_arn, consumer.account_id, consumer.region)
    events.put_rule(
        Name=name,
        EventBusName=BUS,
        EventPattern=json.dumps(
            {
                "source": ["msk-privatelink"],
                "detail": {"clusterArn": [cluster_arn]},
            }
        ),
        Tags=[
            {"Key": k, "Value": v}
            for k, v in {
                **ownership_tags(cluster_arn),
                TAG_CONSUMER_ACCOUNT: consumer.account_id,
            }.items()
        ],
    )
    events.put_targets(
        Rule=name,
        EventBusName=BUS,
        Targets=[
            {"Id": "consumer-bus", "Arn": consumer_bus_arn(consumer.account_id, consumer.region)}
        ],
    )
    events.put_permission(
        EventBusName=BUS,
        StatementId=legacy_statement_id(cluster_arn, consumer.account_id),
        Action="events:PutEvents",
        Principal=consumer.account_id,
    )


def test_migration_moves_every_tenant_and_loses_none(provider: Provider) -> None:
    consumers = [provider.consumer(account(n), "us-east-1") for n in range(12)]
    for c in consumers:
        provider.tenant(c)
        legacy_subscribe(provider, c)
    # Someone else's rule with our prefix but without our tags is left alone.
    foreign = legacy_rule_name(CLUSTER, account(99), "us-east-1")
    provider.clients.events.put_rule(
        Name=foreign, EventBusName=BUS, EventPattern=json.dumps({"source": ["x"]})
    )
    subscriptions = Subscriptions(provider.clients.events, BUS)

    report = subscriptions.migrate_legacy(CLUSTER)

    assert sorted(report.accounts_admitted) == sorted(c.account_id for c in consumers)
    assert len(report.rules_removed) == 12
    # moto drops a principal's earlier statement when PutPermission names it
    # again (what AWS does then is not documented): the end state is the
    # same either way, one statement per account and none per cluster.
    rules = {r["Name"] for r in provider.clients.events.list_rules(EventBusName=BUS)["Rules"]}
    assert rules == {foreign}
    assert subscriptions.statement_ids() == {account_statement_id(c.account_id) for c in consumers}
    # Every tenant still hears the cluster, once.
    result = provider.delivery().deliver(changed())
    assert len(result.delivered) == 12
    assert all(len(c.received()) == 1 for c in consumers)
    # Nothing left to do on a second run.
    again = subscriptions.migrate_legacy(CLUSTER)
    assert (again.rules_removed, again.statements_removed) == ([], [])


def test_migration_interrupted_after_a_rule_went_finishes_on_the_next_run(
    provider: Provider,
) -> None:
    consumer = provider.consumer(ACCOUNT, "us-east-1")
    provider.tenant(consumer)
    legacy_subscribe(provider, consumer)
    events = provider.clients.events
    name = legacy_rule_name(CLUSTER, ACCOUNT, "us-east-1")
    events.remove_targets(Rule=name, EventBusName=BUS, Ids=["consumer-bus"])
    events.delete_rule(Name=name, EventBusName=BUS)  # the run stopped here

    report = Subscriptions(events, BUS).migrate_legacy(CLUSTER)

    assert report.accounts_admitted == [ACCOUNT]
    assert Subscriptions(events, BUS).statement_ids() == {account_statement_id(ACCOUNT)}


def test_a_rule_with_the_legacy_name_but_not_ours_stops_the_tenants_subscribe(
    provider: Provider,
) -> None:
    name = legacy_rule_name(CLUSTER, ACCOUNT, "us-east-1")
    provider.clients.events.put_rule(
        Name=name, EventBusName=BUS, EventPattern=json.dumps({"source": ["x"]})
    )
    with pytest.raises(OwnershipConflictError, match="without this project's tags"):
        Subscriptions(provider.clients.events, BUS).remove_legacy(CLUSTER, ACCOUNT, "us-east-1")
    assert provider.clients.events.describe_rule(Name=name, EventBusName=BUS)["Name"] == name


def test_docs_scale_states_the_measured_statement_size_and_the_accounts_it_allows(
    provider: Provider,
) -> None:
    from msk_privatelink.kernel.quotas import BY_KEY
    from msk_privatelink_dev.local.lambdas import REPO_ROOT

    # The provider bus as the stack names it, in the stack's Region.
    events = provider.clients.events
    events.create_event_bus(Name="msk-privatelink-msk-privatelink")
    subscriptions = Subscriptions(events, "msk-privatelink-msk-privatelink")
    sizes = []
    for n in range(3):
        subscriptions.admit(account(n))
        sizes.append(subscriptions.policy_size())
    growth = sizes[2] - sizes[1]
    assert sizes[1] - sizes[0] == growth
    accounts = BY_KEY["bus_policy_size"].default // growth
    doc = (REPO_ROOT / "docs" / "scale.md").read_text(encoding="utf-8")
    assert f"about {growth} characters" in doc
    assert f"about {accounts} accounts per stack" in doc
