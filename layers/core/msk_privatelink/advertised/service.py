"""Advertised listeners for shared-nlb, one call for the reconciler.

``AdvertisedListeners(...).ensure(inventory, mapping)`` runs after the NLB,
its listeners, target groups and DNS are verified, and returns an
`AdvertisedOutcome` without ever waiting for MSK:

- ``none``: nothing to do;
- ``msk-configuration``: `MskConfigurationAdvertiser` (MSK API only);
- ``broker-override``: the Kafka admin function, through a `BrokerOverrideCall`
  (the Lambda invoker in production, the same core code in-process for the CLI
  and tests).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from msk_privatelink.advertised.aws.msk_configuration import MskConfigurationAdvertiser
from msk_privatelink.advertised.listeners import AdvertisedMapping, mapping_for
from msk_privatelink.advertised.outcome import (
    AdvertisedOutcome,
    AdvertisedPreview,
    AdvertisedStatus,
)
from msk_privatelink.advertised.request import (
    AdminConnection,
    AdvertisedRequest,
    AdvertisedResponse,
)
from msk_privatelink.aws.errors import translate
from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.models import AuthScheme, ClusterInventory

if TYPE_CHECKING:
    from mypy_boto3_kafka import KafkaClient

    from msk_privatelink.reconcile.config import ClusterConfig

BrokerOverrideCall = Callable[[AdvertisedRequest], AdvertisedResponse]

MODES = ("none", "msk-configuration", "broker-override")
# The admin client's scheme when none is configured: the strongest enabled one.
ADMIN_AUTH_PREFERENCE = (
    AuthScheme.SASL_IAM,
    AuthScheme.SASL_SCRAM,
    AuthScheme.TLS,
    AuthScheme.PLAINTEXT,
)
_BOOTSTRAP_KEYS = {
    AuthScheme.PLAINTEXT: "BootstrapBrokerString",
    AuthScheme.TLS: "BootstrapBrokerStringTls",
    AuthScheme.SASL_SCRAM: "BootstrapBrokerStringSaslScram",
    AuthScheme.SASL_IAM: "BootstrapBrokerStringSaslIam",
}


@dataclass(frozen=True)
class AdminSettings:
    """broker-override: how the admin client connects (None: derived from the cluster)."""

    bootstrap: str | None = None
    auth: AuthScheme | None = None
    scram_secret_arn: str | None = None
    tls: bool = True


def mapping_fingerprint(mapping: AdvertisedMapping) -> str:
    """A digest of every broker's client entries: what broker-override applies."""
    entries = {str(b): mapping.client_entries(b) for b in mapping.broker_ids}
    blob = json.dumps(entries, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def mapping_from_config(
    config: ClusterConfig, inventory: ClusterInventory, schemes: frozenset[AuthScheme]
) -> AdvertisedMapping:
    """The mapping for a shared-nlb cluster: its exposed schemes and port bases."""
    return mapping_for(inventory, schemes, config.shared_nlb.port_bases)


class AdvertisedListeners:
    def __init__(
        self,
        mode: str,
        *,
        kafka: KafkaClient | None = None,
        broker_override: BrokerOverrideCall | None = None,
        admin: AdminSettings | None = None,
        retry_failed: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"advertised listeners mode {mode!r} is not one of {MODES}")
        if mode != "none" and kafka is None:
            raise ConfigError(f"advertised listeners mode {mode} needs a Kafka (MSK) client")
        if mode == "broker-override" and broker_override is None:
            raise ConfigError("advertised listeners mode broker-override needs the admin function")
        self.mode = mode
        self._kafka = kafka
        self._broker_override = broker_override
        self._admin = admin or AdminSettings()
        self._retry_failed = retry_failed

    @classmethod
    def from_config(
        cls,
        config: ClusterConfig,
        *,
        kafka: KafkaClient | None,
        broker_override: BrokerOverrideCall | None = None,
        retry_failed: bool = False,
    ) -> AdvertisedListeners:
        settings = config.advertised_listeners
        return cls(
            settings.mode,
            kafka=kafka,
            broker_override=broker_override,
            admin=AdminSettings(
                bootstrap=settings.admin_bootstrap,
                auth=settings.admin_auth,
                scram_secret_arn=settings.scram_secret_arn,
            ),
            retry_failed=retry_failed,
        )

    def preview(self, inventory: ClusterInventory, mapping: AdvertisedMapping) -> AdvertisedPreview:
        """What ``ensure`` would change now, without writing (for `plan`)."""
        if self.mode == "none":
            return AdvertisedPreview(self.mode, note="mode none")
        if self.mode == "msk-configuration":
            assert self._kafka is not None
            return MskConfigurationAdvertiser(self._kafka).preview(
                inventory.cluster_arn, mapping, inventory
            )
        return AdvertisedPreview(
            self.mode,
            note="broker-override: on apply, each broker whose advertised listeners differ "
            "is given them as a dynamic broker configuration (no restart)",
        )

    def ensure(self, inventory: ClusterInventory, mapping: AdvertisedMapping) -> AdvertisedOutcome:
        """One step towards every broker advertising ``mapping``; never waits for MSK."""
        if self.mode == "none":
            return AdvertisedOutcome(
                mode=self.mode, status=AdvertisedStatus.UP_TO_DATE, detail="mode none"
            )
        assert self._kafka is not None
        if self.mode == "msk-configuration":
            # The inventory's DescribeClusterV2 is this run's: not read again.
            return MskConfigurationAdvertiser(self._kafka).ensure(
                inventory.cluster_arn, mapping, retry_failed=self._retry_failed, known=inventory
            )
        assert self._broker_override is not None
        request = AdvertisedRequest.from_mapping(
            inventory.cluster_arn, mapping, self.connection(inventory)
        )
        return self._broker_override(request).to_outcome()

    def connection(self, inventory: ClusterInventory) -> AdminConnection:
        auth = self._admin.auth or next(
            (s for s in ADMIN_AUTH_PREFERENCE if s in inventory.enabled_schemes), None
        )
        if auth is None:
            raise ConfigError(f"cluster {inventory.cluster_arn} has no client scheme to administer")
        if auth is AuthScheme.SASL_SCRAM and self._admin.scram_secret_arn is None:
            raise ConfigError("admin auth sasl_scram needs advertised_listeners.scram_secret_arn")
        bootstrap = self._admin.bootstrap or self._bootstrap(inventory.cluster_arn, auth)
        return AdminConnection(
            bootstrap=bootstrap,
            auth=auth,
            region=inventory.region,
            scram_secret_arn=self._admin.scram_secret_arn,
            tls=self._admin.tls,
        )

    def _bootstrap(self, cluster_arn: str, auth: AuthScheme) -> str:
        assert self._kafka is not None
        try:
            answer: dict[str, Any] = dict(self._kafka.get_bootstrap_brokers(ClusterArn=cluster_arn))
        except ClientError as exc:
            raise translate(exc, f"GetBootstrapBrokers {cluster_arn}") from exc
        bootstrap = answer.get(_BOOTSTRAP_KEYS[auth])
        if not bootstrap:
            raise ConfigError(
                f"cluster {cluster_arn} has no {auth.value} bootstrap brokers; "
                "set advertised_listeners.admin_auth or admin_bootstrap"
            )
        return str(bootstrap)
