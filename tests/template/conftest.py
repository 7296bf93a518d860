"""Fixtures of the template tests: each module names its template in TEMPLATE."""

from __future__ import annotations

from typing import Any

import pytest

from tests.template.support import load_template, sam_transform


@pytest.fixture(scope="module")
def template(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The requesting module's TEMPLATE, parsed."""
    return load_template(request.module.TEMPLATE)


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """The same template after the SAM transform."""
    return sam_transform(template)
