"""Observation points of a worker process (metrics, tracing), passed into the Engine.

The engine calls these on its hot path, so an implementation must be cheap: count
in plain Python and publish in ``tick``. ``None`` (the default) costs one test per
call site. The engine never imports an implementation (``fastq.metrics.worker`` is
one); the supervisor hands it in.
"""

from __future__ import annotations

from typing import Protocol

from fastq.worker.executor import Running


class EngineHooks(Protocol):
    """What the engine reports."""

    def finished(self, running: Running, exc: BaseException | None) -> None:
        """A task's run ended (``exc`` None: success), before it is acknowledged.
        ``running.started`` is when it was handed to its handler and
        ``running.pending_since`` when it became pending (unix ns, 0 if unknown)."""

    def flushed(self, seconds: float, extended: int, lost: int) -> None:
        """One acknowledgement round trip took ``seconds``; it extended ``extended``
        leases and found ``lost`` lost."""

    def tick(self, now: float, busy: int, capacity: int, outage: bool) -> None:
        """Called every engine tick (about 20 times a second) with the slots in use,
        the slots in all, and whether Redis is unreachable right now: publish here."""
