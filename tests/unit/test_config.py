"""Configuration document validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.reconcile.config import dump_config, load_config_file, parse_config
from tests.factories import CLUSTER_ARN


def test_minimal_document_gets_safe_defaults() -> None:
    cfg = parse_config({"cluster_arn": CLUSTER_ARN}, "test")
    assert cfg.pattern == "nlb-per-broker"
    assert cfg.acceptance_required is True
    assert cfg.auth_schemes is None
    assert cfg.allowed_principals == ()
    assert cfg.guard.max_broker_removal_ratio == 0.5


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"cluster_arn": "arn:aws:kafka:us-east-1:1:cluster/x"}, "not an MSK cluster ARN"),
        ({"cluster_arn": CLUSTER_ARN, "pattern": "magic"}, "pattern"),
        ({"cluster_arn": CLUSTER_ARN, "allowed_principals": ["*"]}, "not an IAM"),
        ({"cluster_arn": CLUSTER_ARN, "supported_regions": ["mars-1"]}, "not an AWS Region"),
        ({"cluster_arn": CLUSTER_ARN, "auth_schemes": []}, "at least one"),
        ({"cluster_arn": CLUSTER_ARN, "auth_schemes": ["kerberos"]}, "auth_schemes"),
        ({"cluster_arn": CLUSTER_ARN, "guard": {"max_broker_removal_ratio": 0}}, "guard"),
        ({"cluster_arn": CLUSTER_ARN, "subnet_ids": ["sn-1"]}, "subnet_ids"),
        ({"cluster_arn": CLUSTER_ARN, "surprise": 1}, "surprise"),
        ({}, "cluster_arn"),
    ],
)
def test_invalid_documents_name_the_problem(document: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(document, "parameter /x")
    assert "parameter /x" in str(info.value)


def test_json_round_trip_is_canonical() -> None:
    cfg = parse_config(
        {"cluster_arn": CLUSTER_ARN, "supported_regions": ["eu-west-1", "eu-west-1"]}, "t"
    )
    assert parse_config(dump_config(cfg), "t") == cfg
    assert cfg.supported_regions == ("eu-west-1",)


def test_yaml_and_json_files(tmp_path: Path) -> None:
    yml = tmp_path / "c.yaml"
    yml.write_text(f"cluster_arn: {CLUSTER_ARN}\nauth_schemes: [sasl_iam, tls]\n")
    assert [s.value for s in load_config_file(yml).auth_schemes or ()] == ["sasl_iam", "tls"]
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"c\.json"):
        load_config_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.yaml")


@pytest.mark.parametrize("document", [b'{"cluster_arn":"\x80"}', '{"cluster_arn":"\ud800"}'])
def test_text_that_is_not_utf8_is_refused_as_invalid(document: str | bytes) -> None:
    with pytest.raises(ConfigError, match="parameter /x: not valid UTF-8 JSON text"):
        parse_config(document, "parameter /x")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"pattern": "shared"}, "did you mean 'shared-nlb'? one of: nlb-per-broker, shared-nlb"),
        ({"auth_schemes": ["iam"]}, "did you mean 'sasl_iam'? one of: plaintext, tls"),
        ({"patern": "shared-nlb"}, "unknown field `patern` (did you mean 'pattern'?"),
        ({"shared_nlb": {"port_base": {}}}, "(did you mean 'port_bases'? one of: port_bases"),
        ({"shared_nlb": {"port_bases": {"iam": 9000}}}, "(a key): Invalid enum value 'iam'"),
    ],
)
def test_an_invalid_value_or_key_names_the_valid_ones_and_the_closest(
    change: dict[str, object], expected: str
) -> None:
    document = {"cluster_arn": "arn:aws:kafka:us-east-1:123456789012:cluster/a/b-1", **change}

    with pytest.raises(ConfigError) as refused:
        parse_config(document, "orders.yaml")

    assert expected in str(refused.value)
