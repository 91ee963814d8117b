"""Handlers that kill their process, leases that expire under a live worker, SIGTERM
mid-drain: every task ends exactly where the engine documents, and others keep flowing."""

from __future__ import annotations

import signal
import time

import pytest
import redis

from fastq import keys
from fastq.client import Client
from fastq.inspect.inspector import Inspector
from fastq.task import Task, TaskInfo
from fastq.worker.settings import DEFAULT_RECOVER_CAP

from .apps.chaos_app import BLOCKED, RELEASED, STARTS
from .helpers import (
    LONG,
    Workers,
    done_counts,
    enqueue_recs,
    members,
    missing,
    report,
    scale,
    text,
    wait_for,
    worker_pids,
)

pytestmark = pytest.mark.timeout(scale(150, 900))


@pytest.mark.parametrize("kind", ["exit", "segv"])  # os._exit(1) / SIGSEGV via ctypes
def test_poison_pills_are_archived_after_the_recover_cap_and_others_flow(
    kind: str, workers: Workers, redis_url: str, r: redis.Redis
) -> None:
    # One pill per kind in CI: the supervisor's crash backoff doubles with every
    # crash in a minute, so many pills in one run mostly measure that backoff.
    with Client(redis_url) as client:
        # max_retry=0: every run is a free crash recovery until the recover cap, then
        # the archive (the maintenance module's rule); no 15 s+ retry backoff to wait.
        poison = [client.enqueue(Task(kind, b"{}"), max_retry=0).id for _ in range(scale(1, 3))]
    normal = enqueue_recs(redis_url, scale(200, 3000), sleep=0.02)
    # Lease scores are whole seconds: 2 s is the shortest lease that stays safe.
    p = workers.start(
        redis_url,
        "--processes",
        "2",
        "--concurrency",
        "4",
        "--lease-duration",
        "2",
        "--shutdown-timeout",
        "2",
    )
    wait_for(
        lambda: r.hlen(STARTS) and max(int(v) for v in r.hvals(STARTS)) >= 2,
        timeout=30,
        what="a pill's second run",
    )
    # Tasks enqueued while the pills crash processes still flow.
    normal += enqueue_recs(redis_url, scale(200, 3000), sleep=0.02)
    archived = keys.archived_key("default")
    wait_for(
        lambda: r.zcard(archived) >= len(poison),
        timeout=scale(120, 600),
        what="every poison pill archived",
        every=0.2,
    )
    # Tasks fetched in the same batch as a pill die with it, come back with it and
    # share its recovery count: past the cap they burn a retry (backoff >= 15 s).
    # They are in retry, not lost; the long run waits for them to complete.
    retry = keys.retry_key("default")

    def settled() -> list[str]:
        waiting = set(members(r, retry))
        return [i for i in missing(normal, done_counts(r)) if i not in waiting]

    wait_for(lambda: not settled(), timeout=60, what="normal tasks done or in retry")
    bystanders = r.zcard(retry)
    assert bystanders <= 3 * (DEFAULT_RECOVER_CAP + 1)  # at most concurrency-1 per crash
    if LONG:
        wait_for(
            lambda: not missing(normal, done_counts(r)),
            timeout=120,
            what="every normal task done",
            every=0.5,
        )
    starts = {text(k): int(v) for k, v in r.hgetall(STARTS).items()}
    max_runs = DEFAULT_RECOVER_CAP + 0 + 1  # free recoveries + max_retry + the first run
    with Inspector(redis_url) as insp:
        for task_id in poison:
            info = insp.task_info("default", task_id)
            assert isinstance(info, TaskInfo)
            assert info.state == "archived"
            assert "lease expired" in info.last_err  # its worker died running it
            # A pill may also be recovered because a sibling pill killed the process
            # it was waiting in: such recoveries count toward the cap as well.
            assert starts.get(task_id, 0) <= max_runs, (task_id, starts[task_id])
    assert set(r.zrange(archived, 0, -1)) == {i.encode() for i in poison}  # nothing else
    log = p.log()
    assert ("killed by SIGSEGV" if kind == "segv" else "exited with code 1") in log
    counts = done_counts(r)
    report(
        {
            "scenario": f"poison_pill_{kind}",
            "poison": len(poison),
            "runs": starts,
            "max_runs": max_runs,
            "normal_done": sum(1 for i in normal if counts.get(i)),
            "normal": len(normal),
            "bystanders_in_retry": bystanders,
        }
    )
    p.signal(signal.SIGTERM)
    assert p.wait(30) == 0


