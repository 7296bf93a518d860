"""``msk-configuration`` mode: MSK's ``custom.advertised.listeners`` through a configuration we own.

One run never waits for MSK. It reads the cluster and the configuration
revision in force and then does one of:

- nothing, when that revision already advertises the mapping (two reads);
- reports the operation in progress (ours: in progress; another one: busy),
  found through the cluster's ``ActiveOperationArn`` and
  DescribeClusterOperationV2;
- reports our last UpdateClusterConfiguration as failed, when the revision it
  rolled out is still the one we would roll out again;
- otherwise puts the revision in force plus our property into our own
  configuration (a new revision only when its latest one differs) and starts
  UpdateClusterConfiguration with the cluster's CurrentVersion.

A configuration we did not create is never modified: ours has a name derived
from the cluster ARN and a description naming the cluster (CreateConfiguration
takes no tags). A crash anywhere converges: the next run derives the same
properties from the same revision in force, finds them as our latest revision
and reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink import PROJECT
from msk_privatelink.advertised.listeners import (
    CUSTOM_ADVERTISED_LISTENERS,
    AdvertisedMapping,
    custom_listeners_value,
    properties_with,
    property_value,
    same_listeners,
)
from msk_privatelink.advertised.outcome import (
    AdvertisedOutcome,
    AdvertisedPreview,
    AdvertisedStatus,
    PlannedWrite,
)
from msk_privatelink.aws.errors import error_code, translate
from msk_privatelink.kernel.errors import (
    ClusterNotFoundError,
    OwnershipConflictError,
    TerminalError,
)
from msk_privatelink.kernel.models import ClusterInventory
from msk_privatelink.kernel.naming import name_prefix

if TYPE_CHECKING:
    from mypy_boto3_kafka import KafkaClient

MODE = "msk-configuration"


def rolling_restart(brokers: int) -> str:
    """What UpdateClusterConfiguration does to the brokers (MSK applies a new
    configuration revision by restarting brokers one at a time)."""
    return f"rolling restart of {brokers} brokers (one at a time; clients reconnect)"


UPDATE_CLUSTER_CONFIGURATION = "UPDATE_CLUSTER_CONFIGURATION"
_IN_PROGRESS = frozenset({"PENDING", "UPDATE_IN_PROGRESS"})
_FAILED = "UPDATE_FAILED"


def configuration_name(cluster_arn: str) -> str:
    """Our configuration's name: MSK names allow letters, digits and hyphens."""
    return f"{name_prefix(cluster_arn)}advertised"


def configuration_description(cluster_arn: str) -> str:
    return f"{PROJECT}: custom.advertised.listeners for {cluster_arn}"


def _name_in_arn(configuration_arn: str) -> str:
    # arn:aws:kafka:<region>:<account>:configuration/<name>/<uuid>
    return configuration_arn.split(":configuration/", 1)[-1].split("/", 1)[0]


