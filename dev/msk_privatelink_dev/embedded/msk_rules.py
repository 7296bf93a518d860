"""The request rules MSK applies, and how it fills in what a request leaves out.

Pure functions over request parameters and cluster records; the simulator
calls them before it changes anything.
"""

from __future__ import annotations

import base64
import binascii
import random
import string
import uuid
from collections.abc import Mapping
from typing import Any

from msk_privatelink_dev.embedded.msk_cluster import ClusterRecord, auth_enabled
from msk_privatelink_dev.embedded.msk_contract import bad_request

AUTH_PATHS: dict[str, tuple[str, ...]] = {
    "iam": ("Sasl", "Iam"),
    "scram": ("Sasl", "Scram"),
    "tls": ("Tls",),
    "unauthenticated": ("Unauthenticated",),
}
# The largest page the model allows; used when a request sets no MaxResults.
_DEFAULT_PAGE_SIZE = 100


OPEN_MONITORING_OFF: dict[str, Any] = {
    "Prometheus": {
        "JmxExporter": {"EnabledInBroker": False},
        "NodeExporter": {"EnabledInBroker": False},
    }
}


def paginate(items: list[Any], params: Mapping[str, Any]) -> tuple[list[Any], str | None]:
    start = _offset_from_token(params.get("NextToken"))
    size = params.get("MaxResults", _DEFAULT_PAGE_SIZE)
    end = start + size
    token = (
        base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else None
    )
    return items[start:end], token


def _offset_from_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    label, _, value = text.partition(":")
    if label != "offset" or not value.isdigit():
        raise bad_request("The NextToken is not valid.", invalid_parameter="nextToken")
    return int(value)


# MSK's brokers-per-cluster quota (adjustable in a real account); botocore's
# model still documents an old maximum of 15, which MSK no longer applies.
MAX_BROKERS_PER_CLUSTER = 90


def check_broker_count(
    count: int, subnet_count: int, parameter: str, quota: int = MAX_BROKERS_PER_CLUSTER
) -> None:
    if count > quota:
        raise bad_request(
            f"The number of broker nodes exceeds the quota of {quota} per cluster.",
            invalid_parameter=parameter,
        )
    if count < subnet_count or count % subnet_count:
        raise bad_request(
            "The number of broker nodes must be a multiple of the number of client subnets.",
            invalid_parameter=parameter,
        )


def check_current_version(cluster: ClusterRecord, version: str) -> None:
    if version != cluster.current_version:
        raise bad_request(
            f"The version {version} does not match the cluster's current version "
            f"{cluster.current_version}.",
            invalid_parameter="currentVersion",
        )


def require_active(cluster: ClusterRecord) -> None:
    if cluster.state != "ACTIVE":
        raise bad_request(
            f"The operation cannot be performed on a cluster in {cluster.state} state."
        )


def brokers_to_remove(cluster: ClusterRecord, per_subnet: int) -> tuple[int, ...]:
    # MSK removes brokers evenly across Availability Zones; take the highest ids.
    removed: list[int] = []
    for subnet_id in cluster.client_subnets:
        in_subnet = sorted(
            (b.broker_id for b in cluster.brokers.values() if b.subnet_id == subnet_id),
            reverse=True,
        )
        if len(in_subnet) <= per_subnet:
            raise bad_request(
                f"Subnet {subnet_id} does not have {per_subnet} brokers to remove.",
                invalid_parameter="targetNumberOfBrokerNodes",
            )
        removed.extend(in_subnet[:per_subnet])
    return tuple(sorted(removed))


def new_cluster_version() -> str:
    # Real versions look like "K3AEGXETSR30VB": K, a digit, then 12 of [A-Z0-9].
    tail = "".join(random.choices(string.ascii_uppercase + string.digits, k=12))
    return f"K{random.randint(1, 9)}{tail}"


def authentication_from(enabled: set[str]) -> dict[str, Any]:
    return {
        "Sasl": {
            "Iam": {"Enabled": "iam" in enabled},
            "Scram": {"Enabled": "scram" in enabled},
        },
        "Tls": {"Enabled": "tls" in enabled},
        "Unauthenticated": {"Enabled": "unauthenticated" in enabled},
    }


def normalised_authentication(given: Mapping[str, Any] | None) -> dict[str, Any]:
    if given is None:
        return authentication_from({"iam"})
    sasl = given.get("Sasl", {})
    tls = given.get("Tls", {})
    ca_arns = list(tls.get("CertificateAuthorityArnList", []))
    normalised: dict[str, Any] = {
        "Sasl": {
            "Iam": {"Enabled": bool(sasl.get("Iam", {}).get("Enabled", False))},
            "Scram": {"Enabled": bool(sasl.get("Scram", {}).get("Enabled", False))},
        },
        "Tls": {"Enabled": bool(tls.get("Enabled", bool(ca_arns)))},
        "Unauthenticated": {
            "Enabled": bool(given.get("Unauthenticated", {}).get("Enabled", False))
        },
    }
    if ca_arns:
        normalised["Tls"]["CertificateAuthorityArnList"] = ca_arns
    return normalised


def normalised_encryption(
    given: Mapping[str, Any] | None, *, account_id: str, region: str
) -> dict[str, Any]:
    given = given or {}
    at_rest = given.get("EncryptionAtRest") or {
        # MSK encrypts with the account's AWS managed key when none is given.
        "DataVolumeKMSKeyId": f"arn:aws:kms:{region}:{account_id}:key/{uuid.uuid4()}"
    }
    in_transit = {"ClientBroker": "TLS", "InCluster": True, **given.get("EncryptionInTransit", {})}
    return {"EncryptionAtRest": dict(at_rest), "EncryptionInTransit": in_transit}


def check_auth_against_encryption(
    authentication: Mapping[str, Any], encryption: Mapping[str, Any]
) -> None:
    enabled = {name for name, path in AUTH_PATHS.items() if auth_enabled(authentication, *path)}
    if not enabled:
        raise bad_request(
            "Enable at least one client authentication method.",
            invalid_parameter="clientAuthentication",
        )
    client_broker = encryption["EncryptionInTransit"]["ClientBroker"]
    if client_broker == "PLAINTEXT" and enabled - {"unauthenticated"}:
        raise bad_request(
            "SASL and TLS client authentication need TLS encryption between clients and brokers.",
            invalid_parameter="encryptionInTransit",
        )
