"""Connections that run fastq's Lua scripts, one call or many in one round trip.

Both flavours share one contract:
- ``call(Call)`` runs one script and returns its reply;
- ``call_many(calls)`` pipelines them (no MULTI) in one round trip and returns the
  replies in order; a per-call Redis error is returned in place as an exception
  instance so one bad call does not hide the others' results;
- after ``NOSCRIPT`` (a restarted or flushed Redis) scripts are loaded again and
  only the calls that did not run are sent again;
- lost connections raise ``BrokerConnectionError`` naming the redacted URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fastq import scripts
from fastq.config import RedisConfig
from fastq.errors import BrokerConnectionError, BrokerError

KeyT = str | bytes
ArgT = str | bytes | int | float


class Call(NamedTuple):
    """One script invocation: the script's file stem, its KEYS and its ARGV."""

    script: str
    keys: Sequence[KeyT]
    args: Sequence[ArgT]


_CONN_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


@contextlib.contextmanager
def translate_errors(target: str) -> Iterator[None]:
    """Map redis-py's exceptions onto fastq's tree; ``target`` is a redacted URL."""
    try:
        yield
    except _CONN_ERRORS as exc:
        raise BrokerConnectionError(target, exc) from exc
    except NoScriptError:
        raise
    except RedisError as exc:
        raise BrokerError(str(exc)) from exc


def _evalsha_args(call: Call) -> tuple[Any, ...]:
    return ("EVALSHA", scripts.get(call.script).sha, len(call.keys), *call.keys, *call.args)


def _is_noscript(reply: Any) -> bool:
    return isinstance(reply, NoScriptError) or (
        isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT")
    )


def _merge_replies(
    replies: list[Any], todo: list[int], got: list[Any], *, retry: bool
) -> list[int]:
    """Store pipeline replies in place; return the indexes that hit NOSCRIPT (did not run)."""
    missing = []
    for i, reply in zip(todo, got, strict=True):
        if retry and _is_noscript(reply):
            missing.append(i)
        else:
            replies[i] = reply
    return missing


class SyncConn:
    """A blocking connection pool plus script runner."""

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.target = config.redacted_url
        self.redis: redis.Redis = redis.Redis.from_url(config.url, **config.connection_kwargs())

    def load_scripts(self) -> None:
        """Load every script into Redis's script cache (one round trip)."""
        with translate_errors(self.target):
            pipe = self.redis.pipeline(transaction=False)
            for s in scripts.all_scripts().values():
                pipe.execute_command("SCRIPT", "LOAD", s.source)
            pipe.execute()

    def call(self, call: Call) -> Any:
        with translate_errors(self.target):
            try:
                return self.redis.execute_command(*_evalsha_args(call))
            except NoScriptError:
                self.load_scripts()
                return self.redis.execute_command(*_evalsha_args(call))

    def call_many(self, calls: Sequence[Call]) -> list[Any]:
        replies: list[Any] = [None] * len(calls)
        todo: list[int] = list(range(len(calls)))
        for attempt in range(2):
            with translate_errors(self.target):
                pipe = self.redis.pipeline(transaction=False)
                for i in todo:
                    pipe.execute_command(*_evalsha_args(calls[i]))
                got = pipe.execute(raise_on_error=False)
            todo = _merge_replies(replies, todo, got, retry=attempt == 0)
            if not todo:
                break
            self.load_scripts()
        return replies

    def ping(self) -> bool:
        with translate_errors(self.target):
            return bool(self.redis.ping())

    def close(self) -> None:
        self.redis.close()


class AsyncConn:
    """An asyncio connection pool plus script runner."""

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.target = config.redacted_url
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            config.url, **config.connection_kwargs()
        )

    async def load_scripts(self) -> None:
        with translate_errors(self.target):
            pipe = self.redis.pipeline(transaction=False)
            for s in scripts.all_scripts().values():
                pipe.execute_command("SCRIPT", "LOAD", s.source)
            await pipe.execute()

    async def call(self, call: Call) -> Any:
        with translate_errors(self.target):
            try:
                return await self.redis.execute_command(*_evalsha_args(call))
            except NoScriptError:
                await self.load_scripts()
                return await self.redis.execute_command(*_evalsha_args(call))

    async def call_many(self, calls: Sequence[Call]) -> list[Any]:
        replies: list[Any] = [None] * len(calls)
        todo: list[int] = list(range(len(calls)))
        for attempt in range(2):
            with translate_errors(self.target):
                pipe = self.redis.pipeline(transaction=False)
                for i in todo:
                    pipe.execute_command(*_evalsha_args(calls[i]))
                got = await pipe.execute(raise_on_error=False)
            todo = _merge_replies(replies, todo, got, retry=attempt == 0)
            if not todo:
                break
            await self.load_scripts()
        return replies

    async def ping(self) -> bool:
        with translate_errors(self.target):
            return bool(await self.redis.ping())

    async def close(self) -> None:
        await self.redis.aclose()
