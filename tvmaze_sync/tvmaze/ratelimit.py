"""Client-side rate limiting: a token bucket that keeps every TVMaze request under the limit.

TVMaze allows "at least 20 calls every 10 seconds" and answers 429 beyond that. A server that
counts requests in a sliding window (as TVMaze's backend and our simulator do) punishes
bursts: a bucket holding C tokens could spend C at once, refill C more within the same 10 s
and so send 2·C in one window. The bucket therefore holds a single token by default: requests
are paced one every `period / rate` seconds, which never exceeds C in any window yet uses the
whole allowance once the client is rate-bound (as a full sync is). A small `margin` stretches
the interval so that network jitter (request k arriving a little early, k−C a little late)
cannot squeeze C+1 requests into one server window.

The clock and sleep are injected, so tests move time by hand and never wait.
"""

from __future__ import annotations

import threading

from tvmaze_sync.core.timeutil import Clock, Sleep

#: Interval stretch: 1 % of a 10 s window is 100 ms of jitter tolerance at 20 calls / 10 s.
DEFAULT_MARGIN = 0.01


class TokenBucket:
    """`rate` tokens per `period` seconds, at most `burst` held; `acquire` blocks for one.

    Implemented in its virtual-scheduling form (GCRA), which is exactly a token bucket but
    keeps one number: the theoretical time the next token is due.
    """

    def __init__(
        self,
        rate: float,
        period: float = 10.0,
        *,
        burst: int = 1,
        margin: float = DEFAULT_MARGIN,
        clock: Clock,
        sleep: Sleep,
    ) -> None:
        if rate <= 0 or period <= 0:
            raise ValueError("rate and period must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.interval = period / rate * (1.0 + margin)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._due = clock()  # theoretical arrival time of the next request
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait until a request may be sent; return how long this call waited."""
        with self._lock:
            now = self._clock()
            allowed_at = self._due - (self.burst - 1) * self.interval
            wait = max(0.0, allowed_at - now)
            if wait > 0:
                self._sleep(wait)
            # Paced from when the request was allowed, not from when we woke up: oversleeping
            # must not shift every later slot.
            self._due = max(self._due, now + wait) + self.interval
            return wait
