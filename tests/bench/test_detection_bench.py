"""`make bench`'s change-detection comparison as a regression guard on call counts.

The detector's whole point is to be cheap every minute: a steady tick reads one
parameter page, one state batch and one `ListNodes` per cluster, and writes
nothing; a full reconcile of the same clusters reads far more.
"""

from __future__ import annotations

import pytest

from bench import detection

pytestmark = pytest.mark.integration


def test_a_steady_tick_reads_one_page_one_batch_and_one_list_nodes_per_cluster() -> None:
    detector, full = detection.measure(3, detection.memory_sizes(), lambda _: None)

    assert detector.calls == {"GetParametersByPath": 1, "BatchGetItem": 1, "ListNodes": 3}
    assert full.calls["ListNodes"] == 3
    assert full.calls_per_tick > 4 * detector.calls_per_tick
    assert detector.lambda_usd_per_month < full.lambda_usd_per_month


def test_the_report_names_both_approaches_and_the_model() -> None:
    approaches = detection.measure(1, detection.memory_sizes(), lambda _: None)

    text = "\n".join(detection.render(approaches))

    assert "change detector every minute" in text
    assert "full reconcile every minute" in text
    assert "ms per AWS call" in text
