"""Maintenance: forwarder, recoverer (with the free-recovery cap), janitor."""

from __future__ import annotations

import socket
import time

import redis
from workerapps.helpers import task_msg

from fastq import keys
from fastq._core import TaskMessage
from fastq.app import App
from fastq.config import RedisConfig
from fastq.worker.maintenance import LEASE_EXPIRED, Duties, Maintenance
from fastq.worker.process import Engine
from fastq.worker.settings import WorkerSettings

NOW = float(int(time.time()))


def _maint(redis_url: str, now: float, **kw: object) -> Maintenance:
    s = WorkerSettings(redis=RedisConfig.from_url(redis_url), queues={"q": 1}, **kw)  # type: ignore[arg-type]
    return Maintenance(s, clock=lambda: now)


def _active(r: redis.Redis, tid: str, lease: float, **fields: object) -> None:
    msg = TaskMessage(type="t", id=tid, queue="q", **fields)  # type: ignore[arg-type]
    r.hset(keys.task_key("q", tid), mapping={"msg": msg.encode(), "state": "active"})
    r.lpush(keys.active_key("q"), tid)
    r.zadd(keys.lease_key("q"), {tid: int(lease)})


def test_forwarder_moves_due_tasks_and_wakes(redis_url: str, r: redis.Redis) -> None:
    for i in range(150):
        tid = f"s{i}"
        r.hset(keys.task_key("q", tid), mapping={"msg": b"x", "state": "scheduled"})
        r.zadd(keys.scheduled_key("q"), {tid: NOW - 1})
    r.hset(keys.task_key("q", "later"), mapping={"msg": b"x", "state": "retry"})
    r.zadd(keys.retry_key("q"), {"later": NOW + 60})
    report = _maint(redis_url, NOW).run_once()
    assert report.forwarded == 150
    assert r.llen(keys.pending_key("q")) == 150 and r.zcard(keys.scheduled_key("q")) == 0
    assert r.llen(keys.wake_key("q")) == 16
    assert r.hget(keys.task_key("q", "later"), "state") == b"retry"
    assert _maint(redis_url, NOW + 61).run_once().forwarded == 1


def test_recovery_is_free_until_the_cap(redis_url: str, r: redis.Redis) -> None:
    _active(r, "t1", NOW - 35, retry=5, retried=1)
    m = _maint(redis_url, NOW, recover_cap=2)
    assert m.run_once().recovered == 1
    msg = task_msg(r, "q", "t1")
    assert (msg.retried, msg.error_msg) == (1, LEASE_EXPIRED)  # no retry burned
    assert r.zscore(keys.retry_key("q"), "t1") == int(NOW)
    assert r.hget(keys.recovered_count_key("q"), "t1") == b"1"
    assert r.get(keys.failed_total_key("q")) is None
    assert r.llen(keys.active_key("q")) == 0 and r.zcard(keys.lease_key("q")) == 0
    # Recovered twice already: now it costs a retry and counts as a failure.
    r.zrem(keys.retry_key("q"), "t1")
    r.hset(keys.recovered_count_key("q"), "t1", 2)
    r.lpush(keys.active_key("q"), "t1")
    r.zadd(keys.lease_key("q"), {"t1": int(NOW - 35)})
    m.run_once()
    assert task_msg(r, "q", "t1").retried == 2
    # Asynq backoff from the retried count before this failure: 1**4 + 15 + rand(0..29) * 2
    assert int(NOW) + 16 <= (r.zscore(keys.retry_key("q"), "t1") or 0) <= int(NOW) + 16 + 58
    assert r.get(keys.failed_total_key("q")) == b"1"


def test_recovery_archives_when_capped_and_exhausted(redis_url: str, r: redis.Redis) -> None:
    _active(r, "t1", NOW - 35, retry=1, retried=1)
    r.hset(keys.recovered_count_key("q"), "t1", 3)
    _active(r, "fresh", NOW + 30)
    report = _maint(redis_url, NOW).run_once()
    assert (report.archived, report.dropped) == (1, 0)
    assert r.hget(keys.task_key("q", "t1"), "state") == b"archived"
    assert not r.hexists(keys.recovered_count_key("q"), "t1")
    assert r.hget(keys.task_key("q", "fresh"), "state") == b"active"


