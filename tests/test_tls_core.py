"""Core suites again over TLS (``rediss://``, a client certificate required).

As in test_sentinel_core.py, the modules' own tests are imported and this module's
``redis_url`` / ``r`` fixtures replace the single-Redis ones: the client's and the
worker's kept connections (fastq/rdb/wire.py) run on TLS sockets, with their
timeouts, health checks, reconnects and pipelining.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from test_client import *  # noqa: F403
from test_worker_runs import *  # noqa: F403
from tls_support import admin_client, tls_server, tls_url

from fastq.client import AsyncClient, Client

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    with tls_server(tmp_path_factory.mktemp("tls")) as server:
        yield server


@pytest.fixture
def redis_url(tls_redis: tuple[int, Path]) -> Iterator[str]:
    """The TLS URL, the server flushed before each test."""
    with admin_client(*tls_redis) as admin:
        admin.flushall()
        admin.script_flush()
    yield tls_url(*tls_redis)


@pytest.fixture
def r(tls_redis: tuple[int, Path]) -> Iterator[redis.Redis]:
    client = admin_client(*tls_redis)
    yield client
    client.close()


async def test_tls_takes_the_kept_connections(redis_url: str) -> None:
    with Client(redis_url) as c:
        assert c._conn.wire
    async with AsyncClient(redis_url) as ac:
        assert ac._conn.wire is not None
