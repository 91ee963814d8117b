"""Dramatiq: Redis broker, `dramatiq --processes 2 --threads N`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from common import (
    IO_CONCURRENCY,
    PROCESSES,
    QUEUES,
    Job,
    Peer,
    WorkerSpec,
    redis_url,
    run_sync,
    venv_bin,
)

broker = RedisBroker(url=redis_url())
dramatiq.set_broker(broker)


def _noop(seq: int, sent_at: float | None = None) -> None:
    run_sync("noop", seq, sent_at)


def _sleep(seq: int, sent_at: float | None = None) -> None:
    run_sync("sleep", seq, sent_at)


def _rtt(seq: int, sent_at: float | None = None) -> None:
    run_sync("rtt", seq, sent_at)


# An actor belongs to one queue; priority (lower runs first) orders work inside a worker.
ACTORS: dict[tuple[str, str], Any] = {}
for _rank, _q in enumerate(QUEUES):
    for _kind, _fn in (("noop", _noop), ("sleep", _sleep), ("rtt", _rtt)):
        ACTORS[(_kind, _q)] = dramatiq.actor(
            _fn, actor_name=f"{_kind}_{_q}", queue_name=_q, priority=_rank * 10
        )


class DramatiqPeer(Peer):
    name = "dramatiq"
    packages = ("dramatiq",)
    has_bulk = True
    has_queues = True
    queue_note = "all queues consumed; actor priority orders prefetched work (no weights)"
    setup_note = "`dramatiq --processes 2 --threads 8` (50 threads for I/O)"

    def enqueue(self, jobs: Sequence[Job]) -> None:
        for j in jobs:
            ACTORS[(j.kind, j.queue)].send(j.seq, j.sent_at())

    def enqueue_bulk(self, jobs: Sequence[Job]) -> None:
        # group().run() is Dramatiq's many-at-once call (it still sends one by one).
        dramatiq.group(ACTORS[(j.kind, j.queue)].message(j.seq, None) for j in jobs).run()

    def worker_commands(self, url: str, spec: WorkerSpec) -> list[list[str]]:
        threads = spec.io_concurrency if spec.io else 8
        return [
            [
                venv_bin("dramatiq"),
                "dramatiq_peer",
                "--processes",
                str(PROCESSES),
                "--threads",
                str(threads),
                "--queues",
                *[q for q in QUEUES if q in spec.queues],
            ]
        ]


PEER = DramatiqPeer()
