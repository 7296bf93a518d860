"""One broker's failure does not hold back the others' paths (embedded AWS)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from msk_privatelink.kernel.errors import MskPrivateLinkError, QuotaExceededError
from msk_privatelink.kernel.naming import load_balancer_name
from tests.consumer.support import events_of
from tests.integration.harness import world

pytestmark = pytest.mark.integration


def failing_create_of(name: str, code: str) -> tuple[str, Any]:
    def before(params: dict[str, Any], **_: Any) -> None:
        if params.get("Name") == name:
            raise ClientError(
                {"Error": {"Code": code, "Message": "injected"}}, "CreateLoadBalancer"
            )

    return ("before-parameter-build.elastic-load-balancing-v2.CreateLoadBalancer", before)


@pytest.mark.parametrize(
    ("code", "terminal"), [("ServiceUnavailable", False), ("TooManyLoadBalancers", True)]
)
def test_a_broker_whose_load_balancer_fails_holds_back_no_other(code: str, terminal: bool) -> None:
    with world() as w:
        w.reconcile()
        events_of(w)  # the first view
        w.aws.msk.scale(w.cluster_arn, 6)
        broken = load_balancer_name(w.cluster_arn, 5)
        reconciler = w.reconciler(w.clients(failing_create_of(broken, code)))

        with pytest.raises(MskPrivateLinkError) as failed:
            reconciler.reconcile(w.config)

        assert isinstance(failed.value, QuotaExceededError) is terminal
        assert failed.value.retryable is not terminal
        # Brokers 4 and 6 have their whole path, and consumers were told.
        names = {
            lb["LoadBalancerName"]
            for lb in w.aws.client("elbv2").describe_load_balancers()["LoadBalancers"]
        }
        assert names == {load_balancer_name(w.cluster_arn, b) for b in (1, 2, 3, 4, 6)}
        (view,) = events_of(w)
        assert [b.broker_id for b in view.brokers] == [1, 2, 3, 4, 6]

        # The next run, without the fault, completes broker 5 alone.
        assert w.reconcile().status == "converged"
        (after,) = events_of(w)
        assert [b.broker_id for b in after.brokers] == [1, 2, 3, 4, 5, 6]
        assert w.residual_plan_size() == 0


def test_a_failure_of_what_serves_the_whole_cluster_stops_the_run() -> None:
    from msk_privatelink.kernel.naming import shared_load_balancer_name

    with world(config_overrides={"pattern": "shared-nlb"}) as w:
        shared = shared_load_balancer_name(w.cluster_arn)
        reconciler = w.reconciler(w.clients(failing_create_of(shared, "ServiceUnavailable")))
        w.counter.reset()

        with pytest.raises(MskPrivateLinkError):
            reconciler.reconcile(w.config)

        # Target groups (created first) exist; nothing was built on the missing balancer.
        assert not w.counter.writes["CreateListener"]
        assert not events_of(w)
