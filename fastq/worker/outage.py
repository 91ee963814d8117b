"""Says "Redis is unreachable" once in a while instead of once per retry.

Every loop of a worker process (fetch, acknowledge, cancel subscription,
maintenance) retries on its own while Redis is down; they share one OutageLog so
an outage costs one log line per interval per process, plus one when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

log = structlog.get_logger("fastq.worker")

DEFAULT_INTERVAL = 5.0  # seconds between repeated "cannot reach Redis" lines


class OutageLog:
    """Rate-limited logging of connection failures and of the recovery.

    Args:
        interval: seconds between two lines while the outage lasts.
        clock: monotonic time source.
        message: what the repeated line says.
    """

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        message: str = "cannot reach Redis; retrying",
    ) -> None:
        self.interval = interval
        self.message = message
        self.clock = clock
        self.down_since: float | None = None
        self._next = 0.0
        self._suppressed = 0

    def failed(self, where: str, exc: BaseException) -> None:
        """Record a failed attempt; logs at most once per interval."""
        now = self.clock()
        if self.down_since is None:
            self.down_since = now
        if now < self._next:
            self._suppressed += 1
            return
        log.warning(
            self.message,
            where=where,
            error=str(exc),
            down_for=round(now - self.down_since, 1),
            retries_not_logged=self._suppressed,
        )
        self._next = now + self.interval
        self._suppressed = 0

    def ok(self) -> None:
        """Record a success; logs once when an outage ends."""
        if self.down_since is None:
            return
        log.info(
            "back to normal", after=self.message, down_for=round(self.clock() - self.down_since, 1)
        )
        self.down_since = None
        self._next = 0.0
        self._suppressed = 0
