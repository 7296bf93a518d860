"""Identity-policy evaluation, as the IAM User Guide describes it ("Policy
evaluation logic", "IAM JSON policy elements: Condition operators",
"Single-valued vs. multivalued context keys"): an explicit deny wins, then any
allow; otherwise the request is implicitly denied.

Only what the stacks' roles need is modelled: identity policies (no resource
policies, permission boundaries or SCPs), Action/NotAction, Resource/
NotResource and the string, ARN, Bool and Null operators with their IfExists,
ForAllValues and ForAnyValue forms. An operator or a context key outside that
set raises instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class UnsupportedPolicy(Exception):
    """The policy uses a construct this evaluator does not model."""


class UnknownContextKey(Exception):
    """No value is known, present or absent, for a condition key in this request."""


@dataclass(frozen=True)
class Statement:
    owner: str  # the policy's name in the template: "<Resource>/<PolicyName>"
    sid: str
    body: Mapping[str, Any]

    @property
    def effect(self) -> str:
        return str(self.body["Effect"])

    def _list(self, key: str) -> list[str] | None:
        value = self.body.get(key)
        if value is None:
            return None
        return [str(v) for v in (value if isinstance(value, list) else [value])]

    @property
    def actions(self) -> list[str]:
        return self._list("Action") or []

    def matches_action(self, action: str) -> bool:
        if (listed := self._list("Action")) is not None:
            return any(_glob(p, action, case=False) for p in listed)
        if (excluded := self._list("NotAction")) is not None:
            return not any(_glob(p, action, case=False) for p in excluded)
        raise UnsupportedPolicy(f"{self.owner} {self.sid}: no Action or NotAction")

    def matches_resource(self, resource: str) -> bool:
        if (listed := self._list("Resource")) is not None:
            return any(_glob(p, resource, case=True) for p in listed)
        if (excluded := self._list("NotResource")) is not None:
            return not any(_glob(p, resource, case=True) for p in excluded)
        raise UnsupportedPolicy(f"{self.owner} {self.sid}: no Resource or NotResource")

    def condition_keys(self) -> set[str]:
        return {key for block in self.body.get("Condition", {}).values() for key in block}

    def conditions_hold(self, context: Context) -> bool:
        for operator, block in self.body.get("Condition", {}).items():
            for key, expected in block.items():
                values = [str(v) for v in (expected if isinstance(expected, list) else [expected])]
                if not _condition(operator, context.get(key), values):
                    return False
        return True


@dataclass
class Context:
    """The request context: values by condition key, some computed on demand
    (resource tags are read from the account when a policy asks for them)."""

    values: dict[str, list[str] | None] = field(default_factory=dict)
    providers: list[Callable[[str], tuple[bool, list[str] | None]]] = field(default_factory=list)

    def get(self, key: str) -> list[str] | None:
        """The key's values (None when the request does not carry the key)."""
        for known, value in self.values.items():
            if known.lower() == key.lower():
                return value
        for provider in self.providers:
            handled, value = provider(key)
            if handled:
                self.values[key] = value
                return value
        raise UnknownContextKey(key)


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Context


def decide(statements: Iterable[Statement], request: Request) -> tuple[bool, list[Statement]]:
    """(allowed, the Allow statements that grant it)."""
    allows: list[Statement] = []
    for statement in statements:
        if not statement.matches_action(request.action):
            continue
        if not statement.matches_resource(request.resource):
            continue
        if not statement.conditions_hold(request.context):
            continue
        if statement.effect == "Deny":
            return False, []
        allows.append(statement)
    return bool(allows), allows


def _glob(pattern: str, value: str, *, case: bool) -> bool:
    # IAM wildcards: "*" any run of characters (":" and "/" included), "?" one.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=0 if case else re.IGNORECASE) is not None


_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
}


def _condition(operator: str, actual: list[str] | None, expected: list[str]) -> bool:
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    if op == "Null":
        absent = actual is None or actual == []
        return any((e.lower() == "true") == absent for e in expected)
    test = _operator(op)
    if qualifier == "ForAllValues":
        return actual is None or all(any(test(a, e) for e in expected) for a in actual)
    if qualifier == "ForAnyValue":
        return actual is not None and any(test(a, e) for a in actual for e in expected)
    if qualifier:
        raise UnsupportedPolicy(f"condition qualifier {qualifier}")
    if actual is None:
        return if_exists or op in _NEGATED
    if op in _NEGATED:
        return all(test(a, e) for a in actual for e in expected)
    return any(test(a, e) for a in actual for e in expected)


def _operator(op: str) -> Callable[[str, str], bool]:
    operators: dict[str, Callable[[str, str], bool]] = {
        "StringEquals": lambda a, e: a == e,
        "StringNotEquals": lambda a, e: a != e,
        "StringEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
        "StringNotEqualsIgnoreCase": lambda a, e: a.lower() != e.lower(),
        "StringLike": lambda a, e: _glob(e, a, case=True),
        "StringNotLike": lambda a, e: not _glob(e, a, case=True),
        "ArnEquals": lambda a, e: _glob(e, a, case=True),
        "ArnLike": lambda a, e: _glob(e, a, case=True),
        "ArnNotEquals": lambda a, e: not _glob(e, a, case=True),
        "ArnNotLike": lambda a, e: not _glob(e, a, case=True),
        "Bool": lambda a, e: a.lower() == e.lower(),
    }
    if op not in operators:
        raise UnsupportedPolicy(f"condition operator {op}")
    return operators[op]
