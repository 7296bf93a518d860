"""Docs generated from code must match the code."""

from __future__ import annotations

from pathlib import Path

from msk_privatelink.kernel.event_docs import render

REPO = Path(__file__).resolve().parents[2]


def test_events_doc_matches_the_event_models() -> None:
    expected = render()
    actual = (REPO / "docs" / "events.md").read_text(encoding="utf-8")
    assert actual == expected, (
        "regenerate: python -m msk_privatelink.kernel.event_docs > docs/events.md"
    )


def test_readme_first_screen_gives_the_two_setup_commands() -> None:
    head = (REPO / "README.md").read_text(encoding="utf-8").splitlines()[:15]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)
