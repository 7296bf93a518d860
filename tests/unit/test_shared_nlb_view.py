"""BrokerEndpointsChanged for both patterns, built from actual state."""

from __future__ import annotations

import hashlib
import json

from msk_privatelink.kernel.models import AuthScheme
from msk_privatelink.kernel.records import to_data
from msk_privatelink.reconcile.desired import build_desired
from msk_privatelink.reconcile.view import endpoints_view
from tests.factories import actual_from, config, inventory

TWO = frozenset({AuthScheme.TLS, AuthScheme.SASL_IAM})


def test_shared_view_has_one_service_per_broker_ports_and_the_bootstrap_block() -> None:
    inv = inventory(schemes=TWO)
    view = endpoints_view(inv, actual_from(build_desired(config(pattern="shared-nlb"), inv)))

    assert view.pattern == "shared-nlb"
    assert [(b.broker_id, b.ports) for b in view.brokers] == [
        (i, {"sasl_iam": 9000 + i, "tls": 8440 + i}) for i in (1, 2, 3)
    ]
    assert len({b.endpoint_service_id for b in view.brokers}) == 1
    assert view.bootstrap is not None
    assert view.bootstrap.ports == {"sasl_iam": 9098, "tls": 9094}
    assert view.bootstrap.endpoint_service_id == view.brokers[0].endpoint_service_id
    detail = json.loads(view.to_detail_json())
    assert detail["bootstrap"]["endpointServiceName"].startswith("com.amazonaws.vpce.")


def test_per_broker_view_has_a_null_bootstrap_and_keeps_its_fingerprint() -> None:
    inv = inventory()
    view = endpoints_view(inv, actual_from(build_desired(config(), inv)))

    assert view.pattern == "nlb-per-broker"
    assert json.loads(view.to_detail_json())["bootstrap"] is None
    assert [b.ports for b in view.brokers] == [{"sasl_iam": 9098}] * 3
    # The fingerprint is what it was before the bootstrap field existed: no
    # re-publish for nlb-per-broker clusters after an upgrade.
    before = {k: v for k, v in to_data(view).items() if k not in {"generation", "bootstrap"}}
    assert (
        view.fingerprint()
        == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    )