def test_janitor_deletes_expired_completed_and_trims_archive(
    redis_url: str, r: redis.Redis
) -> None:
    for i in range(5):
        r.zadd(keys.completed_key("q"), {f"c{i}": NOW - 10 + i * 5})
        r.hset(keys.task_key("q", f"c{i}"), "msg", b"x")
        r.zadd(keys.archived_key("q"), {f"a{i}": NOW - 1000 + i})
        r.hset(keys.task_key("q", f"a{i}"), "msg", b"x")
    r.zadd(keys.archived_key("q"), {"ancient": NOW - 10**7})
    r.hset(keys.task_key("q", "ancient"), "msg", b"x")
    report = _maint(redis_url, NOW, archive_max_size=3, archive_max_age=86400).run_once()
    assert report.deleted == 3 and report.trimmed == 3
    assert r.zrange(keys.completed_key("q"), 0, -1) == [b"c3", b"c4"]
    assert not r.exists(keys.task_key("q", "c0"))
    assert r.zrange(keys.archived_key("q"), 0, -1) == [b"a2", b"a3", b"a4"]
    assert not r.exists(keys.task_key("q", "ancient"))


def _completed(r: redis.Redis, n: int, expiry: float, prefix: str = "c") -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.zadd(keys.completed_key("q"), {f"{prefix}{i}": expiry})
        pipe.hset(keys.task_key("q", f"{prefix}{i}"), "msg", b"x")
    pipe.execute()


def test_janitor_deletes_10000_expired_completed_tasks_in_one_pass(
    redis_url: str, r: redis.Redis
) -> None:
    _completed(r, 10_000, NOW - 1)
    _completed(r, 3, NOW + 60, prefix="kept")
    deleted, _ = _maint(redis_url, NOW).janitor()
    assert deleted == 10_000
    assert r.zrange(keys.completed_key("q"), 0, -1) == [b"kept0", b"kept1", b"kept2"]
    assert r.dbsize() == 4  # the completed set and the three kept hashes


def test_janitor_pass_stops_at_its_time_budget_and_the_next_goes_on(
    redis_url: str, r: redis.Redis
) -> None:
    from fastq.rdb.worker import JANITOR_BATCH
    from fastq.worker.maintenance import JANITOR_PASS_BUDGET

    _completed(r, 3 * JANITOR_BATCH, NOW - 1)
    ticks = iter(range(0, 1000, int(JANITOR_PASS_BUDGET) + 1))  # each look: past the budget
    s = WorkerSettings(redis=RedisConfig.from_url(redis_url), queues={"q": 1})
    m = Maintenance(s, clock=lambda: NOW, timer=lambda: float(next(ticks)))
    assert m.janitor()[0] == JANITOR_BATCH
    assert r.zcard(keys.completed_key("q")) == 2 * JANITOR_BATCH
    assert m.janitor()[0] == JANITOR_BATCH


def test_recoverer_leaves_leases_expired_within_the_skew_allowance(
    redis_url: str, r: redis.Redis
) -> None:
    from fastq.worker.settings import DEFAULT_SKEW_ALLOWANCE

    assert DEFAULT_SKEW_ALLOWANCE >= 30  # at least Asynq's allowance
    _active(r, "recent", NOW - DEFAULT_SKEW_ALLOWANCE + 1, retry=3)
    _active(r, "old", NOW - DEFAULT_SKEW_ALLOWANCE - 1, retry=3)
    assert _maint(redis_url, NOW).run_once().recovered == 1
    assert r.hget(keys.task_key("q", "recent"), "state") == b"active"
    assert r.hget(keys.task_key("q", "old"), "state") == b"retry"
    # The allowance is a setting: with 0 the recent one goes too.
    assert _maint(redis_url, NOW, skew_allowance=0).run_once().recovered == 1
    assert r.hget(keys.task_key("q", "recent"), "state") == b"retry"