def test_late_ack_after_lease_expiry_is_refused(
    workers: Workers, redis_url: str, r: redis.Redis
) -> None:
    p = workers.start(
        redis_url,
        "--processes",
        "2",
        "--concurrency",
        "2",
        "--lease-duration",
        "2",
        "--child-timeout",
        "60",
    )
    wait_for(lambda: len(worker_pids(p)) == 2, timeout=15, what="2 workers")
    with Client(redis_url) as client:
        # retention keeps the completed record, so a second completion would show.
        slow = client.enqueue(Task("block_once", b'{"block": 60}'), retention=3600).id
    wait_for(lambda: r.hexists(BLOCKED, slow), timeout=10, what="the slow run to start")
    blocked_pid = int(r.hget(BLOCKED, slow) or 0)
    others = enqueue_recs(redis_url, 20, sleep=0.01)
    # The blocked process cannot extend its lease: the task is recovered and run by
    # the other process while the first one is still inside the handler.
    wait_for(lambda: done_counts(r).get(slow) == 1, timeout=20, what="the recovered run")
    wait_for(lambda: not missing(others, done_counts(r)), timeout=20, what="other tasks")
    # Released only now: ended before the recoverer took its task (a loaded machine),
    # the slow run would still hold the lease and be acknowledged.
    r.sadd(RELEASED, slow)
    # The slow run finishes too (at-least-once), but its acknowledgement is refused.
    wait_for(lambda: done_counts(r).get(slow) == 2, timeout=20, what="the slow run's end")
    wait_for(lambda: "lease lost" in p.log(), timeout=10, what="the refusal in the log")
    time.sleep(1.0)  # room for a wrong second acknowledgement to land
    assert r.zrange(keys.completed_key("default"), 0, -1) == [slow.encode()]
    assert int(r.get(keys.processed_total_key("default")) or 0) == 1 + len(others)
    assert int(r.get(keys.failed_total_key("default")) or 0) == 0
    assert r.hget(keys.task_key("default", slow), "state") == b"completed"
    assert r.llen(keys.active_key("default")) == 0 and r.zcard(keys.lease_key("default")) == 0
    assert blocked_pid in worker_pids(p)  # the slow process was not killed for it
    p.signal(signal.SIGTERM)
    assert p.wait(30) == 0


def test_sigterm_mid_drain_loses_and_duplicates_nothing(
    workers: Workers, redis_url: str, r: redis.Redis
) -> None:
    quick = enqueue_recs(redis_url, scale(600, 5000), sleep=0.03)
    slow = enqueue_recs(redis_url, 8, sleep=30.0)  # cannot finish within the timeout
    p = workers.start(
        redis_url,
        "--processes",
        "2",
        "--concurrency",
        "10",
        "--shutdown-timeout",
        "2",
        "--lease-duration",
        "10",
    )
    wait_for(
        lambda: len(done_counts(r)) >= len(quick) // 3, timeout=60, what="a third done", every=0.02
    )
    p.signal(signal.SIGTERM)
    assert p.wait(30) == 0
    counts = done_counts(r)
    pending = set(members(r, keys.pending_key("default")))
    everything = set(quick) | set(slow)
    assert max(counts.values()) == 1  # 0 duplicated
    assert not set(counts) & pending  # a finished task is not also back in pending
    assert set(counts) | pending == everything  # 0 lost: finished or pending, nothing else
    assert r.llen(keys.active_key("default")) == 0 and r.zcard(keys.lease_key("default")) == 0
    assert r.zcard(keys.retry_key("default")) == 0  # no retry burned by the stop
    assert set(slow) <= pending
    report(
        {
            "scenario": "sigterm_mid_drain",
            "tasks": len(everything),
            "finished": len(counts),
            "back_in_pending": len(pending),
            "lost": 0,
            "duplicates": 0,
        }
    )
