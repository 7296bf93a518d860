"""``broker-override`` mode: each broker's dynamic ``advertised.listeners`` via the Admin API.

Per broker: DescribeConfigs ``advertised.listeners``, replace only the client
listener entries (every other entry kept byte for byte), and when something
differs, IncrementalAlterConfigs SET, then DescribeConfigs until the broker
shows the new value. Before any real change every broker to be changed is
probed with ``validate_only``: a KRaft broker treats the key as read-only and
answers INVALID_REQUEST, and the run stops there with nothing changed,
pointing at ``msk-configuration`` mode.

Authentication: plaintext, TLS, SASL/SCRAM-SHA-512 (username and password
read from Secrets Manager, never logged nor put in an error) and IAM (SASL
OAUTHBEARER with tokens from ``aws-msk-iam-sasl-signer-python``, imported
only when used).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

# confluent_kafka.admin re-exports these without `as`, which strict mypy does
# not count as an export; the defining modules are the same objects.
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin._resource import ResourceType

from msk_privatelink.advertised.listeners import AdvertisedListenersError, with_client_entries
from msk_privatelink.advertised.outcome import AdvertisedStatus
from msk_privatelink.advertised.request import (
    AdminConnection,
    AdvertisedRequest,
    AdvertisedResponse,
)
from msk_privatelink.aws.errors import error_code
from msk_privatelink.kernel.errors import MskPrivateLinkError, RetryableError, TerminalError
from msk_privatelink.kernel.models import AuthScheme

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

ADVERTISED_LISTENERS = "advertised.listeners"
CLIENT_ID = "msk-privatelink-admin"
logger = logging.getLogger(__name__)

_UNREACHABLE = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError._UNKNOWN_BROKER,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.REQUEST_TIMED_OUT,
    }
)
_AUTHENTICATION = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
        KafkaError.ILLEGAL_SASL_STATE,
        KafkaError._SSL,
    }
)
_AUTHORIZATION = frozenset(
    {KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED}
)


class KafkaAdminError(MskPrivateLinkError):
    """The admin client could not do what was asked; ``kind`` says why."""

    kind = "kafka-error"


class KafkaUnreachableError(KafkaAdminError, RetryableError):
    kind = "unreachable"


class KafkaAuthenticationError(KafkaAdminError, TerminalError):
    kind = "authentication"


class BrokerOverrideUnsupportedError(KafkaAdminError, TerminalError):
    """The broker keeps ``advertised.listeners`` read-only (KRaft)."""

    kind = "read-only"


class NotVerifiedError(KafkaAdminError, RetryableError):
    kind = "not-verified"


class SecretError(KafkaAdminError, TerminalError):
    kind = "secret"


@dataclass(frozen=True)
class ScramCredentials:
    username: str
    password: str = field(repr=False)


def read_scram_secret(secrets: SecretsManagerClient, secret_arn: str) -> ScramCredentials:
    """The SCRAM user of an MSK ``AmazonMSK_`` secret (JSON ``username``/``password``)."""
    try:
        answer = secrets.get_secret_value(SecretId=secret_arn)
    except ClientError as exc:
        # Only the code: nothing of the secret can be in it.
        code = error_code(exc)
        error: KafkaAdminError = (
            KafkaUnreachableError(f"GetSecretValue {secret_arn}: {code}")
            if code in ("ThrottlingException", "InternalServiceError")
            else SecretError(f"cannot read SCRAM secret {secret_arn}: {code}")
        )
        raise error from None
    try:
        document = json.loads(answer.get("SecretString") or "")
        username, password = document["username"], document["password"]
    except (ValueError, TypeError, KeyError):
        raise SecretError(
            f"SCRAM secret {secret_arn} is not a JSON object with username and password"
        ) from None
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise SecretError(f"SCRAM secret {secret_arn}: username and password must be strings")
    return ScramCredentials(username, password)


TokenProvider = Callable[[str], tuple[str, float]]


def iam_token_provider(region: str) -> TokenProvider:
    """An OAUTHBEARER callback signing MSK IAM tokens with the function's credentials."""
    try:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as exc:
        raise KafkaAdminError(
            "admin_auth sasl_iam needs the aws-msk-iam-sasl-signer-python package "
            "in the Kafka admin function"
        ) from exc

    def provide(_config: str) -> tuple[str, float]:
        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return str(token), float(expiry_ms) / 1000.0

    return provide


