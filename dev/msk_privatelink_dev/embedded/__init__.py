"""The embedded AWS: moto plus an MSK simulator, in-process or over HTTP.

Nothing here imports moto at import time: importing the package is cheap, and
moto loads when an EmbeddedAws is entered.
"""

from msk_privatelink_dev.embedded.aws import EmbeddedAws, Network
from msk_privatelink_dev.embedded.msk_simulator import MskSimulator

__all__ = ["EmbeddedAws", "MskSimulator", "Network"]
