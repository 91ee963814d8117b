"""Group aggregation: merge the tasks of a group into one task, as Asynq's aggregator.

A task enqueued with ``group=`` waits in ``asynq:{q}:g:<group>``. Each pass checks
every group of every queue with Asynq's rules (``aggregation_check.lua``): when the
group holds ``max_size`` tasks, when its oldest task has waited ``max_delay``, or
when no task joined for ``grace_period``, its tasks move to an aggregation set with
a deadline two minutes out. The app's aggregator turns them into one task, and
``aggregation_commit.lua`` enqueues that task and deletes the set and its members in
one step: the set is aggregated once or not at all.

A set whose deadline passed (its aggregator died or overran) is put back into its
group (``aggregation_reclaim.lua``) and aggregated again later; a commit that comes
after the reclaim is refused, so no set is aggregated twice. Go servers run the same
check and reclaim on the same keys, so a mixed fleet shares the work.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence

import structlog

from fastq._core import TaskMessage
from fastq.app import GroupAggregator, IncomingTask
from fastq.config import DEFAULT_MAX_PAYLOAD_BYTES
from fastq.errors import DecodeError, FastqError
from fastq.rdb import groups as rdb
from fastq.rdb.conn import SyncConn
from fastq.rdb.enqueue import DEFAULT_WAKE_TOKENS
from fastq.task import Task, TaskState, prepare

log = structlog.get_logger("fastq.aggregator")

CHECK_INTERVAL = 7.0  # Asynq's defaultAggregationCheckInterval (or the grace period)


class Aggregator:
    """Checks, aggregates and reclaims the groups of ``queues``.

    Args:
        conn: the Redis connection (the maintenance loop's).
        queues: the queues whose groups are aggregated.
        aggregate: ``f(group, tasks) -> Task`` (the app's group aggregator).
        grace_period: seconds without a new task before a group is aggregated.
        max_delay: seconds the oldest task may wait (0: no limit).
        max_size: tasks that trigger aggregation at once (0: no limit).
        clock: unix time source.
    """

    def __init__(
        self,
        conn: SyncConn,
        queues: Sequence[str],
        aggregate: GroupAggregator,
        *,
        grace_period: float = 60.0,
        max_delay: float = 0.0,
        max_size: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conn = conn
        self.queues = list(queues)
        self.aggregate = aggregate
        self.grace_period = grace_period
        self.max_delay = max_delay
        self.max_size = max_size
        self.clock = clock
        self.interval = min(CHECK_INTERVAL, grace_period)
        self._next_check = 0.0

    def maybe_run(self, now: float | None = None) -> int:
        """Run a pass when the check interval has passed; returns tasks enqueued."""
        now = self.clock() if now is None else now
        if now < self._next_check:
            return 0
        self._next_check = now + self.interval
        return self.run_once(now)

    def run_once(self, now: float | None = None) -> int:
        """Reclaim stale sets, then check and aggregate every group once."""
        now = self.clock() if now is None else now
        self.reclaim(now)
        made = 0
        for queue, names in rdb.list_groups(self.conn, self.queues).items():
            for group in names:
                made += self._check(queue, group, now)
        return made

    def reclaim(self, now: float) -> int:
        """Put the tasks of sets past their deadline back in their groups."""
        stale = rdb.stale_sets(self.conn, self.queues, int(now))
        calls = [rdb.reclaim_call(q, group, set_id, int(now)) for q, group, set_id in stale]
        back = 0
        for reply in self.conn.call_many(calls) if calls else []:
            if isinstance(reply, BaseException):
                log.error("reclaiming an aggregation set failed", error=str(reply))
            elif int(reply) > 0:
                back += int(reply)
        if back:
            log.warning("reclaimed tasks of stale aggregation sets", tasks=back)
        return back

    def _check(self, queue: str, group: str, now: float) -> int:
        set_id = str(uuid.uuid4())
        call = rdb.check_call(
            queue,
            group,
            set_id,
            now=int(now),
            grace_period=int(self.grace_period),
            max_delay=int(self.max_delay),
            max_size=self.max_size,
        )
        if int(self.conn.call(call)) != 1:
            return 0
        return self.aggregate_set(queue, group, set_id)

    def aggregate_set(self, queue: str, group: str, set_id: str) -> int:
        """Aggregate one set that this process created; 1 if the task was enqueued.

        On any failure the set is left alone: it is reclaimed at its deadline."""
        members = rdb.read_set(self.conn, queue, group, set_id)
        if members is None:
            return 0
        tasks = []
        for m in members:
            if m.msg is None:
                log.warning("aggregation set member has no hash", queue=queue, task_id=m.task_id)
                continue
            try:
                tasks.append(IncomingTask(TaskMessage.decode(m.msg)))
            except DecodeError as exc:
                log.warning(
                    "skipping an undecodable group member", task_id=m.task_id, error=str(exc)
                )
        log_ctx = {"queue": queue, "group": group, "set_id": set_id}
        try:
            task = self.aggregate(group, tasks)
            if not isinstance(task, Task):
                raise TypeError(f"the group aggregator returned {type(task).__name__}, not a Task")
            p = prepare(task, {"queue": queue}, time.time_ns(), DEFAULT_MAX_PAYLOAD_BYTES)
            if p.state not in (TaskState.PENDING, TaskState.SCHEDULED) or p.unique_ttl:
                raise ValueError("an aggregated task cannot have a group or be unique")
        except Exception as exc:  # a bad aggregator must not end maintenance
            log.error(
                "group aggregator failed; the set is retried later", error=repr(exc), **log_ctx
            )
            return 0
        try:
            code = int(self.conn.call(rdb.commit_call(p, group, set_id, DEFAULT_WAKE_TOKENS)))
        except FastqError as exc:
            log.error("committing an aggregated task failed", error=str(exc), **log_ctx)
            return 0
        if code != rdb.COMMITTED:
            log.warning("aggregation set was reclaimed before its commit", code=code, **log_ctx)
            return 0
        log.info("aggregated a group", tasks=len(members), task_id=p.msg.id, **log_ctx)
        return 1


MaintenanceHook = Callable[[SyncConn, float], object]


def aggregation_hook(app: object, queues: Sequence[str]) -> MaintenanceHook | None:
    """The maintenance loop's aggregation step for ``app`` (None: the app has no
    group aggregator, so groups are left to whoever has one, as in Asynq)."""
    fn: GroupAggregator | None = getattr(app, "group_aggregator", None)
    if fn is None:
        return None
    grace, delay, size = getattr(app, "group_policy", (60.0, 0.0, 0))
    state: dict[str, Aggregator] = {}

    def step(conn: SyncConn, now: float) -> object:
        agg = state.get("agg")
        if agg is None or agg.conn is not conn:
            agg = state["agg"] = Aggregator(
                conn, queues, fn, grace_period=grace, max_delay=delay, max_size=size
            )
        return agg.maybe_run(now)

    return step
