"""Test-side name for fastq.devredis (kept so tests and bench scripts can import it)."""

from fastq.devredis import RedisServer, env_with_redis, free_port, redis_server_binary

__all__ = ["RedisServer", "env_with_redis", "free_port", "redis_server_binary"]