def client_config(
    connection: AdminConnection,
    *,
    credentials: ScramCredentials | None = None,
    token_provider: TokenProvider | None = None,
) -> dict[str, Any]:
    """The librdkafka configuration for ``connection`` (holds the password for SCRAM)."""
    config: dict[str, Any] = {
        "bootstrap.servers": connection.bootstrap,
        "client.id": CLIENT_ID,
        "socket.connection.setup.timeout.ms": 5000,
        "reconnect.backoff.max.ms": 1000,
    }
    scheme = connection.auth
    if scheme is AuthScheme.PLAINTEXT:
        config["security.protocol"] = "PLAINTEXT"
    elif scheme is AuthScheme.TLS:
        config["security.protocol"] = "SSL"
    else:
        config["security.protocol"] = "SASL_SSL" if connection.tls else "SASL_PLAINTEXT"
        if scheme is AuthScheme.SASL_SCRAM:
            if credentials is None:
                raise KafkaAdminError("sasl_scram needs the SCRAM credentials")
            config["sasl.mechanism"] = "SCRAM-SHA-512"
            config["sasl.username"] = credentials.username
            config["sasl.password"] = credentials.password
        else:
            config["sasl.mechanism"] = "OAUTHBEARER"
            config["oauth_cb"] = token_provider or iam_token_provider(connection.region)
    return config


