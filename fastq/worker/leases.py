"""The leases a worker process holds: extended in batches, lost ones never acknowledged.

Clock skew: a lease is extended once less than half of it is left, checked every
``check_interval`` seconds, so a live lease always has at least
``min_remaining`` seconds to run by its holder's clock. The recoverer takes a task
only ``skew_allowance`` seconds after its lease ended by its own clock, so a
recoverer whose clock runs ahead of a worker's by less than ``skew_tolerance``
never takes a live task (``python3 -m fastq.worker.leases`` prints the defaults).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastq._core import LeaseTable
from fastq.config import DEFAULT_LEASE_DURATION
from fastq.rdb import worker as rdb
from fastq.rdb.conn import Call
from fastq.worker.settings import DEFAULT_SKEW_ALLOWANCE

EXTEND_WHEN_LEFT = 0.5  # fraction of the lease left when it is extended
LEASE_CHECK_EVERY = 1.0  # seconds between scans for leases due (at most)
SCORE_ROUNDING = 1.0  # lease scores are whole seconds: an expiry is up to 1 s early


def check_interval(duration: float) -> float:
    """Seconds between two scans for leases due for extension."""
    return min(LEASE_CHECK_EVERY, duration / 4)


def min_remaining(duration: float) -> float:
    """Least time a live lease has left by its holder's clock (Redis answering)."""
    return duration * EXTEND_WHEN_LEFT - check_interval(duration) - SCORE_ROUNDING


def skew_tolerance(duration: float, skew_allowance: float) -> float:
    """How far a recoverer's clock may run ahead of a worker's before it could take
    one of that worker's live tasks: the allowance plus the least time left."""
    return skew_allowance + min_remaining(duration)


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
        self.extending: dict[str, int] = {}  # task id -> expiry of an extension in flight
        self.previous: dict[str, int] = {}  # task id -> its score before the last extension

    def new_expiry(self, now: float) -> int:
        return int(now + self.duration)

    def add(self, task_id: str, queue: str, expiry: int) -> None:
        self.table.add(task_id, queue, float(expiry))
        self.lost.discard(task_id)
        self.extending.pop(task_id, None)
        self.previous.pop(task_id, None)

    def score(self, task_id: str) -> int | None:
        d = self.table.deadline(task_id)
        return None if d is None else int(d)

    def remove(self, task_id: str) -> None:
        self.table.remove(task_id)
        self.lost.discard(task_id)
        self.extending.pop(task_id, None)
        self.previous.pop(task_id, None)

    def renewed(self, task_id: str, lease: int) -> int:
        """``lease`` as Redis holds it now: the score of the extension that replaced it
        since (an outcome recorded while that extension's reply was on its way), else
        ``lease`` itself. A lease of an earlier fetch of the task never maps to a new
        fetch's lease: ``add`` starts a new chain."""
        if self.previous.get(task_id) == lease:
            current = self.score(task_id)
            if current is not None:
                return current
        return lease

    def scores_in_redis(self, task_id: str) -> list[int]:
        """The scores Redis may hold for this worker's lease right now: an extension in
        flight and the current one (safe from a handler's thread: the pending one is
        read first, and it is cleared only after the table has the new score)."""
        pending = self.extending.get(task_id)
        current = self.score(task_id)
        if task_id in self.lost:
            return []
        return [s for s in (pending, current) if s is not None]

    def release(self, task_id: str, lease: int) -> None:
        """Forget the task's lease if it is still ``lease`` (an acknowledgement was
        answered); a newer lease of the same task, fetched again meanwhile, stays."""
        if self.score(task_id) == lease:
            self.remove(task_id)

    def held(self, task_id: str) -> int | None:
        """The lease score to acknowledge with, None if the lease is known lost.

        A lease past its expiry by this host's clock is still offered: the
        recoverer waits ``skew_allowance`` past expiry before it takes a task, and
        the acknowledgement scripts refuse a lease Redis no longer holds.
        """
        d = self.table.deadline(task_id)
        if d is None or task_id in self.lost:
            return None
        return int(d)

    def extension_calls(self, now: float) -> tuple[list[Call], list[tuple[str, int]]]:
        """Calls extending every lease that ends within half a lease duration."""
        calls: list[Call] = []
        meta: list[tuple[str, int]] = []
        due = self.table.due_for_extension(now, self.duration * EXTEND_WHEN_LEFT)
        expiry = self.new_expiry(now)
        for queue, ids in due.items():
            held = [(i, int(self.table.deadline(i) or 0)) for i in ids if i not in self.lost]
            if held:
                calls.append(rdb.extend_lease_call(queue, held, expiry))
                meta.append((queue, expiry))
                for task_id, _ in held:
                    self.extending[task_id] = expiry
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
                if i not in lost:
                    self.previous[i] = sent[i]
            for i in sent:  # after the table has the new score (see scores_in_redis)
                if self.extending.get(i) == expiry:
                    del self.extending[i]
            for i in current:
                if i in lost:
                    self.lost.add(i)
                    lost_now.append(i)
        return lost_now


def main() -> None:
    """Print the clock skew the default settings tolerate."""
    d, a = float(DEFAULT_LEASE_DURATION), DEFAULT_SKEW_ALLOWANCE
    print(
        f"lease {d:g} s, extended with {d * EXTEND_WHEN_LEFT:g} s left (checked every "
        f"{check_interval(d):g} s): a live lease has >= {min_remaining(d):g} s left; "
        f"skew allowance {a:g} s: clocks may differ by up to {skew_tolerance(d, a):g} s"
    )


if __name__ == "__main__":
    main()
