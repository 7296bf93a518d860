"""The prober function's handler: the canary creates one function per
consumer network (VPC, subnets, security groups) with this module, from the
core layer, as its handler (``msk_privatelink.connectivity.prober_function.
lambda_handler``), so its own code package holds nothing.

Standard library only, like the rest of ``connectivity``: the function
starts fast, and it needs no AWS access from inside the VPC.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from msk_privatelink.connectivity.prober import handle

logger = logging.getLogger()
logger.setLevel(logging.INFO)


class _Context(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def lambda_handler(event: Any, context: _Context) -> dict[str, Any]:
    answer = handle(event, context.get_remaining_time_in_millis() / 1000)
    # One line per invocation: what failed where, for the function's own logs.
    logger.info(json.dumps({"message": "probed", **answer["summary"]}))
    return answer
