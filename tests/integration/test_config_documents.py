"""Configuration documents in Parameter Store as JSON or YAML: the README's
YAML document stored as it is is routed and reconciled like its JSON form, and
a broken document names its parameter, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.reconcile.aws.config_store import ConfigStore
from msk_privatelink.reconcile.config import load_config_file, parse_config
from msk_privatelink.reconcile.documents import load_mapping
from tests.integration.harness import PREFIX, load_event, local_functions, world

pytestmark = pytest.mark.integration

YAML_DOCUMENT = """\
version: 1
cluster_arn: {arn}
pattern: nlb-per-broker
auth_schemes: [sasl_iam]            # omit: every scheme the cluster has
acceptance_required: true
allowed_principals: [arn:aws:iam::111122223333:root]
"""


def test_a_yaml_document_in_the_parameter_is_routed_and_reconciled() -> None:
    with world() as w:
        ssm = w.aws.client("ssm")
        store = ConfigStore(ssm, PREFIX)
        ssm.put_parameter(
            Name=store.parameter_name(w.cluster_arn),
            Value=YAML_DOCUMENT.format(arn=w.cluster_arn),
            Type="String",
            Overwrite=True,
        )

        assert store.cluster_arns() == [w.cluster_arn]
        config = store.get(w.cluster_arn)
        assert config.allowed_principals == ("arn:aws:iam::111122223333:root",)
        functions, _ = local_functions(w)
        routed = functions.route(load_event("scheduled-reconcile.json", w.cluster_arn))
        assert len(routed["enqueued"]) == 1
        (response,) = functions.drain()
        assert response["batchItemFailures"] == []
        w.config = config  # what the handler reconciled: the YAML document
        assert w.residual_plan_size() == 0


def test_a_broken_yaml_parameter_names_the_parameter_line_and_column() -> None:
    with world() as w:
        ssm = w.aws.client("ssm")
        store = ConfigStore(ssm, PREFIX)
        name = store.parameter_name(w.cluster_arn)
        ssm.put_parameter(
            Name=name,
            Value=f"version: 1\ncluster_arn: {w.cluster_arn}\npattern: [unclosed\n",
            Type="String",
            Overwrite=True,
        )

        with pytest.raises(ConfigError) as refused:
            store.get(w.cluster_arn)
        # The router skips what it cannot read instead of failing every event.
        assert store.cluster_arns() == []

    message = str(refused.value)
    assert f"parameter {name} is not valid YAML (line 4, column 1)" in message
    assert "<unicode string>" not in message


def test_a_yaml_file_error_names_the_file_not_the_loader(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("version: 1\npattern: : bad\n", encoding="utf-8")

    with pytest.raises(ConfigError) as refused:
        load_config_file(path)

    message = str(refused.value)
    assert f"configuration file {path} is not valid YAML (line 2" in message
    assert "<unicode string>" not in message


@pytest.mark.parametrize("text", ["[" * 5000, "{" + '"a":[' * 5000, "- " * 5000 + "x"])
def test_a_document_nested_too_deeply_is_refused_not_a_crash(text: str) -> None:
    with pytest.raises(ConfigError, match="parameter /x"):
        parse_config(text, "parameter /x")
    with pytest.raises(ConfigError, match="parameter /x"):
        load_mapping(text, "parameter /x")