class MskConfigurationAdvertiser:
    def __init__(self, kafka: KafkaClient) -> None:
        self._kafka = kafka

    def ensure(
        self,
        cluster_arn: str,
        mapping: AdvertisedMapping,
        *,
        retry_failed: bool = False,
        known: ClusterInventory | None = None,
    ) -> AdvertisedOutcome:
        """One non-blocking step towards brokers advertising ``mapping``.

        ``retry_failed``: start the update again although the same revision
        failed last time (after a person fixed the cause). ``known``: the
        inventory this run already read with DescribeClusterV2 (state,
        configuration in force, operation in progress, version), so a steady
        cluster costs one DescribeConfigurationRevision and nothing more.
        """
        # Before any call: a mapping MSK's pattern cannot express is a config error.
        mapping.custom_listener_entries()
        snapshot = _snapshot(known) if known is not None else self._snapshot(cluster_arn)
        if snapshot.active_operation_arn:
            return self._follow(cluster_arn, snapshot.active_operation_arn)
        if snapshot.state != "ACTIVE":
            return _outcome(AdvertisedStatus.BUSY, f"cluster is {snapshot.state}")

        current_arn = snapshot.configuration_arn
        current_revision = snapshot.configuration_revision
        current, wanted_value, advertised = self._in_force(snapshot, mapping)
        if advertised:
            return _outcome(
                AdvertisedStatus.UP_TO_DATE,
                "the configuration in force advertises the mapping",
                configuration_arn=current_arn,
                configuration_revision=int(current_revision) if current_revision else None,
            )

        wanted = properties_with(current, CUSTOM_ADVERTISED_LISTENERS, wanted_value)
        arn, revision, reused = self._revision_holding(cluster_arn, current_arn, wanted)
        if reused and not retry_failed:
            failed = self._failed_attempt(cluster_arn, arn, revision)
            if failed is not None:
                return failed
        return self._roll_out(cluster_arn, str(snapshot.current_version), arn, revision)

    def preview(
        self, cluster_arn: str, mapping: AdvertisedMapping, known: ClusterInventory
    ) -> AdvertisedPreview:
        """What ``ensure`` would write now, read without writing anything."""
        mapping.custom_listener_entries()
        snapshot = _snapshot(known)
        if snapshot.active_operation_arn:
            return AdvertisedPreview(
                MODE,
                note=f"MSK operation {snapshot.active_operation_arn} in progress: looked "
                "at again when it ends",
            )
        if snapshot.state != "ACTIVE":
            return AdvertisedPreview(
                MODE, note=f"cluster is {snapshot.state}: looked at when ACTIVE"
            )
        current_arn = snapshot.configuration_arn
        current, wanted_value, advertised = self._in_force(snapshot, mapping)
        if advertised:
            return AdvertisedPreview(MODE, note="the configuration in force advertises the mapping")
        wanted = properties_with(current, CUSTOM_ADVERTISED_LISTENERS, wanted_value)
        name = configuration_name(cluster_arn)
        found = self._our_configuration(cluster_arn, name, current_arn)
        writes: list[PlannedWrite] = []
        shown = f"{CUSTOM_ADVERTISED_LISTENERS}={wanted_value}"
        if found is None:
            writes.append(PlannedWrite("create", "msk-configuration", name, shown))
        elif self._properties(found[0], found[1]) != wanted:
            writes.append(
                PlannedWrite("update", "msk-configuration", found[0], f"new revision: {shown}")
            )
        writes.append(
            PlannedWrite(
                "update",
                "msk-cluster-configuration",
                cluster_arn,
                f"UpdateClusterConfiguration to our configuration (broker properties kept, "
                f"{CUSTOM_ADVERTISED_LISTENERS} set)",
                rolling_restart(len(known.brokers)),
            )
        )
        return AdvertisedPreview(MODE, tuple(writes))

    def remove_ours(self, cluster_arn: str, *, dry_run: bool) -> str:
        """destroy: delete the configuration this project made for the cluster,
        unless a cluster still uses it (MSK refuses that). What happened, in words."""
        name = configuration_name(cluster_arn)
        found = self._our_configuration(cluster_arn, name, None)
        if found is None:
            return "none"
        arn = found[0]
        if dry_run:
            return f"{arn}: would be deleted (if no cluster uses it then)"
        try:
            self._kafka.delete_configuration(Arn=arn)
        except ClientError as exc:
            if error_code(exc) == "BadRequestException":
                return (
                    f"{arn}: left, a cluster still uses it; it can go once the cluster is "
                    "deleted or given another configuration (run destroy again then)"
                )
            raise translate(exc, f"DeleteConfiguration {arn}") from exc
        return f"{arn}: deleted"

    # ------------------------------------------------------------------ reads

    def _in_force(self, snapshot: _Cluster, mapping: AdvertisedMapping) -> tuple[bytes, str, bool]:
        """The properties in force, the listeners value wanted, and whether
        the configuration in force already advertises it."""
        arn, revision = snapshot.configuration_arn, snapshot.configuration_revision
        # Without a configuration the cluster runs MSK's defaults: nothing to keep.
        current = self._properties(arn, int(revision)) if arn and revision else b""
        in_force = property_value(current, CUSTOM_ADVERTISED_LISTENERS)
        wanted_value = custom_listeners_value(in_force, mapping)
        return (
            current,
            wanted_value,
            in_force is not None and same_listeners(in_force, wanted_value),
        )

    def _snapshot(self, cluster_arn: str) -> _Cluster:
        try:
            cluster: dict[str, Any] = dict(
                self._kafka.describe_cluster_v2(ClusterArn=cluster_arn)["ClusterInfo"]
            )
        except ClientError as exc:
            if error_code(exc) == "NotFoundException":
                raise ClusterNotFoundError(f"MSK cluster {cluster_arn} does not exist") from exc
            raise translate(exc, f"DescribeClusterV2 {cluster_arn}") from exc
        software = cluster.get("Provisioned", {}).get("CurrentBrokerSoftwareInfo", {})
        revision = software.get("ConfigurationRevision")
        return _Cluster(
            state=str(cluster.get("State")),
            active_operation_arn=cluster.get("ActiveOperationArn") or None,
            configuration_arn=software.get("ConfigurationArn") or None,
            configuration_revision=int(revision) if revision else None,
            current_version=cluster.get("CurrentVersion") or None,
        )

    def _properties(self, configuration_arn: str, revision: int) -> bytes:
        try:
            answer = self._kafka.describe_configuration_revision(
                Arn=configuration_arn, Revision=revision
            )
        except ClientError as exc:
            raise translate(
                exc, f"DescribeConfigurationRevision {configuration_arn} {revision}"
            ) from exc
        return bytes(answer.get("ServerProperties", b""))

    def _operation(self, operation_arn: str) -> dict[str, Any]:
        try:
            answer = self._kafka.describe_cluster_operation_v2(ClusterOperationArn=operation_arn)
        except ClientError as exc:
            raise translate(exc, f"DescribeClusterOperationV2 {operation_arn}") from exc
        return dict(answer.get("ClusterOperationInfo", {}))

    def _follow(self, cluster_arn: str, operation_arn: str) -> AdvertisedOutcome:
        operation = self._operation(operation_arn)
        kind = operation.get("OperationType")
        state = operation.get("OperationState")
        target = _target_configuration(operation)
        ours = target is not None and _name_in_arn(target[0]) == configuration_name(cluster_arn)
        if not ours:
            return _outcome(
                AdvertisedStatus.BUSY,
                f"cluster operation {kind} is {state}; advertised listeners wait for it",
                operation_arn=operation_arn,
            )
        assert target is not None
        if state == _FAILED:
            return _failed(operation, operation_arn, target)
        return _outcome(
            AdvertisedStatus.IN_PROGRESS,
            f"UpdateClusterConfiguration to revision {target[1]} is {state}",
            operation_arn=operation_arn,
            configuration_arn=target[0],
            configuration_revision=target[1],
        )

    def _failed_attempt(
        self, cluster_arn: str, configuration_arn: str, revision: int
    ) -> AdvertisedOutcome | None:
        """Our last configuration update, when it rolled out ``revision`` and failed."""
        try:
            pages = self._kafka.get_paginator("list_cluster_operations_v2").paginate(
                ClusterArn=cluster_arn
            )
            for page in pages:
                for summary in page.get("ClusterOperationInfoList", []):
                    if summary.get("OperationType") != UPDATE_CLUSTER_CONFIGURATION:
                        continue
                    # Newest first: only the latest configuration update counts.
                    if summary.get("OperationState") != _FAILED:
                        return None
                    operation_arn = str(summary["OperationArn"])
                    operation = self._operation(operation_arn)
                    target = _target_configuration(operation)
                    if target != (configuration_arn, revision):
                        return None
                    return _failed(operation, operation_arn, target)
        except ClientError as exc:
            raise translate(exc, f"ListClusterOperationsV2 {cluster_arn}") from exc
        return None

    # ----------------------------------------------------------------- writes

    def _revision_holding(
        self, cluster_arn: str, current_arn: str | None, wanted: bytes
    ) -> tuple[str, int, bool]:
        """Our configuration's ARN and a revision holding ``wanted``; True when that
        revision existed before this run (an earlier run may have rolled it out)."""
        name = configuration_name(cluster_arn)
        found = self._our_configuration(cluster_arn, name, current_arn)
        if found is None:
            try:
                created = self._kafka.create_configuration(
                    Name=name,
                    Description=configuration_description(cluster_arn),
                    ServerProperties=wanted,
                )
            except ClientError as exc:
                raise _write_error(exc, f"CreateConfiguration {name}") from exc
            return str(created["Arn"]), int(created["LatestRevision"]["Revision"]), False
        arn, latest = found
        if self._properties(arn, latest) == wanted:
            return arn, latest, True
        return arn, self._new_revision(arn, wanted), False

    def _our_configuration(
        self, cluster_arn: str, name: str, current_arn: str | None
    ) -> tuple[str, int] | None:
        if current_arn and _name_in_arn(current_arn) == name:
            try:
                described = dict(self._kafka.describe_configuration(Arn=current_arn))
            except ClientError as exc:
                raise translate(exc, f"DescribeConfiguration {current_arn}") from exc
            candidates: list[dict[str, Any]] = [described]
        else:
            try:
                pages = self._kafka.get_paginator("list_configurations").paginate()
                candidates = [dict(c) for page in pages for c in page.get("Configurations", [])]
            except ClientError as exc:
                raise translate(exc, "ListConfigurations") from exc
        for configuration in candidates:
            if configuration.get("Name") != name:
                continue
            if configuration.get("Description") != configuration_description(cluster_arn):
                raise OwnershipConflictError(
                    f"MSK configuration {configuration.get('Arn')} is named {name} but was not "
                    f"created by {PROJECT} for {cluster_arn}; rename or delete it"
                )
            if configuration.get("State", "ACTIVE") != "ACTIVE":
                raise TerminalError(
                    f"our MSK configuration {configuration.get('Arn')} is "
                    f"{configuration.get('State')}"
                )
            return str(configuration["Arn"]), int(configuration["LatestRevision"]["Revision"])
        return None

    def _new_revision(self, configuration_arn: str, wanted: bytes) -> int:
        try:
            answer = self._kafka.update_configuration(
                Arn=configuration_arn,
                ServerProperties=wanted,
                Description=f"{PROJECT}: {CUSTOM_ADVERTISED_LISTENERS}",
            )
        except ClientError as exc:
            raise _write_error(exc, f"UpdateConfiguration {configuration_arn}") from exc
        return int(answer["LatestRevision"]["Revision"])

    def _roll_out(
        self, cluster_arn: str, current_version: str, configuration_arn: str, revision: int
    ) -> AdvertisedOutcome:
        try:
            answer = self._kafka.update_cluster_configuration(
                ClusterArn=cluster_arn,
                ConfigurationInfo={"Arn": configuration_arn, "Revision": revision},
                CurrentVersion=current_version,
            )
        except ClientError as exc:
            # BadRequest here is mostly a version race with another change:
            # a later run reads the new version and tries again.
            raise translate(exc, f"UpdateClusterConfiguration {cluster_arn}") from exc
        return _outcome(
            AdvertisedStatus.IN_PROGRESS,
            f"started UpdateClusterConfiguration to revision {revision} (rolling restart)",
            operation_arn=str(answer["ClusterOperationArn"]),
            configuration_arn=configuration_arn,
            configuration_revision=revision,
        )


