"""msk-privatelink: keeps PrivateLink plumbing in sync with Amazon MSK brokers."""

from __future__ import annotations

__version__ = "0.1.0"

PROJECT = "msk-privatelink"
