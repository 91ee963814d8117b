"""An outcome recorded while an extension of its lease is on its way is acknowledged
with the extended lease, and leaves nothing behind in the lease table."""

from __future__ import annotations

import pytest

from fastq._core import TaskMessage
from fastq.app import App
from fastq.errors import SkipRetry
from fastq.rdb import worker as rdb
from fastq.worker.acker import Acker
from fastq.worker.executor import Running
from fastq.worker.leases import Leases
from fastq.worker.settings import WorkerSettings

T0 = 1_000_000.0


def _setup() -> tuple[Leases, Acker, Running]:
    leases = Leases(30.0)
    acker = Acker(App(), WorkerSettings(), leases, clock=lambda: T0 + 16)
    msg = TaskMessage(type="t", id="t1", queue="q", retry=3)
    leases.add("t1", "q", int(T0 + 30))
    return leases, acker, Running(msg, "q", T0, T0 + 1800)


@pytest.mark.parametrize("outcome", ["success", "retry", "archive"])
def test_outcome_recorded_during_an_extension_acks_with_the_new_lease(outcome: str) -> None:
    leases, acker, run = _setup()
    ext_calls, ext_meta = leases.extension_calls(T0 + 16)  # sent in a flush
    if outcome == "success":  # the task ends while that flush waits for its replies
        acker.success(run)
    else:
        acker.failure(run, SkipRetry("x") if outcome == "archive" else ValueError("x"))
    leases.apply_extension(ext_calls, ext_meta, [[]])  # Redis moved the lease to T0 + 46
    calls, meta = acker.build()  # the next flush
    [call] = calls
    position = {"success": 2, "retry": 5, "archive": 6}[outcome]  # see rdb.worker
    held = call.args[position]
    assert held == int(T0 + 46)
    reply = [rdb.Ack.ACKED] if outcome == "success" else rdb.Ack.ACKED
    assert acker.apply(meta, [reply]) == 1
    assert leases.score("t1") is None  # nothing left to extend forever


def test_a_new_fetch_of_the_task_is_not_acknowledged_by_the_old_outcome() -> None:
    leases, acker, run = _setup()
    acker.success(run)
    leases.add("t1", "q", int(T0 + 99))  # recovered and fetched again meanwhile
    [call], _ = acker.build()
    assert call.args[2] == int(T0 + 30)  # its own lease: Redis will refuse it