class KafkaAdmin:
    """A broker's ``advertised.listeners`` through one confluent-kafka AdminClient."""

    def __init__(
        self, config: dict[str, Any], *, timeout: float = 15.0, secret: str | None = None
    ) -> None:
        self._timeout = timeout
        self._secret = secret
        # The first authentication error seen: later ones ("brokers are down") hide it.
        self._auth_error: KafkaError | None = None
        self._last_logged: int | None = None
        settings = {k: v for k, v in config.items() if not callable(v)}
        callbacks = {k: v for k, v in config.items() if callable(v)}
        # librdkafka's own log lines go to Python logging, not straight to stderr.
        self._client = AdminClient(
            settings,
            error_cb=self._on_error,
            logger=logging.getLogger(f"{__name__}.librdkafka"),
            **callbacks,
        )

    @classmethod
    def connect(
        cls,
        connection: AdminConnection,
        *,
        secrets: SecretsManagerClient | None = None,
        token_provider: TokenProvider | None = None,
        timeout: float = 15.0,
    ) -> KafkaAdmin:
        credentials = None
        if connection.scram_secret_arn is not None and connection.auth is AuthScheme.SASL_SCRAM:
            if secrets is None:
                raise KafkaAdminError("sasl_scram needs a Secrets Manager client")
            credentials = read_scram_secret(secrets, connection.scram_secret_arn)
        config = client_config(connection, credentials=credentials, token_provider=token_provider)
        return cls(config, timeout=timeout, secret=credentials.password if credentials else None)

    def _on_error(self, error: KafkaError) -> None:
        # Connection and authentication problems arrive here, not on the futures.
        if error.code() in _AUTHENTICATION and self._auth_error is None:
            self._auth_error = error
        if error.code() != self._last_logged:
            self._last_logged = error.code()
            logger.warning("kafka client error", extra={"kafka_error": self._clean(error.str())})

    def _clean(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "***")
        return text

    def _failure(self, what: str, exc: KafkaException) -> KafkaAdminError:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        code = error.code() if error is not None else None
        # The admin client serves error_cb and its log lines only when polled.
        self._client.poll(0)
        seen = self._auth_error
        if code in _UNREACHABLE and seen is not None:
            error, code = seen, seen.code()
        text = self._clean(error.str() if error is not None else str(exc))
        message = f"{what}: {text}"
        if code in _AUTHENTICATION or code in _AUTHORIZATION:
            return KafkaAuthenticationError(message)
        if code in _UNREACHABLE or (error is not None and error.retriable()):
            return KafkaUnreachableError(message)
        return KafkaAdminError(message)

    def broker_ids(self) -> frozenset[int]:
        try:
            metadata = self._client.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            raise self._failure("reading the cluster metadata", exc) from None
        return frozenset(int(b) for b in metadata.brokers)

    def advertised_listeners(self, broker_id: int) -> str:
        resource = ConfigResource(ResourceType.BROKER, str(broker_id))
        try:
            described = self._client.describe_configs([resource])[resource].result(
                timeout=self._timeout
            )
        except KafkaException as exc:
            raise self._failure(f"DescribeConfigs broker {broker_id}", exc) from None
        entry = described.get(ADVERTISED_LISTENERS)
        if entry is None or not isinstance(entry.value, str):
            raise KafkaAdminError(f"broker {broker_id} reports no {ADVERTISED_LISTENERS}")
        return entry.value

    def set_advertised_listeners(
        self, broker_id: int, value: str, *, validate_only: bool = False
    ) -> None:
        resource = ConfigResource(
            ResourceType.BROKER,
            str(broker_id),
            incremental_configs=[
                ConfigEntry(
                    ADVERTISED_LISTENERS, value, incremental_operation=AlterConfigOpType.SET
                )
            ],
        )
        try:
            futures = self._client.incremental_alter_configs(
                [resource], validate_only=validate_only
            )
            futures[resource].result(timeout=self._timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is not None and error.code() == KafkaError.INVALID_REQUEST:
                raise BrokerOverrideUnsupportedError(
                    f"broker {broker_id} refuses to change {ADVERTISED_LISTENERS} "
                    f"({self._clean(error.str())}). KRaft brokers keep it read-only: use "
                    "advertised_listeners.mode msk-configuration for this cluster"
                ) from None
            what = "validating" if validate_only else "IncrementalAlterConfigs"
            raise self._failure(f"{what} broker {broker_id}", exc) from None


class BrokerOverride:
    """Applies a request through a `KafkaAdmin`; never raises for Kafka trouble, answers."""

    def __init__(
        self,
        admin: KafkaAdmin,
        *,
        verify_timeout: float = 30.0,
        poll_interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._admin = admin
        self._verify_timeout = verify_timeout
        self._poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep

    def apply(self, request: AdvertisedRequest) -> AdvertisedResponse:
        try:
            return self._apply(request)
        except KafkaAdminError as exc:
            logger.warning("broker override failed", extra={"kind": exc.kind, "error": str(exc)})
            return AdvertisedResponse(
                status=AdvertisedStatus.FAILED,
                detail=str(exc),
                error=exc.kind,
                retryable=exc.retryable,
            )
        except AdvertisedListenersError as exc:
            return AdvertisedResponse(
                status=AdvertisedStatus.FAILED, detail=str(exc), error="listeners"
            )

    def _apply(self, request: AdvertisedRequest) -> AdvertisedResponse:
        present = self._admin.broker_ids()
        wanted_ids = [b.broker_id for b in request.brokers]
        missing = tuple(b for b in wanted_ids if b not in present)
        changes: dict[int, str] = {}
        for broker in request.brokers:
            if broker.broker_id in missing:
                continue
            current = self._admin.advertised_listeners(broker.broker_id)
            wanted = with_client_entries(current, dict(broker.entries))
            if wanted != current:
                changes[broker.broker_id] = wanted
        if not changes:
            return AdvertisedResponse(
                status=AdvertisedStatus.UP_TO_DATE,
                detail="every broker advertises the mapping",
                missing_brokers=missing,
            )
        # Probe all first: a refusal (KRaft) leaves every broker as it was.
        for broker_id, value in changes.items():
            self._admin.set_advertised_listeners(broker_id, value, validate_only=True)
        for broker_id, value in changes.items():
            self._admin.set_advertised_listeners(broker_id, value)
            logger.info(
                "advertised.listeners set",
                extra={"broker_id": broker_id, "advertised_listeners": value},
            )
        self._verify(changes)
        return AdvertisedResponse(
            status=AdvertisedStatus.APPLIED,
            detail=f"re-advertised brokers {sorted(changes)}",
            changed_brokers=tuple(sorted(changes)),
            missing_brokers=missing,
        )

    def _verify(self, changes: dict[int, str]) -> None:
        # The broker applies a dynamic config asynchronously: poll with a deadline.
        deadline = self._clock() + self._verify_timeout
        pending = dict(changes)
        while True:
            pending = {b: v for b, v in pending.items() if self._admin.advertised_listeners(b) != v}
            if not pending:
                return
            if self._clock() >= deadline:
                raise NotVerifiedError(
                    f"brokers {sorted(pending)} do not show the new {ADVERTISED_LISTENERS} "
                    f"within {self._verify_timeout:.0f}s"
                )
            self._sleep(self._poll_interval)


def apply_request(
    request: AdvertisedRequest,
    *,
    secrets: SecretsManagerClient | None = None,
    token_provider: TokenProvider | None = None,
    timeout: float = 15.0,
) -> AdvertisedResponse:
    """Connect as the request says and apply it: what the Kafka admin function runs."""
    try:
        admin = KafkaAdmin.connect(
            request.connection, secrets=secrets, token_provider=token_provider, timeout=timeout
        )
    except KafkaAdminError as exc:
        return AdvertisedResponse(
            status=AdvertisedStatus.FAILED,
            detail=str(exc),
            error=exc.kind,
            retryable=exc.retryable,
        )
    return BrokerOverride(admin).apply(request)


def in_process(
    secrets: SecretsManagerClient | None = None, *, timeout: float = 15.0
) -> Callable[[AdvertisedRequest], AdvertisedResponse]:
    """A broker-override call that runs here (CLI, demo) instead of invoking the function."""

    def call(request: AdvertisedRequest) -> AdvertisedResponse:
        return apply_request(request, secrets=secrets, timeout=timeout)

    return call
