"""Both state machines on the embedded AWS, with three accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workflow.harness import Workflows, workflows


@pytest.fixture
def flows(monkeypatch: pytest.MonkeyPatch) -> Iterator[Workflows]:
    with workflows(monkeypatch) as running:
        yield running
