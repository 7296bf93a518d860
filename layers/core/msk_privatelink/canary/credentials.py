"""Credentials the operator gives the canary for its metadata check.

A cluster's SASL/SCRAM user (the ``username``/``password`` JSON of an MSK
SCRAM secret, Amazon MSK Developer Guide, "Sign-in credentials
authentication with AWS Secrets Manager") stored as a secret in *this*
consumer account and tagged ``msk-privatelink:canary-cluster`` with the
cluster's ARN. The canary lists secrets by that tag key (Secrets Manager
``ListSecrets`` with a ``tag-key`` filter returns each secret's tags) and
reads only those; its role may read no other secret (the template ties
``GetSecretValue`` to the tag).

Nothing of a secret's value is ever logged or reported: errors name the
secret and AWS's error code only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from msk_privatelink.aws.errors import error_code
from msk_privatelink.connectivity.kafka_metadata import Scram
from msk_privatelink.connectivity.metadata_check import MAX_SCRAM_FIELD

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = logging.getLogger(__name__)

CLUSTER_TAG = "msk-privatelink:canary-cluster"
# MSK's SASL/SCRAM mechanism (the one it supports).
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class ClusterCredentials:
    """What the metadata check of one cluster may use, or why it cannot run."""

    secret: str | None = None
    scram: Scram | None = field(default=None, repr=False)
    problem: str | None = None


def scram_credentials(
    secrets: SecretsManagerClient, cluster_arns: Iterable[str]
) -> dict[str, ClusterCredentials]:
    """Per cluster of ``cluster_arns`` with a tagged secret, its credentials
    (or the problem reading them). Clusters without one are left out: their
    metadata is not checked."""
    wanted = set(cluster_arns)
    if not wanted:
        return {}
    try:
        tagged = _tagged_secrets(secrets)
    except (ClientError, BotoCoreError) as exc:
        problem = f"metadata check: cannot list the canary's secrets ({_reason(exc)})"
        logger.warning("secrets not listed", extra={"error": _reason(exc)})
        return {arn: ClusterCredentials(problem=problem) for arn in sorted(wanted)}
    by_cluster: dict[str, list[str]] = {}
    for secret, cluster in tagged:
        if cluster in wanted:
            by_cluster.setdefault(cluster, []).append(secret)
    out: dict[str, ClusterCredentials] = {}
    for cluster, found in sorted(by_cluster.items()):
        if len(found) > 1:
            shown = ", ".join(sorted(found))
            out[cluster] = ClusterCredentials(
                problem=f"metadata check: {len(found)} secrets are tagged for this cluster "
                f"({shown}); tag one"
            )
            continue
        out[cluster] = read_scram_secret(secrets, found[0])
    return out


def _tagged_secrets(secrets: SecretsManagerClient) -> list[tuple[str, str]]:
    """(secret ARN, cluster ARN) of every secret carrying the tag."""
    out: list[tuple[str, str]] = []
    pages = secrets.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "tag-key", "Values": [CLUSTER_TAG]}]
    )
    for page in pages:
        for entry in page.get("SecretList", []):
            for tag in entry.get("Tags", []):
                if tag.get("Key") == CLUSTER_TAG and "ARN" in entry:
                    out.append((entry["ARN"], tag.get("Value", "").strip()))
    return out


def read_scram_secret(secrets: SecretsManagerClient, secret: str) -> ClusterCredentials:
    """The SCRAM user of an MSK SCRAM secret, or why it cannot be used."""
    try:
        answer = secrets.get_secret_value(SecretId=secret)
    except (ClientError, BotoCoreError) as exc:
        return ClusterCredentials(
            secret=secret, problem=f"metadata check: cannot read {secret} ({_reason(exc)})"
        )
    try:
        document = json.loads(answer.get("SecretString") or "")
        username, password = document["username"], document["password"]
        if not isinstance(username, str) or not isinstance(password, str):
            raise TypeError("not strings")
        scram = Scram(username=username, password=password, mechanism=MECHANISM)
    except (ValueError, TypeError, KeyError):
        # ValueError also covers an empty user name or password (Scram).
        return ClusterCredentials(
            secret=secret,
            problem=f"metadata check: {secret} is not a JSON object with a username and a "
            "password (the form of an MSK SCRAM secret)",
        )
    if max(len(username), len(password)) > MAX_SCRAM_FIELD:
        # The prober would refuse the whole request, every cluster's probes with it.
        return ClusterCredentials(
            secret=secret,
            problem=f"metadata check: {secret}: a user name or password longer than "
            f"{MAX_SCRAM_FIELD} characters",
        )
    return ClusterCredentials(secret=secret, scram=scram)


def _reason(exc: ClientError | BotoCoreError) -> str:
    # Only the code: nothing of the secret can be in it.
    return error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
