"""The leases a worker process holds: extended in batches, lost ones never acknowledged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastq._core import LeaseTable
from fastq.rdb import worker as rdb
from fastq.rdb.conn import Call


class Leases:
    """Tracks task id -> (queue, lease score) and builds the batched extension calls.

    Scores are whole unix seconds, as Asynq writes them; the acknowledgement
    scripts compare them to prove this worker still holds a task.

    Args:
        duration: seconds a lease lasts.
    """

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.table = LeaseTable()
        self.lost: set[str] = set()

    def new_expiry(self, now: float) -> int:
        return int(now + self.duration)

    def add(self, task_id: str, queue: str, expiry: int) -> None:
        self.table.add(task_id, queue, float(expiry))
        self.lost.discard(task_id)

    def score(self, task_id: str) -> int | None:
        d = self.table.deadline(task_id)
        return None if d is None else int(d)

    def remove(self, task_id: str) -> None:
        self.table.remove(task_id)
        self.lost.discard(task_id)

    def release(self, task_id: str, lease: int) -> None:
        """Forget the task's lease if it is still ``lease`` (an acknowledgement was
        answered); a newer lease of the same task, fetched again meanwhile, stays."""
        if self.score(task_id) == lease:
            self.remove(task_id)

    def held(self, task_id: str, now: float) -> int | None:
        """The lease score if this worker still holds the task's lease, else None."""
        d = self.table.deadline(task_id)
        if d is None or d <= now or task_id in self.lost:
            return None
        return int(d)

    def extension_calls(self, now: float) -> tuple[list[Call], list[tuple[str, int]]]:
        """Calls extending every lease that ends within half a lease duration."""
        calls: list[Call] = []
        meta: list[tuple[str, int]] = []
        due = self.table.due_for_extension(now, self.duration / 2)
        expiry = self.new_expiry(now)
        for queue, ids in due.items():
            held = [(i, int(self.table.deadline(i) or 0)) for i in ids if i not in self.lost]
            if held:
                calls.append(rdb.extend_lease_call(queue, held, expiry))
                meta.append((queue, expiry))
        return calls, meta

    def apply_extension(
        self, calls: Sequence[Call], meta: Sequence[tuple[str, int]], replies: Sequence[Any]
    ) -> list[str]:
        """Record extension results; returns the ids whose lease turned out lost."""
        lost_now: list[str] = []
        for call, (_, expiry), reply in zip(calls, meta, replies, strict=True):
            if isinstance(reply, BaseException):
                continue  # retried on the next tick, well before expiry
            lost = set(rdb.parse_ids(reply))
            sent = {str(i): int(s) for i, s in zip(call.args[1::2], call.args[2::2], strict=True)}
            # Only leases still as sent: a task fetched again meanwhile has a new one.
            current = [i for i, s in sent.items() if self.score(i) == s]
            self.table.extend([i for i in current if i not in lost], float(expiry))
            for i in current:
                if i in lost:
                    self.lost.add(i)
                    lost_now.append(i)
        return lost_now