def test_refused_writes_are_logged_once_and_not_counted(redis_url: str, r: redis.Redis) -> None:
    from structlog.testing import capture_logs

    _active(r, "t1", NOW - 60, retry=3)
    _completed(r, 5, NOW - 1)
    r.hset(keys.task_key("q", "s1"), mapping={"msg": b"x", "state": "scheduled"})
    r.zadd(keys.scheduled_key("q"), {"s1": NOW - 1})
    m = _maint(redis_url, NOW)
    with socket.socket() as s:  # a port nobody listens on: the "new master" never answers
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r.execute_command("REPLICAOF", "127.0.0.1", port)  # a read-only replica, data kept
    try:
        with capture_logs() as logs:
            reports = [m.run_once() for _ in range(20)]
    finally:
        r.execute_command("REPLICAOF", "NO", "ONE")
    assert all(rep == reports[0] for rep in reports)
    assert (reports[0].forwarded, reports[0].recovered, reports[0].deleted) == (0, 0, 0)
    assert not [e for e in logs if e["event"] == "recovered lease-expired tasks"]
    loud = [e for e in logs if e["log_level"] in ("warning", "error", "critical")]
    assert len(loud) == 1 and "READONLY" in loud[0]["error"]
    with capture_logs() as logs:
        report = m.run_once()
    assert (report.forwarded, report.recovered, report.deleted) == (1, 1, 5)
    assert [e["event"] for e in logs if e["event"] == "back to normal"] == ["back to normal"]


def test_recovery_counts_drops_apart_from_archives(redis_url: str, r: redis.Redis) -> None:
    _active(r, "gone", NOW - 35)
    r.delete(keys.task_key("q", "gone"))  # its hash was deleted: nothing to archive
    report = _maint(redis_url, NOW).run_once()
    assert (report.recovered, report.archived, report.dropped) == (0, 0, 1)
    assert r.llen(keys.active_key("q")) == 0 and r.zcard(keys.lease_key("q")) == 0


def _engine(redis_url: str) -> Engine:
    s = WorkerSettings(
        redis=RedisConfig.from_url(redis_url), queues={"q": 1}, maintenance_interval=0.05
    )
    return Engine(App(), s, control=_RecordingControl())


class _RecordingControl:
    def __init__(self) -> None:
        self.recycles: list[str] = []
        self.hosting = 0

    def heartbeat(self, *, busy: int, capacity: int, processed: int) -> None:
        return None

    def request_recycle(self, reason: str) -> None:
        self.recycles.append(reason)

    def parent_alive(self) -> bool:
        return True

    def hosting_maintenance(self) -> None:
        self.hosting += 1


def test_a_worker_takes_the_duties_once_and_stops_them_when_it_stops(
    redis_url: str, r: redis.Redis
) -> None:
    engine = _engine(redis_url)
    r.hset(keys.task_key("q", "due"), mapping={"msg": b"x", "state": "scheduled"})
    r.zadd(keys.scheduled_key("q"), {"due": time.time() - 1})
    engine.take_maintenance()  # what SIGUSR2 calls
    duties = engine.duties
    assert duties is not None and duties.started
    engine.take_maintenance()
    assert engine.duties is duties  # a second signal starts nothing more
    assert isinstance(engine.control, _RecordingControl)
    assert engine.control.hosting == 1  # told once: the process title says it hosts them
    deadline = time.monotonic() + 10
    while r.llen(keys.pending_key("q")) == 0:  # the forwarder runs in this process now
        assert time.monotonic() < deadline
        time.sleep(0.02)
    engine.stop(graceful=True)  # the first stop signal ends the duties, before the drain
    assert duties.stop_event.is_set()
    duties.join(timeout=5)
    assert not any(t.is_alive() for t in duties.threads)


def test_a_stopping_worker_does_not_take_the_duties(redis_url: str) -> None:
    engine = _engine(redis_url)
    engine.stop(graceful=True)
    engine.take_maintenance()
    assert engine.duties is None
    assert isinstance(engine.control, _RecordingControl)
    assert engine.control.hosting == 0


def test_a_host_whose_duties_died_asks_to_be_replaced(redis_url: str) -> None:
    import threading

    engine = _engine(redis_url)
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    engine.duties = Duties(engine.settings, engine.app)
    engine.duties.threads.append(dead)  # a duty thread that ended on its own
    engine._tick(engine.settings.sync_grace)
    engine._tick(engine.settings.sync_grace)
    control = engine.control
    assert isinstance(control, _RecordingControl)
    assert control.recycles == ["the maintenance duties ended unexpectedly"]
    assert engine._stop_graceful is True
