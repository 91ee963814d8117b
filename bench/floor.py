"""The machine's floor for a sequential producer, measured by the bench itself.

A producer that sends one request and waits for its reply before the next can go
no faster than the round trip: the system calls on both sides, the wake-ups of
both processes, and Redis running the command. ``sequential_floor`` measures that
with no client library at all: a blocking socket with TCP_NODELAY, requests
packed ahead, each sent only after the previous reply was read. Two requests:

- ``PING``: the bare round trip;
- an ``EVALSHA`` of Go Asynq's own enqueue script (``GO_ENQUEUE``), with fresh task
  keys: the least Redis work of one enqueue in Asynq's layout.

Go Asynq's quoted enqueue rates (report.GO_ASYNQ) were measured on a quieter
machine; printed beside fastq's rate in the same run, these say how much of the
round trip that is left is the client and how much the machine.
"""

from __future__ import annotations

import socket
import time
import uuid

import hiredis
import redis

from fastq import keys

# Go Asynq v0.26's enqueue script (rdb.enqueueCmd): the task hash and an LPUSH on the
# pending list, and nothing else.
# KEYS[1] -> asynq:{<qname>}:t:<taskid>, KEYS[2] -> asynq:{<qname>}:pending
# ARGV[1] -> task message data, ARGV[2] -> task ID, ARGV[3] -> current unix time in nsec
GO_ENQUEUE = """
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3])
redis.call("LPUSH", KEYS[2], ARGV[2])
return 1
"""

FLOOR_QUEUE = "bench-floor"  # no worker serves it; its keys are deleted afterwards
_MSG = b"x" * 110  # about an encoded TaskMessage of the bench's jobs


def _loop(sock: socket.socket, requests: list[bytes]) -> float:
    """Send each request after the previous reply (each reply fits one read); the rate."""
    buf = bytearray(4096)
    reader = hiredis.Reader()
    t0 = time.perf_counter()
    for req in requests:
        sock.sendall(req)
        reply = False
        while reply is False:
            n = sock.recv_into(buf)
            if not n:
                raise ConnectionError("Redis closed the connection")
            reader.feed(buf, 0, n)
            reply = reader.gets()
    return len(requests) / (time.perf_counter() - t0)


def sequential_floor(url: str, n: int = 2000) -> tuple[float, float]:
    """(PINGs/s, Go enqueue script calls/s): ``n`` sequential round trips of each on
    one raw connection to the Redis at ``url`` (plain TCP or unix socket, no AUTH)."""
    r = redis.Redis.from_url(url)
    kw = r.connection_pool.connection_kwargs
    sha = r.script_load(GO_ENQUEUE)
    if "path" in kw:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(kw["path"])
    else:
        sock = socket.create_connection((kw.get("host", "localhost"), kw.get("port", 6379)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pending = keys.pending_key(FLOOR_QUEUE)
    ids = [str(uuid.uuid4()) for _ in range(n)]
    task_keys = [keys.task_key(FLOOR_QUEUE, i) for i in ids]
    try:
        sock.sendall(hiredis.pack_command(("SELECT", kw.get("db", 0))))
        sock.recv(64)
        _loop(sock, [b"*1\r\n$4\r\nPING\r\n"] * 100)  # warm up
        ping = _loop(sock, [b"*1\r\n$4\r\nPING\r\n"] * n)
        now = time.time_ns()
        calls = [
            hiredis.pack_command(("EVALSHA", sha, 2, k, pending, _MSG, i, now))
            for k, i in zip(task_keys, ids, strict=True)
        ]
        go = _loop(sock, calls)
    finally:
        sock.close()
        for i in range(0, n, 1000):
            r.delete(*task_keys[i : i + 1000])
        r.delete(pending)
        r.close()
    return ping, go
