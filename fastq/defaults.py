"""The default client typed tasks enqueue through, configured once per process.

``fastq.configure(redis_url=...)`` sets it; without a call the first enqueue reads
``FASTQ_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). ``send.enqueue(...)``
uses a shared ``Client``; ``await send.aenqueue(...)`` an ``AsyncClient`` per event
loop (an asyncio connection belongs to the loop that made it).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from dataclasses import dataclass, field

from fastq.client import AsyncClient, Client
from fastq.config import RedisConfig


@dataclass
class _Defaults:
    redis_url: str | RedisConfig | None = None
    eager: bool = False
    client: Client | None = None
    async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = field(
        default_factory=weakref.WeakKeyDictionary
    )


_lock = threading.Lock()
_defaults = _Defaults()


def configure(redis_url: str | RedisConfig | None = None, *, eager: bool = False) -> None:
    """Set where typed tasks are enqueued (``send.enqueue(...)``).

    Args:
        redis_url: a Redis URL or ``RedisConfig``; None reads ``FASTQ_REDIS_URL``.
        eager: run every typed enqueue inline in the caller, through the same JSON
            round trip a worker sees, instead of sending it to Redis (tests only;
            see ``fastq.testing``). The handler's error propagates to the caller.
    """
    global _defaults
    with _lock:
        old, _defaults = _defaults, _Defaults(redis_url=redis_url, eager=eager)
    if old.client is not None:
        old.client.close()
    # Async clients are left to their loops' garbage collection: closing one
    # needs its loop, which may be gone.


def is_eager() -> bool:
    """True when ``configure(eager=True)`` is in force."""
    return _defaults.eager


def default_client() -> Client:
    """The shared blocking client (made on first use)."""
    d = _defaults
    if d.client is None:
        with _lock:
            if d.client is None:
                d.client = Client(d.redis_url)
    return d.client


def default_async_client() -> AsyncClient:
    """The running event loop's async client (made on first use in that loop)."""
    loop = asyncio.get_running_loop()
    d = _defaults
    client = d.async_clients.get(loop)
    if client is None:
        client = d.async_clients[loop] = AsyncClient(d.redis_url)
    return client
