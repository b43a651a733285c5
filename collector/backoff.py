"""The retry delay ingest advertises (gRPC ``RetryInfo``, HTTP ``Retry-After``) while a refusal
lasts: the database away, the writer's queue or the ingest memory full.

The OpenTelemetry exporters wait exactly the advertised delay and try at most six times within
their export timeout. A constant 1 s made a sender give up after about 6 s of any outage; a delay
that grows with the outage (the base at first, then as long as the refusal has lasted, capped)
spaces each sender's retries about 1, 2, 4, 8, … s apart, as the exporters' own exponential
backoff would, so that an exporter given a longer timeout rides out a longer outage. Jitter
spreads the senders' retries after a recovery.
"""

from __future__ import annotations

import random
import time
from typing import Callable

DEFAULT_BASE_S = 1.0
DEFAULT_CAP_S = 30.0
JITTER = 0.2  # ± this fraction


class RetryAdvice:
    """The delay to advertise for one refusal condition. ``delay()`` is called for each refusal
    (the first starts the condition's clock); ``clear()`` when the condition is over."""

    def __init__(self, base: float = DEFAULT_BASE_S, cap: float = DEFAULT_CAP_S, *,
                 clock: Callable[[], float] = time.monotonic, rng: Callable[[], float] = random.random):  # fmt: skip
        self.base = base
        self.cap = max(cap, base)
        self._clock = clock
        self._rng = rng
        self._since: float | None = None

    @property
    def lasting(self) -> float:
        """Seconds since the condition began (0 when there is none)."""
        return 0.0 if self._since is None else self._clock() - self._since

    def delay(self) -> float:
        now = self._clock()
        if self._since is None:
            self._since = now
        delay = max(self.base, now - self._since) * (1 + JITTER * (2 * self._rng() - 1))
        return min(self.cap, max(self.base, delay))

    def clear(self) -> None:
        self._since = None
