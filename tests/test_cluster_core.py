"""The core suites again, on a local 6-node Redis Cluster (3 masters, 3 replicas).

The modules' own test functions are imported here; this module's ``redis_url`` and
``r`` fixtures replace the single-Redis ones, so every imported test runs against
the cluster (``redis+cluster://`` URL, and a ``RedisCluster`` client for the layout
assertions, which reads exactly Asynq's key names).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import redis.cluster
from test_async_client import *  # noqa: F403
from test_cli import *  # noqa: F403
from test_client import *  # noqa: F403
from test_enqueue_layout import *  # noqa: F403
from test_inspector import *  # noqa: F403
from test_inspector_ops import *  # noqa: F403
from test_worker_bounds import *  # noqa: F403
from test_worker_fairness import *  # noqa: F403
from test_worker_maintenance import *  # noqa: F403
from test_worker_results import *  # noqa: F403
from test_worker_runs import *  # noqa: F403
from test_worker_scripts import *  # noqa: F403

from fastq.devcluster import LocalCluster

pytestmark = pytest.mark.cluster

# Single-Redis only: it turns the one Redis into a replica (REPLICAOF); the
# cluster's own failover is covered by test_cluster_failover.py.
del test_refused_writes_are_logged_once_and_not_counted  # noqa: F821
# Calls the multi-queue dequeue script directly: on a cluster the Fetcher calls it
# per queue (covered by the worker and fairness tests above).
del test_dequeue_order_paused_and_bad_entries  # noqa: F821
# Single-Redis only: the producers' kept connections (fastq/rdb/wire.py), their
# timeouts and health checks; on a cluster, redis-py's cluster client handles them.
del test_a_stalled_redis_times_out_with_a_clear_error  # noqa: F821
del test_a_stalled_redis_fails_the_async_caller_with_a_clear_error  # noqa: F821
del test_an_idle_connection_is_checked_before_use  # noqa: F821
del test_an_idle_async_connection_is_checked_before_use  # noqa: F821


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    c = LocalCluster()
    c.start()
    yield c
    c.cleanup()


@pytest.fixture
def redis_url(local_cluster: LocalCluster) -> Iterator[str]:
    """The cluster's URL, every master flushed before each test."""
    local_cluster.flush()
    yield local_cluster.url


class _ClusterView(redis.cluster.RedisCluster):
    """RedisCluster whose KEYS/DBSIZE read every master (redis-py asks one node)."""

    def keys(self, pattern: str = "*", **kwargs: object) -> list[bytes]:  # type: ignore[override]
        found = super().keys(pattern, target_nodes=self.PRIMARIES)
        return sorted(found) if isinstance(found, list) else found

    def pipeline(self, transaction: object = None, shard_hint: object = None) -> object:  # type: ignore[override]
        # A cluster has no transaction across hash slots: tests that snapshot
        # several queues' counters read them pipelined instead.
        return super().pipeline(transaction=False)

    def dbsize(self, **kwargs: object) -> int:  # type: ignore[override]
        return int(super().dbsize(target_nodes=self.PRIMARIES))


@pytest.fixture
def r(local_cluster: LocalCluster) -> Iterator[redis.Redis]:
    nodes = [redis.cluster.ClusterNode("127.0.0.1", n.port) for n in local_cluster.nodes]
    client = _ClusterView(startup_nodes=nodes)
    yield client  # type: ignore[misc]
    client.close()
