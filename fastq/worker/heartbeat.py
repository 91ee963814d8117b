"""Asynq-visible liveness: the workers hash each process keeps, the server key.

Worker processes write one ``WorkerInfo`` per running task into
``asynq:workers:{host:pid:server_id}`` (the identity is the supervisor's, so all
children of one server share the hash), in batches every heartbeat interval:
tasks that started (HSET), tasks that finished (HDEL), and a fresh EXPIRE. A task
shorter than the interval is never written. Next to it, ``fastq:workers:{...}:pids``
names the process of each entry, so the supervisor removes a dead child's entries
when it reaps the child. ``write_server_info`` writes what
Asynq's heartbeater writes for the server itself.
"""

from __future__ import annotations

import math
import os
import time
from typing import Protocol

from fastq import keys
from fastq._core import ServerInfo, TaskMessage, WorkerInfo
from fastq.rdb import worker as rdb
from fastq.rdb.conn import Call, SyncConn, check_replies
from fastq.worker.settings import ServerIdentity


def worker_ttl(heartbeat_interval: float) -> int:
    """Seconds the heartbeat keys live: a few missed beats, at least Asynq's 10 s."""
    return max(10, math.ceil(heartbeat_interval * 3))


def _ts(t: float) -> tuple[int, int]:
    sec = math.floor(t)
    return sec, int((t - sec) * 1e9)


class _Running(Protocol):
    msg: TaskMessage
    started: float
    deadline: float


class WorkerInfoSync:
    """Collects started/finished tasks between heartbeats and builds one sync call.

    Args:
        identity: the server's identity (names the shared workers hash).
        ttl: seconds the hash lives without a sync.
        pid: this worker process (default: the calling process).
    """

    def __init__(self, identity: ServerIdentity, ttl: int, pid: int | None = None) -> None:
        self.identity = identity
        self.key = keys.workers_key(identity.host, identity.pid, identity.server_id)
        self.pids_key = keys.worker_pids_key(identity.host, identity.pid, identity.server_id)
        self.pid = os.getpid() if pid is None else pid
        self.ttl = ttl
        self._unsynced: dict[str, _Running] = {}
        self._synced: set[str] = set()
        self._finished: list[str] = []

    def started(self, task_id: str, running: _Running) -> None:
        self._unsynced[task_id] = running

    def finished(self, task_id: str) -> None:
        if self._unsynced.pop(task_id, None) is None and task_id in self._synced:
            self._synced.discard(task_id)
            self._finished.append(task_id)

    def call(self) -> Call:
        ident = self.identity
        started: list[tuple[str, bytes]] = []
        for task_id, r in self._unsynced.items():
            m = r.msg
            info = WorkerInfo(
                host=ident.host,
                pid=ident.pid,
                server_id=ident.server_id,
                task_id=task_id,
                task_type=m.type,
                task_payload=m.payload,
                queue=m.queue,
                start_time=_ts(r.started),
                deadline=_ts(r.deadline),
            )
            started.append((task_id, info.encode()))
            self._synced.add(task_id)
        self._unsynced.clear()
        finished, self._finished = self._finished, []
        return rdb.worker_info_sync_call(
            self.key, self.pids_key, self.pid, started, finished, self.ttl
        )


def server_info_calls(
    identity: ServerIdentity, info: ServerInfo, ttl: int, now: float
) -> list[Call]:
    return rdb.write_server_info_call(
        keys.server_info_key(identity.host, identity.pid, identity.server_id),
        keys.workers_key(identity.host, identity.pid, identity.server_id),
        info.encode(),
        ttl,
        now,
    )


def write_server_info(
    conn: SyncConn, identity: ServerIdentity, info: ServerInfo, worker_ttl: int
) -> None:
    """Write the server heartbeat as Asynq does: SETEX the server key, ZADD it to
    ``asynq:servers`` and the workers hash to ``asynq:workers`` with their expiry.

    Args:
        conn: a connection of the calling process.
        identity: host, pid and server id naming the keys.
        info: the ServerInfo to store (concurrency, queues, status, start time...).
        worker_ttl: seconds both keys live without a new heartbeat.
    """
    calls = server_info_calls(identity, info, worker_ttl, time.time())
    check_replies(conn.call_many(calls), conn.target)
