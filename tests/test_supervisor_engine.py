"""`fastq-worker` as a real subprocess on the real engine, against the test Redis.

Tasks (tests/supervisorapps/recording_app.py) push their id to ``test:done`` when
they finish, so every test can count lost and duplicated tasks.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from supervisorapps.harness import ROOT, TESTS, SupervisorProc, alive, kill_quietly, wait_for

from fastq import keys
from fastq._core import ServerInfo, WorkerInfo
from fastq.client import Client
from fastq.supervisor.exitcodes import ExitCode
from fastq.task import Task

pytestmark = pytest.mark.timeout(90)
APP = "supervisorapps.recording_app:app"


@pytest.fixture
def started() -> Iterator[list[SupervisorProc]]:
    procs: list[SupervisorProc] = []
    yield procs
    for p in procs:
        p.close()


def worker(started: list[SupervisorProc], tmp: Path, url: str, *args: str) -> SupervisorProc:
    p = SupervisorProc.real([APP, *args], tmp, {"FASTQ_REDIS_URL": url})
    started.append(p)
    return p


def enqueue(url: str, specs: list[tuple[str, float]], queue: str = "default") -> list[str]:
    with Client(url) as client:
        infos = client.enqueue_many(
            [Task(kind, json.dumps({"sleep": s}).encode(), queue=queue) for kind, s in specs]
        )
    return [i.id for i in infos]


def done(r: redis.Redis) -> list[str]:
    return [x.decode() for x in r.lrange("test:done", 0, -1)]


def test_graceful_term_under_load_loses_and_duplicates_nothing(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    ids = enqueue(redis_url, [("record", 4.0)] * 6 + [("record", 0.02)] * 150)
    p = worker(
        started,
        tmp_path / "a",
        redis_url,
        "--processes",
        "2",
        "--concurrency",
        "8",
        "--shutdown-timeout",
        "1",
        "--lease-duration",
        "10",
    )
    wait_for(lambda: len(done(r)) >= 40, timeout=20, what="some tasks done")
    p.signal(signal.SIGTERM)
    assert p.wait(15) == ExitCode.OK
    assert r.llen(keys.active_key("default")) == 0  # nothing left behind in active
    assert r.zcard(keys.lease_key("default")) == 0
    first = done(r)
    assert len(first) == len(set(first))
    # A second worker drains the rest, including the long tasks the first requeued.
    p2 = worker(
        started,
        tmp_path / "b",
        redis_url,
        "--processes",
        "1",
        "--concurrency",
        "10",
        "--lease-duration",
        "10",
    )
    wait_for(lambda: len(done(r)) >= len(ids), timeout=30, what="every task done")
    p2.signal(signal.SIGTERM)
    assert p2.wait(15) == ExitCode.OK
    counts = Counter(done(r))
    assert set(counts) == set(ids)  # 0 lost
    assert max(counts.values()) == 1  # 0 duplicated
    assert "requeued unfinished tasks" in p.log()


def test_kill_9_of_a_child_recovers_its_tasks(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    p = worker(
        started,
        tmp_path,
        redis_url,
        "--processes",
        "1",
        "--concurrency",
        "10",
        "--lease-duration",
        "2",
    )
    wait_for(
        lambda: len(p.workers()) == 1 and "busy 0/10" in " ".join(p.titles()),
        timeout=10,
        what="an idle worker",
    )
    ids = enqueue(redis_url, [("record", 2.5)] * 6)
    victim = wait_for(
        lambda: [c for c in p.workers() if "busy 6/10" in " ".join(c.cmdline())],
        timeout=10,
        what="a busy worker",
    )[0]
    kill_quietly(victim.pid)
    wait_for(lambda: sorted(done(r)) == sorted(ids), timeout=30, what="recovered tasks done")
    log = p.log()
    assert "killed by SIGKILL: out of memory?" in log
    assert "recovered lease-expired tasks" in log

    # The only worker hosted the maintenance duties: its replacement took them
    # over, or nothing would have recovered the tasks above.
    assert len(maintenance_hosts(p)) == 2
    p.signal(signal.SIGTERM)
    assert p.wait(15) == ExitCode.OK


HOST_LINE = re.compile(r"maintenance duties run in worker process.*?child_pid=(\d+)")


def maintenance_hosts(p: SupervisorProc) -> list[int]:
    """The pids the supervisor made hosts of the maintenance duties, in order."""
    return [int(m.group(1)) for m in HOST_LINE.finditer(p.log())]


def forwarded_and_done(url: str, r: redis.Redis) -> None:
    """A task scheduled 1 s ahead runs: the forwarder moved it to pending."""
    with Client(url) as client:
        info = client.enqueue(Task("record", b'{"sleep": 0}', process_in=1.0))
    wait_for(lambda: info.id in done(r), timeout=15, what="the scheduled task done")


def test_maintenance_duties_move_to_another_worker_when_their_host_is_killed(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    p = worker(started, tmp_path, redis_url, "--processes", "2", "--lease-duration", "2")
    [host] = wait_for(lambda: maintenance_hosts(p), timeout=10, what="a maintenance host")
    assert len(p.children()) == 2  # no maintenance process: the duties are threads of one

    def titled_hosts() -> list[int]:
        return [c.pid for c in p.workers() if "+maintenance" in " ".join(c.cmdline())]

    assert wait_for(titled_hosts, timeout=10, what="the host's title") == [host]
    forwarded_and_done(redis_url, r)
    for _ in range(2):  # the host, then the worker that took the duties over
        kill_quietly(host)
        [_, host] = wait_for(
            lambda old=host: maintenance_hosts(p)[-2:] if maintenance_hosts(p)[-1] != old else None,
            timeout=10,
            what="a new maintenance host",
        )
        assert host in [c.pid for c in p.workers()]
        forwarded_and_done(redis_url, r)
    # The tasks a killed host held come back through the duties of the next one.
    ids = enqueue(redis_url, [("record", 2.5)] * 4)
    wait_for(lambda: r.llen(keys.active_key("default")) == 4, timeout=10, what="tasks active")
    kill_quietly(host)
    wait_for(lambda: set(ids) <= set(done(r)), timeout=30, what="recovered tasks done")
    assert len(maintenance_hosts(p)) == len(set(maintenance_hosts(p)))
    p.signal(signal.SIGTERM)
    assert p.wait(15) == ExitCode.OK


def test_kill_9_of_the_maintenance_process_restarts_it(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    p = worker(started, tmp_path, redis_url, "--processes", "1", "--maintenance-in", "process")

    def maintenance() -> list[int]:
        pids = []
        for c in p.children():
            try:
                if " ".join(c.cmdline()).startswith("fastq-worker: maintenance"):
                    pids.append(c.pid)
            except psutil.Error:  # killed, not reaped yet
                pass
        return pids

    [old_maintenance] = wait_for(maintenance, timeout=10, what="the maintenance process")
    kill_quietly(old_maintenance)
    wait_for(
        lambda: maintenance() and maintenance() != [old_maintenance],
        timeout=10,
        what="a new maintenance process",
    )
    forwarded_and_done(redis_url, r)
    assert maintenance_hosts(p) == []  # the workers never took the duties
    p.signal(signal.SIGTERM)
    assert p.wait(15) == ExitCode.OK


def test_max_tasks_per_child_recycles_without_loss(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    ids = enqueue(redis_url, [("record", 0.01)] * 40)
    p = worker(
        started,
        tmp_path,
        redis_url,
        "--processes",
        "1",
        "--concurrency",
        "2",
        "--max-tasks-per-child",
        "8",
        "--shutdown-timeout",
        "2",
    )
    wait_for(lambda: len(done(r)) >= len(ids), timeout=40, what="every task done")
    p.signal(signal.SIGTERM)
    assert p.wait(15) == ExitCode.OK
    counts = Counter(done(r))
    assert set(counts) == set(ids) and max(counts.values()) == 1
    log = p.log()
    assert log.count("replacing worker process") >= 3
    assert "max_tasks_per_child" in log
    assert "died; restarting" not in log


def test_server_info_and_worker_info_decode(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    p = worker(
        started,
        tmp_path,
        redis_url,
        "--processes",
        "2",
        "--concurrency",
        "3",
        "--queues",
        "critical=6,default=2",
        "--strict-priority",
        "--lease-duration",
        "10",
    )
    enqueue(redis_url, [("record", 3.5)] * 4)

    def server() -> ServerInfo | None:
        members = r.zrange(keys.ALL_SERVERS, 0, -1)
        raw = r.get(members[0]) if members else None
        return ServerInfo.decode(raw) if raw else None

    info = wait_for(
        lambda: (s := server()) and s.active_worker_count == 4 and s,
        timeout=10,
        what="ServerInfo with 4 active",
    )
    assert info.pid == p.pid
    assert info.concurrency == 6  # processes x concurrency
    assert info.queues == {"critical": 6, "default": 2}
    assert info.strict_priority is True
    assert info.status == "active"
    assert info.start_time is not None and abs(info.start_time[0] - time.time()) < 30
    host = info.host
    wkey = keys.workers_key(host, p.pid, info.server_id)
    assert r.zscore(keys.ALL_WORKERS, wkey) is not None
    entries = wait_for(
        lambda: len(r.hgetall(wkey)) == 4 and r.hgetall(wkey),
        timeout=10,
        what="4 WorkerInfo entries",
    )
    for task_id, raw in entries.items():
        w = WorkerInfo.decode(raw)
        assert (w.host, w.pid, w.server_id) == (host, p.pid, info.server_id)
        assert w.task_id == task_id.decode() and w.task_type == "record"
        assert w.queue == "default"
    p.signal(signal.SIGTSTP)
    wait_for(lambda: (s := server()) and s.status == "stopped", timeout=6, what="quiet status")
    p.signal(signal.SIGTERM)
    assert p.wait(15) == ExitCode.OK
    assert r.zcard(keys.ALL_SERVERS) == 0 and r.zcard(keys.ALL_WORKERS) == 0
    assert not r.exists(keys.server_info_key(host, p.pid, info.server_id), wkey)


def test_hup_reload_replaces_children_gracefully(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    p = worker(started, tmp_path, redis_url, "--processes", "2", "--concurrency", "2")
    old = {
        c.pid
        for c in wait_for(
            lambda: len(p.workers()) == 2 and p.workers(), timeout=10, what="2 workers"
        )
    }
    p.signal(signal.SIGHUP)
    wait_for(
        lambda: len(p.workers()) == 2 and not old & {c.pid for c in p.workers()},
        timeout=15,
        what="2 new workers",
    )
    ids = enqueue(redis_url, [("record", 0.01)] * 5)
    wait_for(lambda: sorted(done(r)) == sorted(ids), timeout=10, what="tasks on new workers")
    assert "reloading" in p.log() and "died" not in p.log()
    p.signal(signal.SIGTERM)
    assert p.wait(15) == ExitCode.OK


RELOADABLE = """
import os
import redis
from fastq.app import App

