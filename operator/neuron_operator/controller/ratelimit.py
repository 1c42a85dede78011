"""Client-side rate limiting of the operator's API requests: a token bucket, as client-go's
(QPS and burst). The API server's priority and fairness protects the cluster from everyone; this
keeps the operator from being the client it has to shed, when a thousand objects are created
or found at once. Thread-safe; the clock is injectable, so the arithmetic is unit-tested."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`qps` tokens a second, at most `burst` saved up; `take` waits for one. A qps of 0 or less
    does not limit."""

    def __init__(
        self,
        qps: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.qps, self.burst = qps, max(1, burst)
        self._clock, self._sleep = clock, sleep
        self._tokens = float(self.burst)
        self._at = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token, in debt if need be; return how long to wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.qps)
            self._at = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def take(self) -> None:
        if self.qps <= 0:
            return
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
