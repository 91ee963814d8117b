"""Configuration: frozen dataclasses, named DEFAULT_* constants, from_url / from_env."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fastq.errors import InvalidOptionError
from fastq.redact import redact_url as redact_url  # re-exported: its old home

ENV_REDIS_URL = "FASTQ_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CLUSTER_SCHEME = "redis+cluster"
SENTINEL_SCHEME = "redis+sentinel"

DEFAULT_QUEUE = "default"
DEFAULT_MAX_RETRY = 25
DEFAULT_TIMEOUT = 30 * 60  # seconds, used when neither timeout nor deadline is set
DEFAULT_LEASE_DURATION = 30  # seconds, as Asynq
DEFAULT_ARCHIVE_MAX_SIZE = 10_000
DEFAULT_ARCHIVE_MAX_AGE = 90 * 24 * 3600  # seconds
DEFAULT_STATS_TTL = 90 * 24 * 3600  # daily counters expire after this
DEFAULT_SHUTDOWN_TIMEOUT = 8.0  # seconds
DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
DEFAULT_SOCKET_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 5.0
MAX_QUEUE_NAME_LENGTH = 512


@dataclass(frozen=True, kw_only=True)
class RedisConfig:
    """How to reach Redis.

    Args:
        url: ``redis://[user:password@]host:port/db``, ``rediss://…`` (TLS),
            ``unix:///path/to/socket?db=N``, a Redis Cluster
            ``redis+cluster://[user:password@]host1:7000,host2:7001/`` (any reachable
            nodes: the rest are discovered) or Sentinel
            ``redis+sentinel://[user:password@]s1:26379,s2:26379/<master name>/<db>``
            (the password is the master's; see docs/scaling.md).
        socket_timeout: seconds a command may take before the connection counts as lost.
        connect_timeout: seconds to wait for a new connection.
        max_connections: pool size limit per client (None: redis-py's default).
    """

    url: str = DEFAULT_REDIS_URL
    socket_timeout: float = DEFAULT_SOCKET_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_connections: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme in (CLUSTER_SCHEME, SENTINEL_SCHEME):
            self._check_multi_host(parts.scheme)
            return
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise InvalidOptionError(
                "redis_url",
                "scheme must be redis://, rediss://, unix://, redis+cluster:// or "
                f"redis+sentinel://, got {parts.scheme!r}",
            )
        try:
            parts.port  # noqa: B018 - parsing it is the check
        except ValueError:  # never echo the URL: it may hold a password
            raise InvalidOptionError("redis_url", "the port must be a number 0-65535") from None
        db = parts.path.strip("/")
        if parts.scheme != "unix" and db and not db.isdigit():
            raise InvalidOptionError("redis_url", f"the database must be a number, got {db!r}")

    def _check_multi_host(self, scheme: str) -> None:
        self.nodes  # noqa: B018 - parsing them is the check
        path = [p for p in urlsplit(self.url).path.split("/") if p]
        if scheme == CLUSTER_SCHEME and path not in ([], ["0"]):
            raise InvalidOptionError("redis_url", "a Redis Cluster has only database 0")
        if scheme == SENTINEL_SCHEME:
            if not path or len(path) > 2:
                raise InvalidOptionError(
                    "redis_url", "name the master: redis+sentinel://s1:26379,s2:26379/<name>/<db>"
                )
            if len(path) == 2 and not path[1].isdigit():
                raise InvalidOptionError(
                    "redis_url", f"the database must be a number, got {path[1]!r}"
                )

    @property
    def topology(self) -> str:
        """``"cluster"``, ``"sentinel"`` or ``"single"`` (one Redis, TCP/TLS/unix)."""
        scheme = urlsplit(self.url).scheme
        if scheme == CLUSTER_SCHEME:
            return "cluster"
        return "sentinel" if scheme == SENTINEL_SCHEME else "single"

    @property
    def nodes(self) -> list[tuple[str, int]]:
        """The (host, port) pairs a cluster or sentinel URL lists (empty for one Redis)."""
        if self.topology == "single":
            return []
        hosts = urlsplit(self.url).netloc.rsplit("@", 1)[-1]
        default = 26379 if self.topology == "sentinel" else 6379
        out = []
        for item in hosts.split(","):
            host, _, port = item.strip().rpartition(":") if ":" in item else (item, "", "")
            if not host or (port and not port.isdigit()) or int(port or default) > 65535:
                raise InvalidOptionError("redis_url", "list nodes as host:port,host:port")
            out.append((host.strip("[]"), int(port or default)))
        return out

    @property
    def master_name(self) -> str:
        """The Sentinel master name (sentinel URLs only; empty otherwise)."""
        if self.topology != "sentinel":
            return ""
        return unquote(next(p for p in urlsplit(self.url).path.split("/") if p))

    @property
    def credentials(self) -> tuple[str | None, str | None]:
        """(username, password) from the URL's user info (None where absent)."""
        parts = urlsplit(self.url)
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return user, password

    def __repr__(self) -> str:
        # The URL may hold a password: a repr ends up in tracebacks and logs.
        return (
            f"RedisConfig(url={self.redacted_url!r}, socket_timeout={self.socket_timeout!r}, "
            f"connect_timeout={self.connect_timeout!r}, "
            f"max_connections={self.max_connections!r}, extra=<{len(self.extra)} keys>)"
        )

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisConfig:
        """Build a config from a Redis URL."""
        return cls(url=url, **kwargs)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **kwargs: Any) -> RedisConfig:
        """Build a config from ``FASTQ_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``)."""
        env = os.environ if env is None else env  # type: ignore[assignment]
        assert env is not None
        return cls(url=env.get(ENV_REDIS_URL) or DEFAULT_REDIS_URL, **kwargs)

    @property
    def redacted_url(self) -> str:
        """The URL with its password masked."""
        return redact_url(self.url)

    @property
    def db(self) -> int:
        """The database number the URL selects."""
        parts = urlsplit(self.url)
        q = parse_qs(parts.query)
        if "db" in q:
            return int(q["db"][0])
        path = unquote(parts.path or "").strip("/")
        if self.topology == "sentinel":
            path = path.partition("/")[2]
        return int(path) if parts.scheme != "unix" and path.isdigit() else 0

    def connection_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis.from_url`` / ``redis.asyncio.Redis.from_url``."""
        kw: dict[str, Any] = {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "decode_responses": False,
            "health_check_interval": 30,
        }
        if self.max_connections is not None:
            kw["max_connections"] = self.max_connections
        kw.update(self.extra)
        return kw


def resolve_redis(redis_url: str | RedisConfig | None) -> RedisConfig:
    """Accept a URL, a config or None (environment) and return a RedisConfig."""
    if isinstance(redis_url, RedisConfig):
        return redis_url
    if redis_url is None:
        return RedisConfig.from_env()
    return RedisConfig.from_url(redis_url)
