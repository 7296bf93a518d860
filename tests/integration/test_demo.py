"""`make demo` runs the whole story and verifies it; it must keep doing so."""

from __future__ import annotations

import pytest

from msk_privatelink.demo import run_demo

pytestmark = pytest.mark.integration


def test_demo_runs_the_whole_story_and_verifies_every_step() -> None:
    lines: list[str] = []

    assert run_demo(lines.append) == 0

    text = "\n".join(lines)
    assert text.count("Verified: every broker reaches exactly its own address") == 5
    assert "MSK refuses 4 brokers in 3 AZs" in text
    assert "Published BrokerEndpointsChanged generation 2: brokers [1, 2, 3, 4, 5, 6]" in text
    assert "Published BrokerEndpointsChanged generation 3: brokers [1, 2, 3]" in text
    assert "Demo complete" in text
