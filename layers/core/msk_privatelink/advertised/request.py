"""The broker-override request and response between the reconciler and the Kafka admin function.

Plain frozen dataclasses with ``to_dict``/``from_dict`` (JSON-safe, camelCase
keys), validated on the way in: the function trusts nothing it is invoked
with. No secret ever travels here: SCRAM credentials are read by the function
from Secrets Manager (``scramSecretArn``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from msk_privatelink.advertised.listeners import CLIENT_LISTENER_NAMES, AdvertisedMapping
from msk_privatelink.advertised.outcome import AdvertisedOutcome, AdvertisedStatus
from msk_privatelink.kernel.errors import InvalidEventError
from msk_privatelink.kernel.models import AuthScheme
from msk_privatelink.kernel.patterns import CLUSTER_ARN_RE, REGION_RE

MODE = "broker-override"
BOOTSTRAP_RE = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*", re.ASCII)
SCRAM_SECRET_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:AmazonMSK_[A-Za-z0-9/_+=.@-]+",
    re.ASCII,
)
ENTRY_RE = re.compile(
    r"(?P<name>[A-Z0-9_]+)://(?P<host>[A-Za-z0-9.-]+):(?P<port>\d{1,5})", re.ASCII
)
MAX_BROKERS = 1000
_RESPONSE_STATUSES = frozenset(
    {AdvertisedStatus.UP_TO_DATE, AdvertisedStatus.APPLIED, AdvertisedStatus.FAILED}
)


def _invalid(message: str) -> InvalidEventError:
    return InvalidEventError(f"invalid broker-override request: {message}")


def _str(data: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _invalid(f"{key} must be a non-empty string")
    return value


def _port_ok(port: str) -> bool:
    return 1 <= int(port) <= 65535


@dataclass(frozen=True)
class AdminConnection:
    """How the admin client reaches the brokers."""

    bootstrap: str
    auth: AuthScheme
    region: str
    scram_secret_arn: str | None = None
    # MSK serves TLS, SCRAM and IAM over TLS; False only for test brokers
    # whose SASL listener is SASL_PLAINTEXT.
    tls: bool = True

    def to_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "bootstrap": self.bootstrap,
            "auth": self.auth.value,
            "region": self.region,
            "tls": self.tls,
        }
        if self.scram_secret_arn is not None:
            answer["scramSecretArn"] = self.scram_secret_arn
        return answer

    @classmethod
    def from_dict(cls, data: Any) -> AdminConnection:
        if not isinstance(data, Mapping):
            raise _invalid("connection must be an object")
        unknown = set(data) - {"bootstrap", "auth", "region", "tls", "scramSecretArn"}
        if unknown:
            raise _invalid(f"connection has unknown keys {sorted(unknown)}")
        bootstrap = _str(data, "bootstrap")
        assert bootstrap is not None
        if not BOOTSTRAP_RE.fullmatch(bootstrap) or not all(
            _port_ok(hp.rsplit(":", 1)[1]) for hp in bootstrap.split(",")
        ):
            raise _invalid("connection.bootstrap must be host:port[,host:port...]")
        auth_name = _str(data, "auth")
        try:
            auth = AuthScheme(str(auth_name))
        except ValueError as exc:
            raise _invalid(
                f"connection.auth must be one of {[a.value for a in AuthScheme]}"
            ) from exc
        region = _str(data, "region")
        assert region is not None
        if not REGION_RE.fullmatch(region):
            raise _invalid("connection.region is not an AWS Region")
        secret = _str(data, "scramSecretArn", optional=True)
        if secret is not None and not SCRAM_SECRET_ARN_RE.fullmatch(secret):
            raise _invalid("connection.scramSecretArn must be an AmazonMSK_ Secrets Manager ARN")
        if auth is AuthScheme.SASL_SCRAM and secret is None:
            raise _invalid("connection.auth sasl_scram needs connection.scramSecretArn")
        tls = data.get("tls", True)
        if not isinstance(tls, bool):
            raise _invalid("connection.tls must be a boolean")
        return cls(bootstrap, auth, region, secret, tls)


@dataclass(frozen=True)
class BrokerListeners:
    """The client listener entries one broker must advertise."""

    broker_id: int
    entries: tuple[tuple[str, str], ...]  # (listener name, "NAME://host:port")

    def to_dict(self) -> dict[str, Any]:
        return {"brokerId": self.broker_id, "entries": dict(self.entries)}

    @classmethod
    def from_dict(cls, data: Any) -> BrokerListeners:
        if not isinstance(data, Mapping) or set(data) != {"brokerId", "entries"}:
            raise _invalid("each broker must be {brokerId, entries}")
        broker_id = data["brokerId"]
        if isinstance(broker_id, bool) or not isinstance(broker_id, int) or broker_id < 0:
            raise _invalid("brokerId must be a non-negative integer")
        entries = data["entries"]
        if not isinstance(entries, Mapping) or not entries:
            raise _invalid(f"broker {broker_id}: entries must be a non-empty object")
        checked = []
        for name, entry in sorted(entries.items()):
            match = ENTRY_RE.fullmatch(entry) if isinstance(entry, str) else None
            if name not in CLIENT_LISTENER_NAMES:
                raise _invalid(
                    f"broker {broker_id}: {name!r} is not a client listener "
                    f"({sorted(CLIENT_LISTENER_NAMES)})"
                )
            if match is None or match["name"] != name or not _port_ok(match["port"]):
                raise _invalid(f"broker {broker_id}: {name} entry must be {name}://host:port")
            checked.append((name, entry))
        return cls(broker_id, tuple(checked))


@dataclass(frozen=True)
class AdvertisedRequest:
    cluster_arn: str
    connection: AdminConnection
    brokers: tuple[BrokerListeners, ...]

    @classmethod
    def from_mapping(
        cls, cluster_arn: str, mapping: AdvertisedMapping, connection: AdminConnection
    ) -> AdvertisedRequest:
        return cls(
            cluster_arn,
            connection,
            tuple(
                BrokerListeners(b, tuple(sorted(mapping.client_entries(b).items())))
                for b in mapping.broker_ids
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "clusterArn": self.cluster_arn,
            "connection": self.connection.to_dict(),
            "brokers": [b.to_dict() for b in self.brokers],
        }

    @classmethod
    def from_dict(cls, data: Any) -> AdvertisedRequest:
        if not isinstance(data, Mapping):
            raise _invalid("the request must be an object")
        unknown = set(data) - {"clusterArn", "connection", "brokers"}
        if unknown:
            raise _invalid(f"unknown keys {sorted(unknown)}")
        cluster_arn = _str(data, "clusterArn")
        assert cluster_arn is not None
        if not CLUSTER_ARN_RE.fullmatch(cluster_arn):
            raise _invalid("clusterArn is not an MSK cluster ARN")
        brokers = data.get("brokers")
        if not isinstance(brokers, list) or not 1 <= len(brokers) <= MAX_BROKERS:
            raise _invalid(f"brokers must be a list of 1 to {MAX_BROKERS} brokers")
        parsed = tuple(BrokerListeners.from_dict(b) for b in brokers)
        if len({b.broker_id for b in parsed}) != len(parsed):
            raise _invalid("a broker id is listed twice")
        return cls(cluster_arn, AdminConnection.from_dict(data.get("connection")), parsed)


@dataclass(frozen=True)
class AdvertisedResponse:
    status: AdvertisedStatus
    detail: str
    changed_brokers: tuple[int, ...] = ()
    # Brokers of the request that the cluster's metadata does not list (yet).
    missing_brokers: tuple[int, ...] = ()
    # For a failure: a short machine-readable kind, and whether a later run may succeed.
    error: str | None = None
    retryable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "detail": self.detail,
            "changedBrokers": list(self.changed_brokers),
            "missingBrokers": list(self.missing_brokers),
            "error": self.error,
            "retryable": self.retryable,
        }

    @classmethod
    def from_dict(cls, data: Any) -> AdvertisedResponse:
        if not isinstance(data, Mapping):
            raise _invalid("the response must be an object")
        try:
            status = AdvertisedStatus(str(data.get("status")))
        except ValueError as exc:
            raise _invalid(f"unknown response status {data.get('status')!r}") from exc
        if status not in _RESPONSE_STATUSES:
            raise _invalid(f"response status {status.value} is not an answer of the function")
        ids = []
        for key in ("changedBrokers", "missingBrokers"):
            value = data.get(key, [])
            if not isinstance(value, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in value
            ):
                raise _invalid(f"{key} must be a list of broker ids")
            ids.append(tuple(value))
        error = data.get("error")
        return cls(
            status=status,
            detail=str(data.get("detail", "")),
            changed_brokers=ids[0],
            missing_brokers=ids[1],
            error=error if isinstance(error, str) else None,
            retryable=bool(data.get("retryable", False)),
        )

    def to_outcome(self) -> AdvertisedOutcome:
        status = self.status
        detail = self.detail
        if status is AdvertisedStatus.FAILED and self.retryable:
            # A later run is expected to get through (broker unreachable, not converged yet).
            status = AdvertisedStatus.BUSY
        elif self.missing_brokers and status is not AdvertisedStatus.FAILED:
            status = AdvertisedStatus.BUSY
            detail = f"{detail}; brokers {list(self.missing_brokers)} not in the metadata yet"
        return AdvertisedOutcome(
            mode=MODE, status=status, detail=detail, changed_brokers=self.changed_brokers
        )
