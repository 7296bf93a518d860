"""Configuration documents as text: JSON or YAML, in a file or a parameter.

JSON is tried first (it is what the stack and ``put`` write, and most
documents are JSON), so the common case never imports yaml; a document that
is not JSON is read as YAML (YAML 1.1 safe loader: no tags, no objects).
Errors name the document's source and the line and column, never the
loader's "<unicode string>".
"""

from __future__ import annotations

import json
from typing import Any

from msk_privatelink.kernel.errors import ConfigError


def looks_like_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def load_mapping(text: str, source: str) -> dict[str, Any]:
    """The document's top-level mapping, from JSON or YAML text."""
    if looks_like_json(text):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{source} is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise ConfigError(f"{source} is nested too deeply to be a configuration") from exc
    else:
        data = _yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping (a YAML or JSON object)")
    return data


def _yaml(text: str, source: str) -> Any:
    import yaml  # only non-JSON documents pay for it

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{source} is not valid YAML{where}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        # The loaders recurse per level: "[[[[..." must be a refusal, not a crash.
        raise ConfigError(f"{source} is nested too deeply to be a configuration") from exc
