from __future__ import annotations

from collections.abc import Iterator

import pytest

from msk_privatelink_dev.embedded import EmbeddedAws


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded
