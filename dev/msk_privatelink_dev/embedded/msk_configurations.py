"""MSK configurations: named, revisioned `server.properties` blobs.

The store answers the configuration APIs (Create/Describe/Update/List/Delete
Configuration, DescribeConfigurationRevision, ListConfigurationRevisions)
with botocore member names; the simulator validates them against the model
and uses `revision()` when a cluster is created with, or switched to, a
configuration revision.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from msk_privatelink_dev.embedded.msk_cluster import Scope
from msk_privatelink_dev.embedded.msk_contract import bad_request, conflict, not_found
from msk_privatelink_dev.embedded.msk_rules import paginate

# MSK's documented pattern for configuration names.
_CONFIGURATION_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,}$")
_CONFIGURATION_ARN = re.compile(
    r"^arn:aws[a-z-]*:kafka:(?P<region>[^:]+):(?P<account>\d{12}):configuration/"
)

Handler = Callable[[Scope, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Revision:
    number: int
    created_at: datetime
    description: str | None
    server_properties: bytes

    def summary(self) -> dict[str, Any]:
        """The `ConfigurationRevision` shape."""
        answer: dict[str, Any] = {"CreationTime": self.created_at, "Revision": self.number}
        if self.description is not None:
            answer["Description"] = self.description
        return answer


@dataclass
class ConfigurationRecord:
    arn: str
    name: str
    description: str
    kafka_versions: tuple[str, ...]
    created_at: datetime
    revisions: list[Revision] = field(default_factory=list)
    state: str = "ACTIVE"

    @property
    def latest(self) -> Revision:
        return self.revisions[-1]

    def revision(self, number: int) -> Revision:
        if not 1 <= number <= len(self.revisions):
            raise not_found(f"Revision {number} of configuration {self.arn} was not found.")
        return self.revisions[number - 1]

    def add_revision(self, description: str | None, server_properties: bytes) -> Revision:
        revision = Revision(
            len(self.revisions) + 1, datetime.now(UTC), description, server_properties
        )
        self.revisions.append(revision)
        return revision

    def info(self) -> dict[str, Any]:
        """The `Configuration` shape (DescribeConfiguration, ListConfigurations)."""
        return {
            "Arn": self.arn,
            "CreationTime": self.created_at,
            "Description": self.description,
            "KafkaVersions": list(self.kafka_versions),
            "LatestRevision": self.latest.summary(),
            "Name": self.name,
            "State": self.state,
        }


def check_server_properties(blob: bytes) -> None:
    """Refuse what MSK cannot read as a `server.properties` file."""
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(
            "The server properties are not UTF-8 text.", invalid_parameter="serverProperties"
        ) from exc
    continued = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        was_continued = continued
        # A line ending in an odd number of backslashes goes on on the next one.
        continued = (len(line) - len(line.rstrip("\\"))) % 2 == 1
        if was_continued or not stripped or stripped.startswith(("#", "!")):
            continue
        # Java properties syntax: the key ends at the first '=' or ':'.
        key = re.split(r"[=:]", stripped, maxsplit=1)[0]
        if key == stripped or not key.strip():
            raise bad_request(
                f"Line {number} of the server properties is not key=value.",
                invalid_parameter="serverProperties",
            )


class ConfigurationStore:
    """Configurations per (account id, Region)."""

    def __init__(self) -> None:
        self._configurations: dict[Scope, dict[str, ConfigurationRecord]] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateConfiguration": self._create,
            "DescribeConfiguration": self._describe,
            "DescribeConfigurationRevision": self._describe_revision,
            "ListConfigurationRevisions": self._list_revisions,
            "UpdateConfiguration": self._update,
            "ListConfigurations": self._list,
        }

    def reset(self) -> None:
        self._configurations.clear()

    def get(self, scope: Scope, arn: str) -> ConfigurationRecord:
        configuration = self._configurations.get(scope, {}).get(arn)
        if configuration is None:
            raise not_found(f"Configuration {arn} was not found.")
        return configuration

    def get_by_arn(self, arn: str) -> ConfigurationRecord:
        match = _CONFIGURATION_ARN.match(arn)
        if match is None:
            raise not_found(f"Configuration {arn} was not found.")
        return self.get(Scope(match["account"], match["region"]), arn)

    def revision(self, scope: Scope, info: dict[str, Any], *, parameter: str) -> Revision:
        """The revision a request's ConfigurationInfo names, or BadRequestException."""
        configurations = self._configurations.get(scope, {})
        configuration = configurations.get(info["Arn"])
        if configuration is None or configuration.state != "ACTIVE":
            raise bad_request(
                f"The configuration {info['Arn']} does not exist.", invalid_parameter=parameter
            )
        number: int = info["Revision"]
        if not 1 <= number <= len(configuration.revisions):
            raise bad_request(
                f"The configuration {info['Arn']} has no revision {number}.",
                invalid_parameter=parameter,
            )
        return configuration.revisions[number - 1]

    def delete(self, scope: Scope, arn: str) -> ConfigurationRecord:
        configuration = self.get(scope, arn)
        del self._configurations[scope][arn]
        configuration.state = "DELETING"
        return configuration

    def _create(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        if not _CONFIGURATION_NAME.match(name):
            raise bad_request(f"Invalid configuration name {name!r}.", invalid_parameter="name")
        check_server_properties(params["ServerProperties"])
        configurations = self._configurations.setdefault(scope, {})
        if any(existing.name == name for existing in configurations.values()):
            raise conflict(f"A configuration with the name {name} already exists.")
        arn = (
            f"arn:aws:kafka:{scope.region}:{scope.account_id}:configuration/{name}/{uuid.uuid4()}-2"
        )
        configuration = ConfigurationRecord(
            arn=arn,
            name=name,
            description=params.get("Description", ""),
            kafka_versions=tuple(params.get("KafkaVersions", ())),
            created_at=datetime.now(UTC),
        )
        # The first revision carries the configuration's description.
        configuration.add_revision(params.get("Description"), params["ServerProperties"])
        configurations[arn] = configuration
        return {
            "Arn": arn,
            "CreationTime": configuration.created_at,
            "LatestRevision": configuration.latest.summary(),
            "Name": name,
            "State": configuration.state,
        }

    def _describe(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        return self.get(scope, params["Arn"]).info()

    def _describe_revision(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        configuration = self.get(scope, params["Arn"])
        revision = configuration.revision(params["Revision"])
        answer: dict[str, Any] = {
            "Arn": configuration.arn,
            "CreationTime": revision.created_at,
            "Revision": revision.number,
            "ServerProperties": revision.server_properties,
        }
        if revision.description is not None:
            answer["Description"] = revision.description
        return answer

    def _list_revisions(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        configuration = self.get(scope, params["Arn"])
        page, token = paginate(configuration.revisions, params)
        answer: dict[str, Any] = {"Revisions": [revision.summary() for revision in page]}
        if token:
            answer["NextToken"] = token
        return answer

    def _update(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        configuration = self.get(scope, params["Arn"])
        check_server_properties(params["ServerProperties"])
        revision = configuration.add_revision(params.get("Description"), params["ServerProperties"])
        return {"Arn": configuration.arn, "LatestRevision": revision.summary()}

    def _list(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        configurations = list(self._configurations.get(scope, {}).values())
        page, token = paginate(configurations, params)
        answer: dict[str, Any] = {"Configurations": [c.info() for c in page]}
        if token:
            answer["NextToken"] = token
        return answer
