"""The canary's custom resource: when the consumer stack is deleted (or the
canary disabled), the prober functions it created go too. They are not
resources of the stack (the canary makes one per consumer network at run
time), so CloudFormation would otherwise leave them, and their network
interfaces, behind.

CloudFormation sends a request object and waits for a response object PUT
to its pre-signed ``ResponseURL`` (CloudFormation User Guide, "Custom
resources": "Custom resource request objects" and "Custom resource response
objects"). Create and Update change nothing; Delete removes every function
named with the prober prefix that carries the ownership tag. A failure is
answered FAILED with the reason, so a delete never hangs for an hour.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from msk_privatelink.canary.probers import ProberFunctions
from msk_privatelink.kernel.errors import MskPrivateLinkError

logger = logging.getLogger(__name__)

REQUEST_FIELDS = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId")
# The response body is limited to 4096 bytes; the reason is cut well below.
MAX_REASON = 1000
PHYSICAL_ID = "connectivity-canary-probers"

Sender = Callable[[str, bytes], None]


def is_custom_resource_request(event: Mapping[str, Any]) -> bool:
    return all(isinstance(event.get(key), str) for key in REQUEST_FIELDS)


def put_response(url: str, body: bytes) -> None:
    """PUT to the pre-signed S3 URL, with an empty content type (the URL is
    signed without one)."""
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


def handle_custom_resource(
    event: Mapping[str, Any], probers: ProberFunctions, send: Sender = put_response
) -> dict[str, Any]:
    status, reason, removed = "SUCCESS", "", []
    if event["RequestType"] == "Delete":
        try:
            removed = probers.remove_unused([])
        except MskPrivateLinkError as exc:
            status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:MAX_REASON]
        # Anything else too: an unanswered request holds the stack for an hour.
        except Exception as exc:
            logger.exception("prober removal failed")
            status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:MAX_REASON]
    response = {
        "Status": status,
        "Reason": reason or f"removed {len(removed)} prober function(s)",
        "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {"Removed": str(len(removed))},
    }
    logger.info("custom resource answered", extra={"status": status, "removed": removed})
    send(str(event["ResponseURL"]), json.dumps(response).encode())
    return response
