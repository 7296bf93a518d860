"""What each Lambda handler loads at cold start, as regression guards.

The cold-import target (1.3 x `import boto3`, `make bench`) is kept by what
the handlers do not import; times are not asserted here, module lists are.
Each handler module is loaded by path in a fresh interpreter, as the Lambda
runtime loads it.
"""

from __future__ import annotations

from functools import cache

import pytest

from bench.imports import HANDLER_FILES, REPO, importtime_lines

# Heavier validation libraries: every document is a msgspec record
# (layers/core/msk_privatelink/kernel/records.py).
NEVER = ("pydantic", "pydantic_core", "aws_xray_sdk", "yaml", "moto", "msk_privatelink_dev")
# The advertised-listeners stack is loaded only by clusters that use it.
ADVERTISED = (
    "msk_privatelink.advertised.service",
    "msk_privatelink.advertised.request",
    "msk_privatelink.advertised.aws.kafka_admin_invoke",
    "msk_privatelink.advertised.aws.msk_configuration",
)
# The router forwards events: no document records, no reconcile stack.
ROUTER_NEVER = (
    "msgspec",
    "msk_privatelink.kernel.records",
    "msk_privatelink.reconcile.config",
    "msk_privatelink.reconcile.reconciler",
)


@cache
def loaded(handler: str) -> frozenset[str]:
    return frozenset(line.module for line in importtime_lines(REPO, handler))


def handler(name: str) -> str:
    return f"functions/{name}/app.py"


def test_every_handler_is_covered() -> None:
    assert {h.split("/")[1] for h in HANDLER_FILES} == {
        "change_detector",
        "connectivity_canary",
        "consumer_delivery",
        "consumer_sync",
        "event_router",
        "kafka_admin",
        "onboarding_tasks",
        "reconciler",
        "task_callback",
    }


@pytest.mark.parametrize("path", HANDLER_FILES)
def test_no_handler_loads_a_heavy_library(path: str) -> None:
    modules = loaded(path)
    assert "msk_privatelink" in modules, "the measurement did not load the handler"
    heavy = sorted(m for m in modules if m.split(".", 1)[0] in NEVER)
    assert heavy == [], heavy


def test_the_reconciler_leaves_the_advertised_listeners_stack_to_clusters_that_use_it() -> None:
    modules = loaded(handler("reconciler"))
    assert "msk_privatelink.reconcile.reconciler" in modules
    assert sorted(set(ADVERTISED) & modules) == []


def test_the_router_loads_neither_records_nor_the_reconcile_stack() -> None:
    modules = loaded(handler("event_router"))
    assert "msk_privatelink.reconcile.router" in modules
    assert sorted(set(ROUTER_NEVER) & modules) == []


def test_the_change_detector_loads_no_reconcile_stack() -> None:
    modules = loaded(handler("change_detector"))
    assert "msk_privatelink.reconcile.detector" in modules
    never = ("msk_privatelink.reconcile.reconciler", "msk_privatelink.reconcile.planner")
    assert sorted(set(never) & modules) == []
