"""kill -9 storm: random worker children die every 1-2 s while tasks drain.

Each task bumps its own counter in ``chaos:done`` when its handler finishes, so the
end state says exactly which tasks ran and how many ran twice. A duplicate is only
allowed for a task that was in flight (in ``active``) at one of the kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import psutil
import redis

from fastq import keys
from fastq.client import Client
from fastq.supervisor.exitcodes import ExitCode
from fastq.task import Task

from .helpers import (
    Workers,
    done_counts,
    done_total,
    enqueue_recs,
    members,
    missing,
    report,
    running,
    scale,
    text,
    wait_for,
)

TASKS = scale(3000, 100_000)
PROCESSES = scale(3, 4)
CONCURRENCY = scale(10, 25)
SLEEP = scale(0.08, 0.15)  # seconds per task: the run lasts long enough for many kills
DRAIN_DEADLINE = scale(90.0, 1500.0)
KEPT = scale(300, 3000)  # tasks enqueued with unique and retention


def test_kill_9_storm_loses_nothing(
    workers: Workers, redis_url: str, r: redis.Redis, tmp_path: Path
) -> None:
    rng = random.Random(int(os.environ.get("FASTQ_CHAOS_SEED", "0")) or None)
    # Half async handlers (event loop), half def handlers (thread pool).
    ids = enqueue_recs(redis_url, TASKS // 2, sleep=SLEEP)
    ids += enqueue_recs(redis_url, TASKS - TASKS // 2 - KEPT, sleep=SLEEP, kind="rec_sync")
    # Some are unique and kept after completion: a second completion record or a
    # leaked unique lock would show.
    with Client(redis_url) as client:
        kept = [
            i.id
            for i in client.enqueue_many(
                [Task("rec", json.dumps({"sleep": SLEEP, "n": n}).encode()) for n in range(KEPT)],
                unique=3600,
                retention=3600,
            )
        ]
    ids += kept
    t0 = time.monotonic()
    p = workers.start(
        redis_url,
        "--processes",
        str(PROCESSES),
        "--concurrency",
        str(CONCURRENCY),
        "--lease-duration",
        "2",
        "--shutdown-timeout",
        "2",
    )
    active = keys.active_key("default")
    kills = 0
    killed: list[psutil.Process] = []  # recorded at the kill: pid-reuse safe
    inflight_at_kills = 0
    exposed: set[str] = set()  # ids in active around a kill: the only ones allowed twice
    deadline = time.monotonic() + DRAIN_DEADLINE
    while done_total(r) < TASKS:
        assert time.monotonic() < deadline, f"only {done_total(r)}/{TASKS} done"
        time.sleep(rng.uniform(1.0, 2.0))
        victims = p.children()  # workers, the host of the maintenance duties among them
        if not victims or done_total(r) >= TASKS:
            continue
        victim = rng.choice(victims)
        snapshot = {text(x) for x in r.lrange(active, 0, -1)}
        try:
            os.kill(victim.pid, signal.SIGKILL)  # a child we started, by pid
        except ProcessLookupError:
            continue
        snapshot |= {text(x) for x in r.lrange(active, 0, -1)}
        kills += 1
        killed.append(victim)
        inflight_at_kills += len(snapshot)
        exposed |= snapshot
    elapsed = time.monotonic() - t0
    # Nothing may remain anywhere but the record: no active task, no orphan lease.
    # A task can still be on its way back (recovered into retry after its run was
    # recorded but before the ack): it must come through, be it after a backoff.
    q = "default"

    def leftovers() -> dict[str, int]:
        sizes = {
            "active": r.llen(active),
            "lease": r.zcard(keys.lease_key(q)),
            "pending": r.llen(keys.pending_key(q)),
            "retry": r.zcard(keys.retry_key(q)),
            "scheduled": r.zcard(keys.scheduled_key(q)),
        }
        return {k: v for k, v in sizes.items() if v}

    try:
        wait_for(lambda: not leftovers(), timeout=90, what="every queue state empty", every=0.2)
    except AssertionError:
        raise AssertionError(f"left in the queue: {leftovers()}") from None
    assert r.zcard(keys.archived_key(q)) == 0
    # Each task acknowledged exactly once, whatever ran twice (a recovery past the
    # recover cap also counts as processed, and as failed).
    processed = int(r.get(keys.processed_total_key(q)) or 0)
    failed = int(r.get(keys.failed_total_key(q)) or 0)
    assert processed - failed == TASKS
    assert sorted(members(r, keys.completed_key(q))) == sorted(kept)
    assert not list(r.scan_iter(match=keys.queue_prefix(q) + "unique:*", count=1000))
    counts = done_counts(r)
    lost = missing(ids, counts)
    dup_ids = {i for i, c in counts.items() if c > 1}
    duplicates = sum(c - 1 for c in counts.values())
    log = p.log()
    restarts = log.count("worker process died; restarting")
    report(
        {
            "scenario": "kill_storm",
            "tasks": TASKS,
            "processes": PROCESSES,
            "concurrency": CONCURRENCY,
            "kills": kills,
            "restarts_logged": restarts,
            "lost": len(lost),
            "duplicates": duplicates,
            "inflight_at_kills": inflight_at_kills,
            "seconds": round(elapsed, 1),
        }
    )
    assert kills >= 3
    assert not lost, f"{len(lost)} tasks never completed, e.g. {lost[:5]}"
    assert set(counts) == set(ids)
    stray = sorted(dup_ids - exposed)
    assert not stray, f"duplicated without being in flight: {stray[:5]}"
    assert duplicates <= inflight_at_kills
    # The supervisor reaped every child it lost (a zombie still "is running") and
    # replaced it: the full set of processes runs, none of them a killed one.
    wait_for(lambda: not any(v.is_running() for v in killed), timeout=10, what="the killed reaped")
    wait_for(lambda: len(p.children()) == PROCESSES, timeout=15, what="every child replaced")
    final = psutil.Process(p.pid).children(recursive=True)
    assert len(final) == PROCESSES, final  # the workers, one hosting the maintenance duties
    p.signal(signal.SIGTERM)
    assert p.wait(30) == ExitCode.OK
    assert not [c.pid for c in final if running(c)]  # nothing outlives the supervisor
