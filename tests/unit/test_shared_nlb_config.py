"""shared-nlb and advertised-listener settings, and the port check."""

from __future__ import annotations

from typing import Any

import pytest

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.models import AuthScheme
from msk_privatelink.kernel.records import parse
from msk_privatelink.reconcile.config import SharedNlbConfig, dump_config, parse_config
from msk_privatelink.reconcile.ports import check_ports
from tests.factories import CLUSTER_ARN, config

SCRAM_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_admin-AbC123"


def test_shared_nlb_defaults() -> None:
    cfg = parse_config({"cluster_arn": CLUSTER_ARN, "pattern": "shared-nlb"}, "t")
    shared = cfg.shared_nlb
    assert shared.port_bases == {
        AuthScheme.PLAINTEXT: 8240,
        AuthScheme.TLS: 8440,
        AuthScheme.SASL_SCRAM: 8640,
        AuthScheme.SASL_IAM: 9000,
    }
    assert shared.bootstrap_ports[AuthScheme.SASL_IAM] == 9098
    assert shared.listener_quota == 50
    assert shared.provider_zone is True
    assert cfg.advertised_listeners.mode == "none"
    assert parse_config(dump_config(cfg), "t") == cfg


def test_one_port_base_can_move_alone() -> None:
    cfg = config(pattern="shared-nlb", shared_nlb={"port_bases": {"tls": 7000}})
    assert cfg.shared_nlb.broker_port(AuthScheme.TLS, 3) == 7003
    assert cfg.shared_nlb.broker_port(AuthScheme.SASL_IAM, 3) == 9003


def test_the_defaults_never_collide_up_to_msks_default_broker_quota() -> None:
    shared = config(pattern="shared-nlb").shared_nlb
    # MSK's default "Brokers per cluster" for KRaft clusters; the defaults
    # stay clear of the bootstrap ports up to broker 91.
    assert shared.max_brokers == 60
    check_ports(shared, tuple(AuthScheme), range(1, 92))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"advertised_listeners": {"mode": "msk-configuration"}}, "must be none with pattern"),
        (
            {
                "pattern": "shared-nlb",
                "advertised_listeners": {
                    "mode": "broker-override",
                    "scram_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:admin",
                },
            },
            "AmazonMSK_",
        ),
        (
            {
                "pattern": "shared-nlb",
                "advertised_listeners": {"mode": "broker-override", "admin_auth": "sasl_scram"},
            },
            "needs scram_secret_arn",
        ),
        (
            {
                "pattern": "shared-nlb",
                "advertised_listeners": {
                    "mode": "msk-configuration",
                    "admin_bootstrap": "b-1.x:9094",
                },
            },
            "only apply with mode broker-override",
        ),
        (
            {
                "pattern": "shared-nlb",
                "advertised_listeners": {"mode": "broker-override", "admin_bootstrap": "b-1.x"},
            },
            "host:port",
        ),
        ({"pattern": "shared-nlb", "shared_nlb": {"port_bases": {"tls": 0}}}, "1..65535"),
        ({"pattern": "shared-nlb", "shared_nlb": {"bootstrap_ports": {"tls": 70000}}}, "1..65535"),
        (
            {"pattern": "shared-nlb", "shared_nlb": {"bootstrap_ports": {"tls": 9098}}},
            "gives port 9098 to both",
        ),
        ({"pattern": "shared-nlb", "shared_nlb": {"listener_quota": 1}}, "listener_quota"),
        ({"pattern": "shared-nlb", "shared_nlb": {"port_bases": {"kerberos": 1}}}, "port_bases"),
    ],
)
def test_bad_settings_are_refused_clearly(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"cluster_arn": CLUSTER_ARN, **document}, "t")


def test_broker_override_with_scram_admin() -> None:
    cfg = config(
        pattern="shared-nlb",
        advertised_listeners={
            "mode": "broker-override",
            "admin_auth": "sasl_scram",
            "scram_secret_arn": SCRAM_SECRET,
            "admin_bootstrap": "b-1.x.example:9196,b-2.x.example:9196",
        },
    )
    assert cfg.advertised_listeners.admin_auth is AuthScheme.SASL_SCRAM


def test_collisions_name_both_users_of_the_port() -> None:
    shared = parse(SharedNlbConfig, {"port_bases": {"tls": 9090}})
    with pytest.raises(ConfigError, match=r"port 9094: bootstrap_ports.tls and broker 4 tls"):
        check_ports(shared, (AuthScheme.TLS,), (1, 2, 3, 4))
    # ... and a document with these ports is refused when it is loaded.
    with pytest.raises(ConfigError, match=r"port 9094: bootstrap_ports.tls and broker 4 tls"):
        parse_config(
            {
                "cluster_arn": CLUSTER_ARN,
                "pattern": "shared-nlb",
                "shared_nlb": {"port_bases": {"tls": 9090}},
            },
            "doc",
        )


def test_ports_past_65535_are_refused() -> None:
    shared = parse(SharedNlbConfig, {"port_bases": {"tls": 65533}})
    with pytest.raises(ConfigError, match=r"broker 3 tls -> 65536"):
        check_ports(shared, (AuthScheme.TLS,), (1, 2, 3))
    with pytest.raises(ConfigError, match=r"broker 3 tls -> 65536"):
        parse_config(
            {
                "cluster_arn": CLUSTER_ARN,
                "pattern": "shared-nlb",
                "shared_nlb": {"port_bases": {"tls": 65533}},
            },
            "doc",
        )


def test_a_port_clash_at_a_later_broker_id_is_refused_when_the_document_is_loaded() -> None:
    # With 3 brokers nothing clashes; broker 6 (after a scale-out) would take
    # the bootstrap port. Found now, not mid-incident at the scale-out.
    document = {
        "cluster_arn": "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-1",
        "pattern": "shared-nlb",
        "auth_schemes": ["sasl_iam"],
        "shared_nlb": {"port_bases": {"sasl_iam": 9000}, "bootstrap_ports": {"sasl_iam": 9006}},
    }

    with pytest.raises(ConfigError) as refused:
        parse_config(document, "orders.yaml")

    text = str(refused.value)
    assert "port 9006: bootstrap_ports.sasl_iam and broker 6 sasl_iam" in text
    assert "checked for broker ids 1..60, shared_nlb.max_brokers" in text


def test_the_default_ports_hold_for_every_reachable_broker_id() -> None:
    for schemes in (["sasl_iam"], ["tls", "sasl_iam"], None):
        document: dict[str, Any] = {
            "cluster_arn": "arn:aws:kafka:us-east-1:123456789012:cluster/orders/7f1d9c3e-1",
            "pattern": "shared-nlb",
        }
        if schemes:
            document["auth_schemes"] = schemes
        assert parse_config(document, "orders.yaml").pattern == "shared-nlb"
