"""The supervisor's Asynq-visible state: ServerInfo for the whole server, and the
cleanup of WorkerInfo entries that a killed worker process could not remove."""

from __future__ import annotations

import time

import structlog

from fastq._core import ServerInfo, WorkerInfo
from fastq.config import RedisConfig
from fastq.errors import DecodeError
from fastq.rdb import servers as rdb
from fastq.rdb.conn import SyncConn, check_replies
from fastq.worker.heartbeat import worker_ttl, write_server_info
from fastq.worker.settings import WorkerSettings

log = structlog.stdlib.get_logger("fastq.supervisor.serverstate")

# The supervisor's own calls must not stall its loop for long when Redis is down.
SUPERVISOR_SOCKET_TIMEOUT = 2.0
SUPERVISOR_CONNECT_TIMEOUT = 1.0


class RedisServerState:
    """Writes ServerInfo (total concurrency, queues, status, busy count) every beat.

    Args:
        settings: the children's settings (identity, queues, concurrency, Redis).
        started: unix time the server started (ServerInfo.start_time).
    """

    def __init__(self, settings: WorkerSettings, *, started: float | None = None) -> None:
        config = RedisConfig.from_url(
            settings.redis.url,
            socket_timeout=SUPERVISOR_SOCKET_TIMEOUT,
            connect_timeout=SUPERVISOR_CONNECT_TIMEOUT,
        )
        self.conn = SyncConn(config)
        ident = settings.identity
        self.name: rdb.ServerName = (ident.host, ident.pid, ident.server_id)
        self.started = time.time() if started is None else started

    def beat(self, settings: WorkerSettings, *, processes: int, status: str, active: int) -> None:
        ident = settings.identity
        info = ServerInfo(
            host=ident.host,
            pid=ident.pid,
            server_id=ident.server_id,
            concurrency=processes * settings.concurrency,
            queues=settings.queues,
            strict_priority=settings.strict_priority,
            status=status,
            start_time=(int(self.started), int(self.started % 1 * 1e9)),
            active_worker_count=active,
        )
        write_server_info(self.conn, ident, info, worker_ttl(settings.heartbeat_interval))

    def prune(self) -> None:
        entries = rdb.worker_infos(self.conn, self.name)
        if not entries:
            return
        tasks: list[tuple[str, str]] = []
        values: list[bytes] = []
        for task_id, value in entries.items():
            try:
                queue = WorkerInfo.decode(value).queue
            except DecodeError:
                queue = ""
            tasks.append((queue, task_id))
            values.append(value)
        states = rdb.task_states(self.conn, tasks)
        stale = [(t[1], v) for t, v, s in zip(tasks, values, states, strict=True) if s != "active"]
        if stale:
            removed = self.conn.call(rdb.prune_worker_infos_call(self.name, stale))
            if removed:
                log.info("removed worker info left by a dead worker process", count=int(removed))

    def forget_process(self, pid: int) -> None:
        removed = self.conn.call(rdb.forget_worker_process_call(self.name, pid))
        if removed:
            log.info("removed worker info of a dead worker process", child_pid=pid, count=removed)

    def clear(self) -> None:
        check_replies(self.conn.call_many(rdb.clear_server_state_calls(self.name)))
        self.conn.close()
