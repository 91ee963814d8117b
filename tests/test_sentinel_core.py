"""Core suites again behind Sentinel (1 master, 2 replicas, 3 sentinels).

As in test_cluster_core.py, the modules' own tests are imported and this module's
``redis_url`` / ``r`` fixtures replace the single-Redis ones: every client, worker
and Inspector connection finds the master through the sentinels.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from test_client import *  # noqa: F403
from test_inspector import *  # noqa: F403
from test_worker_runs import *  # noqa: F403

from fastq.devcluster import LocalSentinel

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="session")
def local_sentinel() -> Iterator[LocalSentinel]:
    s = LocalSentinel()
    s.start()
    yield s
    s.cleanup()


@pytest.fixture
def redis_url(local_sentinel: LocalSentinel) -> Iterator[str]:
    """The sentinel URL, the master flushed before each test."""
    with redis.Redis(port=local_sentinel.master_port()) as master:
        master.flushall()
        master.script_flush()
    yield local_sentinel.url


@pytest.fixture
def r(local_sentinel: LocalSentinel) -> Iterator[redis.Redis]:
    client = redis.Redis(port=local_sentinel.master_port())
    yield client
    client.close()
