"""The project's own exceptions.

Two families matter to callers: retryable errors (throttling, eventual
consistency, resources still provisioning) end a run so that the queue
delivers the nudge again; terminal errors (bad configuration, unknown
cluster) are logged and dropped because retrying cannot fix them.
"""

from __future__ import annotations


class MskPrivateLinkError(Exception):
    """Base class of every error this project raises on purpose."""

    retryable: bool = False


class TerminalError(MskPrivateLinkError):
    """Retrying will not help; a person has to look."""


class RetryableError(MskPrivateLinkError):
    """A later run is expected to succeed."""

    retryable = True


class ConfigError(TerminalError):
    """The cluster configuration document is missing or invalid."""


class ClusterNotFoundError(TerminalError):
    """The configured cluster ARN does not exist (or was deleted)."""


class UnsupportedClusterError(TerminalError):
    """The cluster cannot be served by this project (serverless, no client subnets, ...)."""


class QuotaExceededError(TerminalError):
    """An AWS quota stops the change: retrying cannot help until the quota is
    raised (where AWS allows it) or the design needs less of it."""


class OwnershipConflictError(TerminalError):
    """A resource with one of our deterministic names exists but is not ours."""


class ThrottledError(RetryableError):
    """AWS kept throttling after botocore's own retries."""


class AwsCallError(RetryableError):
    """An AWS call failed with an error worth retrying at the run level."""


class NotConvergedError(RetryableError):
    """Applying the plan did not lead to an empty re-plan."""


class InvalidEventError(TerminalError):
    """An incoming event is malformed; it is skipped, never retried."""
