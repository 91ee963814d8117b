"""RQ: two `rq worker` processes (the default forking worker: a work horse per job)."""

from __future__ import annotations

from collections.abc import Sequence

import redis
import rq

from common import PROCESSES, QUEUES, Job, Peer, WorkerSpec, run_sync, venv_bin


def noop(seq: int, sent_at: float | None = None) -> None:
    run_sync("noop", seq, sent_at)


def sleep(seq: int, sent_at: float | None = None) -> None:
    run_sync("sleep", seq, sent_at)


def rtt(seq: int, sent_at: float | None = None) -> None:
    run_sync("rtt", seq, sent_at)


FUNCS = {"noop": noop, "sleep": sleep, "rtt": rtt}


class RQPeer(Peer):
    name = "rq"
    packages = ("rq",)
    has_bulk = True
    has_queues = True
    queue_note = "strict order (no weights)"
    setup_note = "2 x `rq worker` (forks a work horse per job)"

    def worker_env(self) -> dict[str, str]:
        # The work horse exits right after its job: count each task as it ends.
        return {"BENCH_RECORD_IMMEDIATE": "1"}

    def open(self, url: str) -> None:
        self.conn = redis.Redis.from_url(url)
        self.queues = {q: rq.Queue(q, connection=self.conn) for q in QUEUES}

    def close(self) -> None:
        self.conn.close()

    def enqueue(self, jobs: Sequence[Job]) -> None:
        for j in jobs:
            self.queues[j.queue].enqueue(FUNCS[j.kind], j.seq, j.sent_at())

    def enqueue_bulk(self, jobs: Sequence[Job]) -> None:
        by_queue: dict[str, list[Job]] = {}
        for j in jobs:
            by_queue.setdefault(j.queue, []).append(j)
        for q, group in by_queue.items():
            self.queues[q].enqueue_many(
                [rq.Queue.prepare_data(FUNCS[j.kind], args=(j.seq, None)) for j in group]
            )

    def worker_commands(self, url: str, spec: WorkerSpec) -> list[list[str]]:
        # A worker listens to its queues in the order given: strict priority.
        order = [q for q in QUEUES if q in spec.queues]
        cmd = [venv_bin("rq"), "worker", "-q", "-u", url, *order]
        return [cmd] * PROCESSES


PEER = RQPeer()
