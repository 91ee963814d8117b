"""redis-py clients for the three topologies a ``RedisConfig`` names.

- one Redis (``redis://``, ``rediss://``, ``unix://``): ``Redis.from_url``;
- Redis Cluster (``redis+cluster://``): redis-py's ``RedisCluster``, which follows
  ``MOVED``/``ASK`` replies and rediscovers the slot map after a failover;
- Sentinel (``redis+sentinel://``): ``Sentinel.master_for``, whose connections ask
  the sentinels for the current master on every (re)connect, so a worker follows a
  failover without a restart.

Every fastq connection (script runner, blocking waits, the CLI's raw reads) is built
here, so the topology is chosen in one place.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
import redis.asyncio.sentinel as aiosentinel
import redis.cluster
import redis.sentinel

from fastq.config import RedisConfig

try:
    from redis.driver_info import DriverInfo
except ImportError:  # redis-py before 7.1 reads its version once, at import
    DriverInfo = None  # type: ignore[assignment,misc,unused-ignore]

# Per-node keyword arguments redis-py's cluster clients accept from our config.
_CLUSTER_DROP = ("health_check_interval",)
_DRIVER_KEYS = {"driver_info", "lib_name", "lib_version"}


def _auth(config: RedisConfig) -> dict[str, Any]:
    user, password = config.credentials
    out: dict[str, Any] = {}
    if user:
        out["username"] = user
    if password is not None:
        out["password"] = password
    return out


def _kwargs(config: RedisConfig, overrides: dict[str, Any]) -> dict[str, Any]:
    kw = config.connection_kwargs()
    kw.update(overrides)
    if DriverInfo is not None and not kw.keys() & _DRIVER_KEYS:
        # Otherwise each connection a URL's pool makes looks redis-py's version up
        # in the installed distributions (importlib.metadata): ~1 ms per connection,
        # on the way to a worker's first fetch. Same CLIENT SETINFO either way.
        kw["driver_info"] = DriverInfo(lib_version=redis.__version__)
    return kw


def is_cluster(config: RedisConfig) -> bool:
    """Whether ``config`` names a Redis Cluster (scripts then run per hash slot)."""
    return config.topology == "cluster"


def sync_client(config: RedisConfig, **overrides: Any) -> redis.Redis:
    """A blocking client for ``config``; ``overrides`` replace connection kwargs."""
    kw = _kwargs(config, overrides)
    if config.topology == "cluster":
        for k in _CLUSTER_DROP:
            kw.pop(k, None)
        nodes = [redis.cluster.ClusterNode(h, p) for h, p in config.nodes]
        client: Any = redis.cluster.RedisCluster(startup_nodes=nodes, **_auth(config), **kw)
        return client  # type: ignore[no-any-return]
    if config.topology == "sentinel":
        sentinel = redis.sentinel.Sentinel(
            config.nodes,
            socket_timeout=kw.get("socket_timeout"),
            socket_connect_timeout=kw.get("socket_connect_timeout"),
        )
        master: redis.Redis = sentinel.master_for(
            config.master_name, db=config.db, **_auth(config), **kw
        )
        return master
    return redis.Redis.from_url(config.url, **kw)


def async_client(config: RedisConfig, **overrides: Any) -> aioredis.Redis:
    """An asyncio client for ``config``; ``overrides`` replace connection kwargs."""
    kw = _kwargs(config, overrides)
    if config.topology == "cluster":
        for k in _CLUSTER_DROP:
            kw.pop(k, None)
        nodes = [aiocluster.ClusterNode(h, p) for h, p in config.nodes]
        client: Any = aiocluster.RedisCluster(startup_nodes=nodes, **_auth(config), **kw)
        return client  # type: ignore[no-any-return]
    if config.topology == "sentinel":
        sentinel = aiosentinel.Sentinel(
            config.nodes,
            socket_timeout=kw.get("socket_timeout"),
            socket_connect_timeout=kw.get("socket_connect_timeout"),
        )
        amaster: aioredis.Redis = sentinel.master_for(
            config.master_name, db=config.db, **_auth(config), **kw
        )
        return amaster
    return aioredis.Redis.from_url(config.url, **kw)


def async_node_client(config: RedisConfig, **overrides: Any) -> aioredis.Redis:
    """A plain asyncio client on one node (the first listed unless ``host``/``port``
    are given): Pub/Sub on a cluster (a PUBLISH reaches every node, so any one will
    do) and ``WAIT`` on a slot's master; the topology's client elsewhere."""
    if config.topology != "cluster":
        return async_client(config, **overrides)
    kw = _kwargs(config, overrides)
    host, port = config.nodes[0]
    kw.setdefault("host", host)
    kw.setdefault("port", port)
    return aioredis.Redis(**_auth(config), **kw)
