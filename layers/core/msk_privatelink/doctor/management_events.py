"""Which management events a trail logs, from its GetEventSelectors answer
(AWS CloudTrail API Reference, "EventSelector", "AdvancedEventSelector",
"AdvancedFieldSelector"). Pure.

- A trail created without selectors logs all read and write management
  events ("By default, trails created without specific event selectors will
  be configured to log all read and write management events").
- Basic selectors: ``IncludeManagementEvents`` (default true) with
  ``ReadWriteType`` All, ReadOnly or WriteOnly (default All).
- Advanced selectors: a selector with ``eventCategory`` Equals
  ``Management`` logs management events; its ``readOnly`` field Equals
  ``true`` logs only reads, ``false`` only writes, absent both.
- ``ExcludeManagementEventSources`` / ``eventSource`` NotEquals may only
  name kms.amazonaws.com and rdsdata.amazonaws.com: never MSK's or EC2's.

A trail logs an event when any of its selectors matches, so the selectors'
coverage is the union.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from msk_privatelink.doctor.facts import ManagementEvents

# The event sources the stack's CloudTrail rules match.
RULE_EVENT_SOURCES = frozenset({"kafka.amazonaws.com", "ec2.amazonaws.com"})


def _union(reads: bool, writes: bool) -> ManagementEvents:
    if reads and writes:
        return ManagementEvents.ALL
    if writes:
        return ManagementEvents.WRITE_ONLY
    if reads:
        return ManagementEvents.READ_ONLY
    return ManagementEvents.NONE


def _basic(selector: Mapping[str, Any]) -> tuple[bool, bool]:
    if not selector.get("IncludeManagementEvents", True):
        return False, False
    excluded = set(selector.get("ExcludeManagementEventSources", ()))
    if RULE_EVENT_SOURCES & excluded:
        return False, False
    kind = selector.get("ReadWriteType", "All")
    return kind in ("All", "ReadOnly"), kind in ("All", "WriteOnly")


def _advanced(selector: Mapping[str, Any]) -> tuple[bool, bool]:
    fields = {f.get("Field"): f for f in selector.get("FieldSelectors", ())}
    category = fields.get("eventCategory", {})
    if "Management" not in category.get("Equals", ()):
        return False, False
    source = fields.get("eventSource", {})
    if RULE_EVENT_SOURCES & set(source.get("NotEquals", ())):
        return False, False
    if source.get("Equals") and not set(source["Equals"]) >= RULE_EVENT_SOURCES:
        return False, False
    read_only = fields.get("readOnly", {}).get("Equals")
    if not read_only:
        return True, True
    return "true" in read_only, "false" in read_only


def management_events(
    event_selectors: Sequence[Mapping[str, Any]],
    advanced_selectors: Sequence[Mapping[str, Any]],
) -> ManagementEvents:
    """The management events a trail logs."""
    if not event_selectors and not advanced_selectors:
        return ManagementEvents.ALL
    reads = writes = False
    for selector in event_selectors:
        r, w = _basic(selector)
        reads, writes = reads or r, writes or w
    for selector in advanced_selectors:
        r, w = _advanced(selector)
        reads, writes = reads or r, writes or w
    return _union(reads, writes)
