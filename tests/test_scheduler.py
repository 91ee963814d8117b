"""The scheduler against a real Redis, on a fake clock: the tick claim, Asynq-visible
entries and history, missed-tick policies, hooks, and the config file provider."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis
from asynq_pb import SchedulerEnqueueEvent as PbEvent
from asynq_pb import SchedulerEntry as PbEntry

from fastq import Inspector, Task
from fastq.config import RedisConfig
from fastq.errors import ConfigError, DuplicateTaskError
from fastq.scheduler.entry import Entry, make_entry
from fastq.scheduler.hooks import Hooks
from fastq.scheduler.provider import FileEntries
from fastq.scheduler.runner import Scheduler, StaticEntries

T0 = 1_800_000_000  # a whole minute (and second) in unix time


def sched(url: str, entries: list[Entry], **kw: Any) -> Scheduler:
    s = Scheduler(RedisConfig.from_url(url), StaticEntries(entries), **kw)
    s.load(T0 + 0.5)
    return s


def pending(r: redis.Redis, q: str = "default") -> list[str]:
    return [x.decode() for x in r.lrange(f"asynq:{{{q}}}:pending", 0, -1)]


def test_a_due_tick_is_enqueued_once_with_its_deterministic_id(
    redis_url: str, r: redis.Redis
) -> None:
    e = make_entry("@every 1s", Task("beat", b"x"))
    s = sched(redis_url, [e])
    assert s.step(T0 + 0.9) == 0  # nothing due before T0 + 1
    assert s.step(T0 + 1.01) == 1
    assert pending(r) == [e.task_id_for(T0 + 1)]
    assert r.hget(f"asynq:{{default}}:t:{e.task_id_for(T0 + 1)}", "state") == b"pending"
    assert s.step(T0 + 1.5) == 0  # same tick: not again


def test_many_schedulers_enqueue_each_tick_once(redis_url: str, r: redis.Redis) -> None:
    e = make_entry("@every 1s", Task("beat"))
    fleet = [sched(redis_url, [e]) for _ in range(3)]
    for i in range(1, 11):
        for s in fleet:
            s.step(T0 + i + 0.01 * fleet.index(s))
    assert sum(s.fired for s in fleet) == 10
    assert sorted(pending(r)) == sorted(e.task_id_for(T0 + i) for i in range(1, 11))


def test_claim_refuses_an_older_tick_after_a_newer_one(redis_url: str, r: redis.Redis) -> None:
    e = make_entry("@every 1s", Task("beat"))
    ahead, behind = sched(redis_url, [e]), sched(redis_url, [e])
    assert ahead.step(T0 + 2.0) == 1  # fires tick T0+2 (T0+1 was skipped: overdue)
    assert behind.step(T0 + 1.0) == 0  # a late scheduler cannot fire an older tick
    assert pending(r) == [e.task_id_for(T0 + 2)]


def test_an_overdue_loop_fires_only_the_latest_due_tick(redis_url: str, r: redis.Redis) -> None:
    e = make_entry("@every 1s", Task("beat"))
    s = sched(redis_url, [e])
    assert s.step(T0 + 5.2) == 1
    assert pending(r) == [e.task_id_for(T0 + 5)]
    assert s.next_due() == T0 + 6


def test_options_place_the_task(redis_url: str, r: redis.Redis) -> None:
    e1 = make_entry("@every 1s", Task("a"), queue="low", process_in=60)
    e2 = make_entry("@every 1s", Task("b"), group="g1")
    s = sched(redis_url, [e1, e2])
    assert s.step(T0 + 1) == 2
    assert r.zscore("asynq:{low}:scheduled", e1.task_id_for(T0 + 1)) is not None
    assert r.zscore("asynq:{default}:g:g1", e2.task_id_for(T0 + 1)) is not None
    assert r.smembers("asynq:{default}:groups") == {b"g1"}


def test_unique_duplicate_goes_to_the_error_hook(redis_url: str, r: redis.Redis) -> None:
    seen: list[tuple[str, Any]] = []
    hooks = Hooks(
        pre_enqueue=lambda task, opts: seen.append(("pre", task.type)),
        post_enqueue=lambda info, err: seen.append(
            ("post", type(err).__name__ if err else info.id)
        ),
        on_error=lambda task, opts, err: seen.append(("error", type(err).__name__)),
    )
    e = make_entry("@every 1s", Task("u"), unique=3600)
    s = sched(redis_url, [e], hooks=hooks)
    assert s.step(T0 + 1) == 1
    assert s.step(T0 + 2) == 0  # the lock from tick 1 holds
    assert seen == [
        ("pre", "u"),
        ("post", e.task_id_for(T0 + 1)),
        ("pre", "u"),
        ("post", DuplicateTaskError.__name__),
        ("error", DuplicateTaskError.__name__),
    ]
    assert pending(r) == [e.task_id_for(T0 + 1)]


def test_a_raising_hook_does_not_stop_the_scheduler(redis_url: str, r: redis.Redis) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("hook bug")

    e = make_entry("@every 1s", Task("x"))
    s = sched(redis_url, [e], hooks=Hooks(pre_enqueue=boom, post_enqueue=boom))
    assert s.step(T0 + 1) == 1


def test_history_is_asynq_s_layout_and_trimmed(redis_url: str, r: redis.Redis) -> None:
    e = make_entry("@every 1s", Task("h"))
    s = sched(redis_url, [e])
    s.step(T0 + 1)
    key = f"asynq:scheduler_history:{e.id}"
    (raw, score) = r.zrange(key, 0, -1, withscores=True)[0]
    event = PbEvent.FromString(raw)  # the official protobuf runtime reads it
    assert event.task_id == e.task_id_for(T0 + 1)
    assert abs(score - time.time()) < 60 and event.enqueue_time.seconds == int(score)
    assert r.ttl(key) == -1  # Asynq sets no TTL; it trims to 1000 events
    r.zadd(key, {f"old{i}": i for i in range(1200)})
    s.step(T0 + 2)
    assert r.zcard(key) == 1000
    hist = Inspector(redis_url).scheduler_history(e.id, 1, 2)  # newest first
    assert {h.task_id for h in hist} == {e.task_id_for(T0 + 1), e.task_id_for(T0 + 2)}


def test_entries_are_published_for_asynq_tools(redis_url: str, r: redis.Redis) -> None:
    e = make_entry("*/5 * * * *", Task("report", b"{}"), queue="low", max_retry=3)
    s = sched(redis_url, [e], scheduler_id="host:1:abc")
    s.beat(time.time())
    key = "asynq:schedulers:{host:1:abc}"
    assert r.zscore("asynq:schedulers", key) == pytest.approx(time.time() + 5, abs=2)
    assert 0 < r.ttl(key) <= 5
    pb = PbEntry.FromString(r.lrange(key, 0, -1)[0])
    assert (pb.id, pb.spec, pb.task_type, pb.task_payload) == (e.id, e.spec, "report", b"{}")
    assert list(pb.enqueue_options) == ['Queue("low")', "MaxRetry(3)"]
    assert pb.next_enqueue_time.seconds == T0 + 300  # the next */5 minute after T0
    listed = Inspector(redis_url).scheduler_entries()
    assert [x.id for x in listed] == [e.id]
    s.close()
    assert r.zcard("asynq:schedulers") == 0 and not r.exists(key)


def test_missed_skip_does_not_catch_up(redis_url: str, r: redis.Redis) -> None:
    e = make_entry("@every 10s", Task("x"))
    sched(redis_url, [e]).step(T0 + 10)
    later = Scheduler(RedisConfig.from_url(redis_url), StaticEntries([e]))
    later.load(T0 + 95)  # down for 8 ticks
    assert pending(r) == [e.task_id_for(T0 + 10)]


def test_missed_last_fires_the_latest_missed_tick_once(redis_url: str, r: redis.Redis) -> None:
    e = make_entry("@every 10s", Task("x"), missed="last")
    sched(redis_url, [e]).step(T0 + 10)
    fleet = [Scheduler(RedisConfig.from_url(redis_url), StaticEntries([e])) for _ in range(2)]
    for s in fleet:
        s.load(T0 + 95)
    assert pending(r) == [e.task_id_for(T0 + 90), e.task_id_for(T0 + 10)]


def test_missed_last_never_fires_an_entry_that_never_ran(redis_url: str, r: redis.Redis) -> None:
    e = make_entry("@every 10s", Task("x"), missed="last")
    sched(redis_url, [e])
    assert pending(r) == []


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # A distinct mtime even on coarse file systems.
    st = path.stat()
    import os

    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_config_file_toml_and_reload(tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    cfg = tmp_path / "periodic.toml"
    write(
        cfg,
        'time_zone = "Europe/Berlin"\n[[entries]]\nspec = "@every 1s"\ntype = "a"\n'
        'payload = {n = 1}\nqueue = "low"\ntimeout = "30s"\nid = "a-entry"\n',
    )
    code = [make_entry("@every 1s", Task("code"))]
    source = FileEntries(cfg, code)
    s = Scheduler(RedisConfig.from_url(redis_url), source)
    s.load(T0)
    assert sorted(s.entries) == sorted(["a-entry", code[0].with_default_zone("Europe/Berlin").id])
    assert s.step(T0 + 1) == 2
    assert r.hget(f"asynq:{{low}}:t:{s.entries['a-entry'].task_id_for(T0 + 1)}", "state")
    write(cfg, '[[entries]]\nspec = "@every 1s"\ntype = "b"\nid = "b-entry"\n')
    assert source.changed()
    s.load(T0 + 1.5)
    assert "b-entry" in s.entries and "a-entry" not in s.entries
    write(cfg, "[[entries]]\nspec = 'not a spec'\ntype = 'c'\n")  # broken: keep b
    s.load(T0 + 1.6)
    assert "b-entry" in s.entries and not source.changed()


def test_config_file_yaml(tmp_path: Path) -> None:
    cfg = tmp_path / "periodic.yaml"
    cfg.write_text(
        "entries:\n  - spec: '0 3 * * *'\n    type: nightly\n    missed: last\n"
        "    time_zone: America/New_York\n    unique: 1h\n"
    )
    (e,) = FileEntries(cfg).entries()
    assert (e.task.type, e.missed, e.options["unique"]) == ("nightly", "last", 3600)
    assert str(e.schedule.tz) == "America/New_York"


def test_config_file_errors_are_clear(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[[entries]]\nspec = '@daily'\ntype = 'x'\ncolour = 'red'\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        FileEntries(cfg)
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        FileEntries(tmp_path / "missing.toml")


def _run_day(url: str, r: redis.Redis, day: tuple[int, int, int]) -> list[str]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(*day, 0, 0, tzinfo=berlin).timestamp()
    e = make_entry("30 2 * * *", Task("nightly"), tz="Europe/Berlin")
    s = Scheduler(RedisConfig.from_url(url), StaticEntries([e]))
    s.load(start)
    for minute in range(0, 25 * 60, 5):  # the whole (23 or 25 hour) day, every 5 min
        s.step(start + minute * 60 + 1)
    return pending(r)


def test_dst_spring_forward_day_fires_the_0230_job_once(redis_url: str, r: redis.Redis) -> None:
    assert len(_run_day(redis_url, r, (2026, 3, 29))) == 1


def test_dst_fall_back_day_fires_the_0230_job_once(redis_url: str, r: redis.Redis) -> None:
    assert len(_run_day(redis_url, r, (2026, 10, 25))) == 1
