"""Fault suites: every botocore session of a test shares one data loader.

The harness, the handlers and the embedded AWS create a new session for
nearly every check, and each new session parses the service models (EC2's is
large) again. The models are read-only data, so sessions share a loader
here; only the tests in this directory, and only while each test runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.loaders
import botocore.session
import pytest

_LOADERS: dict[Any, botocore.loaders.Loader] = {}
_create_loader: Callable[..., botocore.loaders.Loader] = botocore.loaders.create_loader


def _shared_loader(search_path_string: Any = None) -> botocore.loaders.Loader:
    key = search_path_string
    if key not in _LOADERS:
        _LOADERS[key] = _create_loader(search_path_string)
    return _LOADERS[key]


@pytest.fixture(autouse=True)
def shared_botocore_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.session, "create_loader", _shared_loader)
