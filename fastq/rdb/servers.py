"""Redis calls of the supervisor: its server heartbeat keys and their cleanup.

The ServerInfo write itself is the engine's ``write_server_info`` call (shared with
a standalone worker process); this module adds what only a supervisor does. The
keys are named by ``(host, pid, server id)``, as ``fastq.keys`` builds them.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastq import keys
from fastq.rdb.conn import Call, SyncConn, translate_errors
from fastq.rdb.worker import index_member_call

ServerName = tuple[str, int, str]  # host, pid, server id


def clear_server_state_calls(name: ServerName) -> list[Call]:
    """Drop the server from the global indexes, then its own keys (run with call_many)."""
    server, workers = keys.server_info_key(*name), keys.workers_key(*name)
    return [
        index_member_call(keys.ALL_SERVERS, server, None),
        index_member_call(keys.ALL_WORKERS, workers, None),
        Call("clear_server_state", [server, workers, keys.worker_pids_key(*name)], []),
    ]


def forget_worker_process_call(name: ServerName, pid: int) -> Call:
    """Remove the WorkerInfo entries that worker process ``pid`` wrote."""
    return Call(
        "forget_worker_process", [keys.workers_key(*name), keys.worker_pids_key(*name)], [pid]
    )


def worker_infos(conn: SyncConn, name: ServerName) -> dict[str, bytes]:
    """Task id -> encoded WorkerInfo, as stored in this server's workers hash."""
    with translate_errors(conn.target):
        raw = conn.redis.hgetall(keys.workers_key(*name))
    out: dict[str, bytes] = {}
    for k, v in raw.items():
        task_id = k.decode() if isinstance(k, bytes) else str(k)
        out[task_id] = v if isinstance(v, bytes) else str(v).encode()
    return out


def task_states(conn: SyncConn, tasks: Sequence[tuple[str, str]]) -> list[str | None]:
    """The ``state`` field of each (queue, task id); None for a task that is gone."""
    if not tasks:
        return []
    with translate_errors(conn.target):
        pipe = conn.redis.pipeline(transaction=False)
        for queue, task_id in tasks:
            pipe.hget(keys.task_key(queue, task_id), "state")
        got = pipe.execute()
    return [s.decode() if isinstance(s, bytes) else s for s in got]


def prune_worker_infos_call(name: ServerName, stale: Sequence[tuple[str, bytes]]) -> Call:
    """Remove each (task id, value) pair still holding exactly that value."""
    args: list[str | bytes] = []
    for task_id, value in stale:
        args += [task_id, value]
    return Call("prune_worker_infos", [keys.workers_key(*name)], args)
