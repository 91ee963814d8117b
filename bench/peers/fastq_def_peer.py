"""fastq with ``def`` handlers (run in the worker's thread pool), for the real-work rows.

The same worker command as ``fastq_peer``; ``BENCH_FASTQ_HANDLERS=sync`` makes the
worker register the ``def`` versions of the handlers.
"""

from __future__ import annotations

from fastq_peer import FastqPeer

from common import WorkerSpec


class FastqDefPeer(FastqPeer):
    name = "fastq-def"
    only = ("rtt", "io", "io1k")  # the rest (enqueue, no-op drain) is fastq's row
    setup_note = "as fastq, with `def` handlers in the worker's thread pool"

    def worker_commands(self, url: str, spec: WorkerSpec) -> list[list[str]]:
        commands = super().worker_commands(url, spec)
        self._env = {**self._env, "BENCH_FASTQ_HANDLERS": "sync"}
        return commands


PEER = FastqDefPeer()
