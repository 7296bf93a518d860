"""Hypothesis settings shared by the fuzz suites: repeatable and quiet."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def fuzz_settings(examples: int) -> settings:
    """``examples`` derandomized examples: the same inputs on every run and
    machine, no example database, no deadline (CI machines vary), and no
    health check that would fail a suite for generating large or filtered data."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )
