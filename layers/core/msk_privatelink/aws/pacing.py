"""Pacing of Describe calls: a token bucket in front of a client.

ELB throttles each account's Describe* calls with a bucket of 40 tokens
refilled at 10 a second per Region ("Request throttling for the ELB API");
EC2's non-mutating calls with 100 refilled at 20 a second ("Request
throttling for the Amazon EC2 API"). The scheduled sweep reads deeply and
several functions may sweep at once, so each paces itself to its share of a
budget below those rates and never spends the account's bucket on its own:
other tools in the account call the same API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class DescribePacer:
    """At most ``rate`` Describe* calls a second after a burst of ``burst``,
    while ``active`` and for at most ``for_seconds`` of it: a cluster too big
    to read within that time at this rate is read at the API's own pace for
    the rest, so pacing never runs a function out of time."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a pacer needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._at = clock()
        self._active = False
        self._until = 0.0
        self.waited = 0.0
        self.paced_calls = 0

    def attach(self, client: Any) -> None:
        """Pace ``client``'s Describe* operations (botocore's before-call
        event, registered per operation and first: more specific handlers run
        first, and one that answers the call itself ends the event)."""
        model = client.meta.service_model
        service = model.service_id.hyphenize()
        for operation in model.operation_names:
            if operation.startswith("Describe"):
                client.meta.events.register_first(
                    f"before-call.{service}.{operation}", self._before_call
                )

    @contextmanager
    def active(self, for_seconds: float) -> Iterator[None]:
        with self._lock:
            self._active = True
            self._tokens = float(self.burst)
            self._at = self._clock()
            self._until = self._at + for_seconds
        try:
            yield
        finally:
            with self._lock:
                self._active = False

    def _before_call(self, **_: Any) -> None:
        if not self._active:
            return
        with self._lock:
            now = self._clock()
            if now >= self._until:
                return
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            self._tokens -= 1
            self.paced_calls += 1
            self.waited += wait
        if wait > 0:
            self._sleep(wait)
