"""What the provider keeps of a consumer's connectivity report (pure): the
stored time's form and bounds, the summary's limits, the DynamoDB attribute
both ways, and readers of the tenant item never stopped by it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from msk_privatelink.kernel.consumer_events import BrokerConnectivity, ConsumerConnectivityReport
from msk_privatelink.onboarding.aws.tenants import Tenant
from msk_privatelink.onboarding.connectivity import (
    MAX_STORED_FAILURES,
    MAX_STORED_PENDING,
    MAX_STORED_PROBLEMS,
    Connectivity,
    stored_time,
    summarise,
)

CLUSTER = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-2b4a-4f7e-9a51-6c0e2d8b1a47-2"
)
ACCOUNT = "111122223333"
NOW = datetime(2026, 12, 5, 18, 10, tzinfo=UTC)


def report(**changes: Any) -> ConsumerConnectivityReport:
    fields: dict[str, Any] = {
        "cluster_arn": CLUSTER,
        "consumer_account_id": ACCOUNT,
        "consumer_region": "us-east-1",
        "vpc_id": "vpc-0a1b2c3d4e5f60718",
        "generation": 4,
        "checked_at": "2026-12-05T18:10:00+00:00",
        "state": "unreachable",
        "probes": 60,
        "failed": 40,
        "failures": tuple(
            BrokerConnectivity(broker=str(b), scheme="tls", port=9094, step="tls", detail="d")
            for b in range(1, 41)
        ),
        "pending": tuple(f"{b}" * 20 for b in range(1, 31)),
        "problems": tuple(f"problem {n}" for n in range(10)),
    }
    return ConsumerConnectivityReport(**(fields | changes))


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-12-05T18:10:00+00:00", "2026-12-05T18:10:00.000+00:00"),
        ("2026-12-05T18:10:00Z", "2026-12-05T18:10:00.000+00:00"),
        ("2026-12-05T19:10:00.123456+01:00", "2026-12-05T18:10:00.123+00:00"),
        ("2026-12-05T18:24:59+00:00", "2026-12-05T18:24:59.000+00:00"),
    ],
)
def test_checked_at_is_stored_in_one_fixed_width_utc_form(sent: str, stored: str) -> None:
    assert stored_time(sent, NOW) == stored


def test_string_order_of_stored_times_is_time_order() -> None:
    times = [NOW + timedelta(milliseconds=n) for n in (0, 1, 999, 1000, 59_000, 3_600_000)]
    stored = [stored_time(t.astimezone(UTC).isoformat(), NOW + timedelta(hours=2)) for t in times]
    assert stored == sorted(stored)
    assert len({len(s) for s in stored}) == 1


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        ("2026-12-05T18:10:00", "has no time zone"),
        ("2026-12-05T18:25:01+00:00", "ahead of the provider's clock"),
        ("yesterday at noon, more or less", "Invalid isoformat"),
    ],
)
def test_a_time_without_a_zone_or_too_far_ahead_is_refused(sent: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        stored_time(sent, NOW)


def test_the_summary_is_bounded_whatever_the_report_holds() -> None:
    summary = summarise(report(), NOW)

    assert (summary.state, summary.generation, summary.probes, summary.failed) == (
        "unreachable",
        4,
        60,
        40,
    )
    assert [f.broker for f in summary.failures] == [
        str(b) for b in range(1, MAX_STORED_FAILURES + 1)
    ]
    assert len(summary.pending) == MAX_STORED_PENDING
    assert {len(p) for p in summary.pending} == {16}
    assert summary.problems == tuple(f"problem {n}" for n in range(MAX_STORED_PROBLEMS))


def test_the_attribute_reads_back_as_written_and_as_json() -> None:
    summary = summarise(report(), NOW)

    assert Connectivity.from_attribute(summary.to_attribute()) == summary
    document = summary.to_document()
    assert document["checkedAt"] == "2026-12-05T18:10:00.000+00:00"
    assert document["failures"][0] == {
        "broker": "1",
        "scheme": "tls",
        "port": 9094,
        "step": "tls",
        "detail": "d",
    }
    assert set(document) == set(summary.to_attribute()["M"])


@pytest.mark.parametrize(
    "value",
    [None, {"S": "reachable"}, {"M": {}}, {"M": {"state": {"S": "x"}, "generation": {"N": "a"}}}],
)
def test_a_tenant_item_with_an_unreadable_connectivity_is_still_read(value: Any) -> None:
    item = {
        "clusterArn": {"S": CLUSTER},
        "consumerAccountId": {"S": ACCOUNT},
        "state": {"S": "ACTIVE"},
        **({} if value is None else {"connectivity": value}),
    }

    tenant = Tenant.from_item(item)

    assert tenant.state == "ACTIVE"
    assert tenant.connectivity is None
