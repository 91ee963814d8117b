"""How a worker process talks to its supervisor.

The supervisor hands each child a ChildControl. The engine calls ``heartbeat`` at
least once a second from its event loop (a loop that stops beating is stuck and
gets killed), and ``request_recycle`` when it wants to be replaced (a ``def``
handler that ignored its deadline, max tasks, max memory). Signals the child
handles: SIGTERM graceful stop, SIGQUIT/SIGINT fast stop, SIGUSR1 quiet (stop
fetching, keep running tasks), SIGUSR2 take the maintenance duties. Run
standalone, the engine uses NullControl.
"""

from __future__ import annotations

from typing import Protocol


class ChildControl(Protocol):
    def heartbeat(self, *, busy: int, capacity: int, processed: int) -> None:
        """Prove liveness and report load; cheap, called often."""

    def request_recycle(self, reason: str) -> None:
        """Ask the supervisor to replace this process once it has drained."""

    def parent_alive(self) -> bool:
        """False once the supervisor is gone; the child then stops gracefully."""

    def hosting_maintenance(self) -> None:
        """This process now runs the maintenance duties (its title says so)."""


class NullControl:
    """Control for a worker process that runs without a supervisor."""

    def heartbeat(self, *, busy: int, capacity: int, processed: int) -> None:
        return None

    def request_recycle(self, reason: str) -> None:
        return None

    def parent_alive(self) -> bool:
        return True

    def hosting_maintenance(self) -> None:
        return None
