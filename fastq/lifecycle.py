"""Worker process lifecycle: ``on_startup`` / ``on_shutdown`` hooks and their state.

Each worker process (after the fork) runs the startup hooks once, before it takes
a task, and the shutdown hooks once, after its last task. A hook takes the
process's ``State`` and may be ``def`` or ``async def``::

    @app.on_startup
    async def open_pool(state: fastq.State) -> None:
        state.db = await asyncpg.create_pool(DSN)

    @app.task("report:build")
    async def build(ctx: fastq.Context, day: str) -> None:
        async with ctx.state.db.acquire() as conn: ...

A startup hook that raises stops the process before it is ready, so the
supervisor halts with the boot-error exit code instead of restarting it forever.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeVar

import structlog

from fastq.errors import InvalidOptionError

log = structlog.get_logger("fastq.worker")

Hook = Callable[["State"], Any]
H = TypeVar("H", bound=Hook)


class State(SimpleNamespace):
    """Per-process attributes a startup hook sets and handlers read (``ctx.state``)."""


class Lifecycle:
    """The startup and shutdown hooks of an app, in registration order."""

    def __init__(self) -> None:
        self.startup: list[Hook] = []
        self.shutdown: list[Hook] = []

    @staticmethod
    def check(fn: Hook) -> Hook:
        """``fn`` if it can be a hook, else InvalidOptionError.

        Args:
            fn: the hook to check.
        """
        if not callable(fn):
            raise InvalidOptionError("hook", f"{fn!r} is not callable")
        return fn

    async def run_startup(self, state: State) -> None:
        """Run every startup hook; the first error propagates (the process must not start).

        Args:
            state: the process's state, passed to each hook.
        """
        for hook in self.startup:
            await _call(hook, state)

    async def run_shutdown(self, state: State) -> None:
        """Run every shutdown hook, last registered first; errors are logged, not raised.

        Args:
            state: the process's state, passed to each hook.
        """
        for hook in reversed(self.shutdown):
            try:
                await _call(hook, state)
            except Exception as exc:
                log.error("shutdown hook failed", hook=_name(hook), error=repr(exc))


async def _call(hook: Hook, state: State) -> None:
    result = hook(state)
    if inspect.isawaitable(result):
        await result


def _name(hook: Hook) -> str:
    return str(getattr(hook, "__qualname__", repr(hook)))
