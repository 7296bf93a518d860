"""Frozen, validated records for every document this project reads or writes.

The cluster configuration, the events between accounts, the workflows' input
and the consumer's stored settings are msgspec structs: typed, frozen,
refusing unknown fields, validated when decoded, with JSON Schema generated
from the same classes (docs/events.md). msgspec rather than a heavier model
library because every handler decodes one of these documents on every cold
start: the whole validation layer imports in a few milliseconds, which keeps
each handler's cold import within 1.3 times `import boto3` (docs/performance.md).

Two rules differ from plain msgspec and are enforced here:
- errors come out as :class:`InvalidRecord`, one message that names the field
  (``shared_nlb.listener_quota: Expected `int` >= 2``), whatever failed:
  a type, a constraint, an unknown field or a ``__post_init__`` check;
- a ``pattern`` constraint is applied with ``re.search``, so every pattern
  built with :func:`anchored` is anchored at both ends and refuses a
  trailing newline (``$`` alone matches before one).

Constructing a record in Python (``Record(field=...)``) runs ``__post_init__``
but not the type and ``Meta`` checks: those apply to documents coming in
through :func:`parse` / :func:`parse_json`, which is where untrusted input
enters. Code that builds records is type-checked by mypy instead.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from msgspec import Meta, field
from msgspec.structs import force_setattr, replace

__all__ = [
    "CamelRecord",
    "InvalidRecord",
    "Meta",
    "Record",
    "anchored",
    "field",
    "force_setattr",
    "json_schema",
    "parse",
    "parse_json",
    "replace",
    "to_data",
    "to_json",
]

T = TypeVar("T")


class Record(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A frozen document with snake_case keys (the cluster configuration)."""


class CamelRecord(Record, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """A frozen document whose JSON keys are camelCase (events, workflow input)."""


class InvalidRecord(ValueError):
    """A document failed validation; ``path`` names the field (empty: the whole document)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path or '<document>'}: {reason}")


# msgspec's messages end with " - at `$.a.b`" (or "`key` in `$.a`" for a
# mapping key); the path is cut off and given as "a.b" so that every message
# reads the same whether it came from a type check or from __post_init__.
_AT = re.compile(
    r"^(?P<reason>.*?)(?: - at `(?P<where>[^`]*)`(?: in `(?P<within>[^`]*)`)?)?$", re.S
)


def _invalid(exc: msgspec.DecodeError) -> InvalidRecord:
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any string
    where, within = match["where"] or "", match["within"]
    if within is not None:
        # "`key` in `$.ports`": a bad mapping key; name the mapping.
        where = f"{within} (a key)"
    path = where.removeprefix("$").removeprefix(".")
    return InvalidRecord(path, match["reason"])


_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")
_BAD_ENUM = re.compile(r"^Invalid enum value (?P<value>.*)$")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _with_hint(kind: type[Any], invalid: InvalidRecord) -> InvalidRecord:
    """Add what the document may say instead: the valid values of an enum
    field, the known fields of an object, and the closest match."""
    unknown, bad = _UNKNOWN_FIELD.match(invalid.reason), _BAD_ENUM.match(invalid.reason)
    if not unknown and not bad:
        return invalid
    import difflib

    import msgspec.inspect as mi  # the error path only

    node: Any = mi.type_info(kind)
    for name, index in _SEGMENT.findall(invalid.path.removesuffix(" (a key)")):
        node = _unwrap(node, mi)
        if name and isinstance(node, mi.StructType):
            node = next((f.type for f in node.fields if f.encode_name == name), None)
        elif index and isinstance(node, (mi.ListType, mi.VarTupleType, mi.SetType)):
            node = node.item_type
        elif name and isinstance(node, mi.DictType):
            node = node.value_type
        else:
            return invalid
    node = _unwrap(node, mi)
    if invalid.path.endswith(" (a key)") and isinstance(node, mi.DictType):
        node = _unwrap(node.key_type, mi)
    if unknown and isinstance(node, mi.StructType):
        choices = [f.encode_name for f in node.fields]
        given = unknown["name"]
    elif bad and isinstance(node, mi.EnumType):
        choices = [str(member.value) for member in node.cls]
        given = bad["value"].strip("'\"")
    elif bad and isinstance(node, mi.LiteralType):
        choices = [str(v) for v in node.values]
        given = bad["value"].strip("'\"")
    else:
        return invalid
    close = difflib.get_close_matches(given, choices, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    reason = f"{invalid.reason} ({hint}one of: {', '.join(choices)})"
    return InvalidRecord(invalid.path, reason)


def _unwrap(node: Any, mi: Any) -> Any:
    # Optional[X] and other unions: the member that is not None.
    if isinstance(node, mi.UnionType):
        members = [t for t in node.types if not isinstance(t, mi.NoneType)]
        return members[0] if len(members) == 1 else node
    if isinstance(node, mi.Metadata):
        return _unwrap(node.type, mi)
    return node


def parse(kind: type[T], data: Any) -> T:
    """Validate already-decoded data (a dict from JSON, YAML or an event) as ``kind``."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise _with_hint(kind, _invalid(exc)) from exc


def parse_json(kind: type[T], document: str | bytes) -> T:
    """Decode and validate a JSON document as ``kind``."""
    try:
        return msgspec.json.decode(document, type=kind)
    except msgspec.ValidationError as exc:
        raise _with_hint(kind, _invalid(exc)) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRecord("", f"not valid JSON ({exc})") from exc
    except UnicodeError as exc:
        # Bytes that are not UTF-8 inside a string, or a str holding lone
        # surrogates: not JSON text at all.
        raise InvalidRecord("", f"not valid UTF-8 JSON text ({exc})") from exc


def to_data(record: msgspec.Struct) -> dict[str, Any]:
    """The record as JSON-ready builtins (lists, not tuples), keys as on the wire."""
    # Through JSON rather than to_builtins, which keeps tuples: the result
    # must compare equal to the same document read back from JSON.
    data = msgspec.json.decode(msgspec.json.encode(record))
    assert isinstance(data, dict)
    return data


def to_json(record: msgspec.Struct) -> str:
    """The record as compact JSON, keys as on the wire."""
    return msgspec.json.encode(record).decode()


def json_schema(kind: type[msgspec.Struct]) -> dict[str, Any]:
    """JSON Schema of ``kind`` (for docs/events.md)."""
    return msgspec.json.schema(kind)


def anchored(body: str) -> str:
    r"""A ``pattern`` matching ``body`` as a whole string.

    msgspec applies patterns with ``re.search`` and Python's ``$`` matches
    before a trailing newline; the lookahead refuses one. ``(?!\n)`` after
    ``$`` is a no-op in ECMAScript regexes, so the pattern in the generated
    JSON Schema means the same thing to other validators.
    """
    return f"^(?:{body})$(?!\\n)"
