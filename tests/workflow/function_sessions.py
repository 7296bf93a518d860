"""The sessions of the workflow functions (the state machines' task function,
the callback function), made with a hook of the test's: a throttle in front
of them, a crash injector, a counter.

The functions build their clients once per cold start (``AwsClients()`` in a
cached factory); this swaps the module's ``AwsClients`` for one whose
session gets ``setup`` first, and drops the cached clients so the next
invocation is a cold start with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from msk_privatelink.aws.clients import AwsClients
from tests.workflow.harness import Workflows


def hook_function_sessions(
    flows: Workflows,
    monkeypatch: pytest.MonkeyPatch,
    setup: Callable[[Any], None],
    *,
    functions: tuple[str, ...] = ("tasks", "callback"),
) -> None:
    def clients(session: Any = None, region: str | None = None) -> AwsClients:
        fresh = flows.w.aws.session()
        setup(fresh)
        return AwsClients(fresh, region=region)

    for name in functions:
        module = getattr(flows, name)
        monkeypatch.setattr(module, "AwsClients", clients)
    cold_start(flows)


def cold_start(flows: Workflows) -> None:
    """The next invocation of each function builds its clients again."""
    flows.tasks._workflows.cache_clear()
    flows.callback._callbacks.cache_clear()
