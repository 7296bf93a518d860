"""The embedded AWS: moto plus an MSK simulator, in-process or over HTTP.

Nothing here imports moto at import time; the Lambda layer ships this
package but never enters an EmbeddedAws.
"""

from msk_privatelink.embedded.aws import EmbeddedAws, Network
from msk_privatelink.embedded.msk_simulator import MskSimulator

__all__ = ["EmbeddedAws", "MskSimulator", "Network"]