app = App()


@app.task("{name}")
async def handler(task, ctx):
    redis.Redis.from_url(os.environ["FASTQ_REDIS_URL"]).rpush("test:done", "{name}:" + task.id)
"""


def test_hup_reload_imports_the_new_code(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "reloadable_app.py").write_text(RELOADABLE.format(name="v1"))
    env = {"FASTQ_REDIS_URL": redis_url, "PYTHONPATH": f"{ROOT}:{TESTS}:{code}"}
    p = SupervisorProc.real(["reloadable_app:app", "--processes", "1"], tmp_path, env)
    started.append(p)
    old = wait_for(lambda: len(p.workers()) == 1 and p.workers(), timeout=10, what="worker")
    (code / "reloadable_app.py").write_text(RELOADABLE.format(name="v2"))
    p.signal(signal.SIGHUP)
    wait_for(
        lambda: len(p.workers()) == 1 and p.workers()[0].pid != old[0].pid,
        timeout=15,
        what="the new worker",
    )
    [task_id] = enqueue(redis_url, [("v2", 0)])
    wait_for(lambda: done(r) == [f"v2:{task_id}"], timeout=10, what="the new handler")
    p.signal(signal.SIGTERM)
    assert p.wait(15) == ExitCode.OK


def test_max_memory_per_child_replaces_children_without_loss(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    # Any Python process is over 1 MB: every child is replaced as soon as it is
    # ready, so tasks keep running across constant replacements.
    ids = enqueue(redis_url, [("record", 0.05)] * 30)
    p = worker(
        started,
        tmp_path,
        redis_url,
        "--processes",
        "1",
        "--concurrency",
        "4",
        "--max-memory-per-child",
        "1MB",
        "--shutdown-timeout",
        "2",
    )
    wait_for(lambda: len(done(r)) >= len(ids), timeout=40, what="every task done")
    wait_for(lambda: p.log().count("memory: rss") >= 2, timeout=10, what="two replacements")
    p.signal(signal.SIGTERM)
    assert p.wait(15) == ExitCode.OK
    counts = Counter(done(r))
    assert set(counts) == set(ids) and max(counts.values()) == 1
    assert "died; restarting" not in p.log()


def test_sd_notify_lifecycle_on_the_real_engine(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str
) -> None:
    import socket

    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    got: list[str] = []

    def until(pred: str) -> str:
        while True:
            msg = sock.recv(4096).decode()
            got.append(msg)
            if pred in msg:
                return msg

    try:
        p = SupervisorProc.real(
            [APP, "--processes", "2", "--concurrency", "2"],
            tmp_path,
            {"FASTQ_REDIS_URL": redis_url, "NOTIFY_SOCKET": path},
        )
        started.append(p)
        ready = until("READY=1")
        assert "STATUS=running: 2/2 worker processes, 0 tasks running" in ready
        p.signal(signal.SIGHUP)
        until("RELOADING=1")
        assert "STATUS=running: 2/2" in until("READY=1")
        p.signal(signal.SIGTERM)
        until("STOPPING=1")
        assert p.wait(15) == ExitCode.OK
    finally:
        sock.close()


def test_a_killed_childs_tasks_leave_the_workers_hash_when_it_is_reaped(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    # Lease 20 s: the tasks stay active (and their leases valid) long after the kill,
    # so only the reaping can take them off the workers hash within the test.
    p = worker(
        started, tmp_path, redis_url, "--processes", "2", "--concurrency", "3",
        "--lease-duration", "20",
    )  # fmt: skip
    ids = enqueue(redis_url, [("record", 30.0)] * 6)

    def entries() -> dict[str, int]:
        members = r.zrange(keys.ALL_WORKERS, 0, -1)
        raw = r.hgetall(members[0]) if members else {}
        return {k.decode(): WorkerInfo.decode(v).pid for k, v in raw.items()}

    wait_for(lambda: sorted(entries()) == sorted(ids), timeout=15, what="6 WorkerInfo entries")
    victim = wait_for(
        lambda: [c for c in p.workers() if "busy 3/3" in " ".join(c.cmdline())],
        timeout=10,
        what="a busy worker",
    )[0]
    kill_quietly(victim.pid)
    wait_for(lambda: len(entries()) == 3, timeout=5, what="the dead child's entries removed")
    left = set(entries())
    assert all(r.hget(keys.task_key("default", t), "state") == b"active" for t in ids)
    assert all(r.zscore(keys.lease_key("default"), t) for t in ids)  # leases still held
    assert len(left) == 3 and left < set(ids)
    p.signal(signal.SIGQUIT)
    assert p.wait(15) == ExitCode.OK


def forking_worker(started: list[SupervisorProc], tmp: Path, url: str) -> SupervisorProc:
    app = "supervisorapps.forking_app:app"
    p = SupervisorProc.real(
        [app, "--processes", "1", "--concurrency", "2"], tmp, {"FASTQ_REDIS_URL": url}
    )
    started.append(p)
    return p


def _forked(r: redis.Redis, n: int) -> list[int]:
    return (
        [int(x) for x in r.lrange("test:forked", 0, -1)][:n] if r.llen("test:forked") >= n else []
    )


def test_processes_forked_by_handlers_are_named_and_end_with_the_worker(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    p = forking_worker(started, tmp_path, redis_url)
    enqueue(redis_url, [("fork_sleeper", 0.0)])
    [pid] = wait_for(lambda: _forked(r, 1), timeout=15, what="a forked process")
    forked = psutil.Process(pid)
    try:
        title = " ".join(forked.cmdline()).strip()  # setproctitle pads with spaces
        assert title == "fastq-worker: worker 1: forked by a handler"
        p.signal(signal.SIGTERM)
        assert p.wait(15) == ExitCode.OK
        wait_for(lambda: not alive(pid), timeout=5, what="the forked process ended")
        assert "ended processes that handlers left running" in p.log()
    finally:
        kill_quietly(pid)


def test_processes_forked_by_a_killed_workers_handlers_are_ended_by_the_supervisor(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    p = forking_worker(started, tmp_path, redis_url)
    enqueue(redis_url, [("fork_sleeper", 0.0)])
    [pid] = wait_for(lambda: _forked(r, 1), timeout=15, what="a forked process")
    try:
        [victim] = p.workers()
        kill_quietly(victim.pid)
        wait_for(lambda: not alive(pid), timeout=10, what="the forked process ended")
        assert "ending processes left by a dead worker process's handlers" in p.log()
        p.signal(signal.SIGTERM)
        assert p.wait(15) == ExitCode.OK
    finally:
        kill_quietly(pid)