@dataclass(frozen=True)
class _Cluster:
    """What one step needs from DescribeClusterV2."""

    state: str
    active_operation_arn: str | None
    configuration_arn: str | None
    configuration_revision: int | None
    current_version: str | None


def _snapshot(inventory: ClusterInventory) -> _Cluster:
    return _Cluster(
        state=inventory.state,
        active_operation_arn=inventory.active_operation_arn,
        configuration_arn=inventory.configuration_arn,
        configuration_revision=inventory.configuration_revision,
        current_version=inventory.current_version,
    )


def _target_configuration(operation: dict[str, Any]) -> tuple[str, int] | None:
    if operation.get("OperationType") != UPDATE_CLUSTER_CONFIGURATION:
        return None
    info = operation.get("Provisioned", {}).get("TargetClusterInfo", {}).get("ConfigurationInfo")
    if not info:
        return None
    return str(info["Arn"]), int(info["Revision"])


def _write_error(exc: ClientError, what: str) -> Exception:
    if error_code(exc) == "BadRequestException":
        message = exc.response.get("Error", {}).get("Message", "")
        return TerminalError(f"{what}: MSK refused the server properties: {message}")
    return translate(exc, what)


def _failed(
    operation: dict[str, Any], operation_arn: str, target: tuple[str, int]
) -> AdvertisedOutcome:
    error = operation.get("ErrorInfo", {})
    reason = error.get("ErrorString") or error.get("ErrorCode") or "no reason given"
    return _outcome(
        AdvertisedStatus.FAILED,
        f"UpdateClusterConfiguration {operation_arn} to revision {target[1]} of "
        f"{target[0]} failed: {reason}. The brokers keep their previous listeners; "
        "fix the cause, then run again with retry_failed",
        operation_arn=operation_arn,
        configuration_arn=target[0],
        configuration_revision=target[1],
    )


def _outcome(status: AdvertisedStatus, detail: str, **extra: Any) -> AdvertisedOutcome:
    return AdvertisedOutcome(mode=MODE, status=status, detail=detail, **extra)
