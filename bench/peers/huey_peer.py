"""Huey: RedisHuey, `huey_consumer -w 2 -k process`."""

from __future__ import annotations

from collections.abc import Sequence

from huey import RedisHuey

from common import PROCESSES, Job, Peer, WorkerSpec, redis_url, run_sync, venv_bin

huey = RedisHuey("bench", url=redis_url())


@huey.task()
def noop(seq: int, sent_at: float | None = None) -> None:
    run_sync("noop", seq, sent_at)


@huey.task()
def sleep(seq: int, sent_at: float | None = None) -> None:
    run_sync("sleep", seq, sent_at)


@huey.task()
def rtt(seq: int, sent_at: float | None = None) -> None:
    run_sync("rtt", seq, sent_at)


TASKS = {"noop": noop, "sleep": sleep, "rtt": rtt}


class HueyPeer(Peer):
    name = "huey"
    packages = ("huey",)
    setup_note = "`huey_consumer -w 2 -k process` (I/O workload too)"

    def enqueue(self, jobs: Sequence[Job]) -> None:
        for j in jobs:
            TASKS[j.kind](j.seq, j.sent_at())

    def worker_commands(self, url: str, spec: WorkerSpec) -> list[list[str]]:
        return [
            [
                venv_bin("huey_consumer"),
                "huey_peer.huey",
                "-w",
                str(PROCESSES),
                "-k",
                "process",
                "-q",
            ]
        ]


PEER = HueyPeer()
