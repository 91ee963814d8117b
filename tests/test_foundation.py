"""The shared foundation: key layout, Lua contracts, configuration and the call layer."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone

import pytest
import redis

from fastq import keys, scripts
from fastq.config import RedisConfig, redact_url, resolve_redis
from fastq.devredis import free_port
from fastq.errors import BrokerConnectionError, InvalidOptionError
from fastq.rdb.conn import AsyncConn, Call, SyncConn


def test_keys_match_asynq_layout() -> None:
    q = "critical"
    assert keys.ALL_QUEUES == "asynq:queues"
    assert keys.CANCEL_CHANNEL == "asynq:cancel"
    assert keys.task_key(q, "abc") == "asynq:{critical}:t:abc"
    assert keys.task_key_prefix(q) == "asynq:{critical}:t:"
    expected = {
        keys.pending_key: "pending",
        keys.active_key: "active",
        keys.lease_key: "lease",
        keys.scheduled_key: "scheduled",
        keys.retry_key: "retry",
        keys.archived_key: "archived",
        keys.completed_key: "completed",
        keys.paused_key: "paused",
        keys.processed_total_key: "processed",
        keys.failed_total_key: "failed",
        keys.groups_key: "groups",
        keys.all_aggregation_sets_key: "aggregation_sets",
    }
    for build, suffix in expected.items():
        assert build(q) == f"asynq:{{critical}}:{suffix}"
    assert keys.group_key(q, "g1") == "asynq:{critical}:g:g1"
    assert keys.aggregation_set_key(q, "g1", "s") == "asynq:{critical}:g:g1:s"
    assert keys.server_info_key("h", 7, "sid") == "asynq:servers:{h:7:sid}"
    assert keys.workers_key("h", 7, "sid") == "asynq:workers:{h:7:sid}"
    assert keys.scheduler_entries_key("s1") == "asynq:schedulers:{s1}"
    assert keys.scheduler_history_key("e1") == "asynq:scheduler_history:e1"
    # fastq's own keys stay under the queue's x: namespace (same hash slot)
    assert keys.wake_key(q).startswith("asynq:{critical}:x:")
    assert keys.recovered_count_key(q).startswith("asynq:{critical}:x:")
    assert keys.state_key(q, "retry") == keys.retry_key(q)
    with pytest.raises(ValueError):
        keys.state_key(q, "aggregating")


def test_daily_keys_use_the_utc_day() -> None:
    # 23:30 on the 1st in UTC-5 is already the 2nd in UTC
    local = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert keys.processed_key("q", local) == "asynq:{q}:processed:2026-03-02"
    assert keys.failed_key("q", local.timestamp()) == "asynq:{q}:failed:2026-03-02"


def test_unique_key_is_md5_of_payload() -> None:
    digest = hashlib.md5(b'{"a":1}').hexdigest()
    got = keys.unique_key("q", "email:send", b'{"a":1}')
    assert got == f"asynq:{{q}}:unique:email:send:{digest}"
    # Go's nil payload (None) has no checksum; an empty one is md5 of nothing
    assert keys.unique_key("q", "t", None) == "asynq:{q}:unique:t:"
    assert keys.unique_key("q", "t", b"") == f"asynq:{{q}}:unique:t:{hashlib.md5().hexdigest()}"


_HEADER_LINE = re.compile(r"^\s*--")


@pytest.mark.parametrize("name", sorted(scripts.all_scripts()))
def test_every_script_opens_with_its_contract(name: str) -> None:
    src = scripts.get(name).source
    lines = src.splitlines()
    header = []
    for line in lines:
        if not _HEADER_LINE.match(line):
            break
        header.append(line)
    text = "\n".join(header)
    assert "KEYS[" in text, f"{name}.lua: header names no KEYS"
    assert "Output" in text, f"{name}.lua: header has no Output line"
    code = "\n".join(line.split("--", 1)[0] for line in lines[len(header) :])
    if "ARGV" in code:
        assert "ARGV" in text, f"{name}.lua uses ARGV its header does not describe"
    # key names come from keys.py through KEYS/ARGV, never from string literals
    assert not re.search(r"[\"']asynq:", code), f"{name}.lua builds a key name"


def test_redact_url_hides_passwords() -> None:
    assert redact_url("redis://:s3cret@host:6379/0") == "redis://***@host:6379/0"
    assert redact_url("redis://user:s3cret@host/1") == "redis://user:***@host/1"
    assert "s3cret" not in redact_url("unix:///tmp/r.sock?db=2&password=s3cret")
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"
    assert "s3cret" not in RedisConfig(url="rediss://u:s3cret@h:1/0").redacted_url


def test_redis_config_parsing() -> None:
    assert RedisConfig.from_url("redis://h:1/3").db == 3
    assert RedisConfig.from_url("unix:///tmp/x.sock?db=4").db == 4
    assert RedisConfig.from_env({"FASTQ_REDIS_URL": "redis://e:2/5"}).url == "redis://e:2/5"
    assert RedisConfig.from_env({}).url == "redis://127.0.0.1:6379/0"
    assert resolve_redis("redis://a:1/0").url == "redis://a:1/0"
    with pytest.raises(InvalidOptionError):
        RedisConfig(url="http://nope")


def test_call_reloads_scripts_after_a_flush(redis_url: str, r: redis.Redis) -> None:
    conn = SyncConn(RedisConfig(url=redis_url))
    call = Call("publish_queues", [keys.ALL_QUEUES], ["a"])
    conn.call(call)
    r.script_flush()  # a restarted Redis forgets every script
    conn.call(Call("publish_queues", [keys.ALL_QUEUES], ["b"]))
    many = conn.call_many([Call("publish_queues", [keys.ALL_QUEUES], [q]) for q in "cd"])
    assert len(many) == 2
    assert r.smembers(keys.ALL_QUEUES) == {b"a", b"b", b"c", b"d"}
    conn.close()


def test_call_many_returns_errors_in_place(redis_url: str, r: redis.Redis) -> None:
    conn = SyncConn(RedisConfig(url=redis_url))
    r.set("not-a-set", "x")
    replies = conn.call_many(
        [
            Call("publish_queues", [keys.ALL_QUEUES], ["ok"]),
            Call("publish_queues", ["not-a-set"], ["boom"]),  # WRONGTYPE inside the script
            Call("publish_queues", [keys.ALL_QUEUES], ["ok2"]),
        ]
    )
    assert isinstance(replies[1], redis.ResponseError)
    assert not isinstance(replies[0], Exception) and not isinstance(replies[2], Exception)
    assert r.smembers(keys.ALL_QUEUES) == {b"ok", b"ok2"}
    conn.close()


def test_unreachable_redis_is_a_typed_redacted_error() -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    conn = SyncConn(RedisConfig(url=url, connect_timeout=0.5))
    with pytest.raises(BrokerConnectionError) as info:
        conn.call(Call("publish_queues", [keys.ALL_QUEUES], ["q"]))
    assert isinstance(info.value, ConnectionError)
    assert "s3cret" not in str(info.value) and "***" in str(info.value)


async def test_async_conn_runs_and_reloads(redis_url: str, r: redis.Redis) -> None:
    conn = AsyncConn(RedisConfig(url=redis_url))
    await conn.call(Call("publish_queues", [keys.ALL_QUEUES], ["x"]))
    r.script_flush()
    await conn.call_many([Call("publish_queues", [keys.ALL_QUEUES], ["y"])])
    assert r.smembers(keys.ALL_QUEUES) == {b"x", b"y"}
    assert await conn.ping()
    await conn.close()


def test_shared_lua_snippets_are_assembled_into_the_scripts() -> None:
    every = scripts.all_scripts().values()
    assert not any("--@include" in s.source for s in every)
    functions = {
        "lease": "holds_lease",
        "wake": "wake",
        "archive_trim": "trim_archive",
        "stats": "count_failure",
        "index": "pop_oldest",
        "unique": "claim_unique",
        "traceback": "set_traceback",
    }
    assert {p.stem for p in scripts.LIB_DIR.glob("*.lua")} == set(functions)
    for name, function in functions.items():  # each snippet is shared by several scripts
        assert sum(f"local function {function}(" in s.source for s in every) >= 2, name
    with pytest.raises(FileNotFoundError):
        scripts.assemble("-- KEYS[1] -> x\n--@include nosuch\n")
