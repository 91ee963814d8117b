"""Celery: Redis broker, one `celery worker` with the prefork pool of 2 processes."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery, group

from common import PROCESSES, QUEUES, Job, Peer, WorkerSpec, redis_url, run_sync, venv_bin

app = Celery("bench", broker=redis_url())
app.conf.update(
    task_ignore_result=True,
    task_default_queue="default",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="noop")
def noop(seq: int, sent_at: float | None = None) -> None:
    run_sync("noop", seq, sent_at)


@app.task(name="sleep")
def sleep(seq: int, sent_at: float | None = None) -> None:
    run_sync("sleep", seq, sent_at)


@app.task(name="rtt")
def rtt(seq: int, sent_at: float | None = None) -> None:
    run_sync("rtt", seq, sent_at)


TASKS = {"noop": noop, "sleep": sleep, "rtt": rtt}


class CeleryPeer(Peer):
    name = "celery"
    packages = ("celery", "kombu")
    has_bulk = True
    has_queues = True
    queue_note = "round robin over -Q queues (no weights)"
    setup_note = "`celery worker --pool prefork -c 2` (I/O workload too: prefork has no threads)"

    def enqueue(self, jobs: Sequence[Job]) -> None:
        for j in jobs:
            TASKS[j.kind].apply_async((j.seq, j.sent_at()), queue=j.queue)

    def enqueue_bulk(self, jobs: Sequence[Job]) -> None:
        group(TASKS[j.kind].s(j.seq, None).set(queue=j.queue) for j in jobs).apply_async()

    def worker_commands(self, url: str, spec: WorkerSpec) -> list[list[str]]:
        queues = ",".join(q for q in QUEUES if q in spec.queues)
        return [
            [
                venv_bin("celery"),
                "-A",
                "celery_peer",
                "worker",
                "--pool",
                "prefork",
                "-c",
                str(PROCESSES),
                "-Q",
                queues,
                "-l",
                "WARNING",
            ]
        ]


PEER = CeleryPeer()
