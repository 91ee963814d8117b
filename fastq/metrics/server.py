"""The supervisor's metrics port: ``/metrics`` (summed over the worker processes),
``/healthz`` and ``/readyz`` with JSON bodies.

A process that forks must not run other threads, so there is no server thread: the
listening socket joins the fds the supervisor loop already waits on, and each
request is answered on the loop (reading the small metric files takes a few
milliseconds). A request that does not arrive within ``REQUEST_TIMEOUT`` is dropped.
That also makes ``/healthz`` honest: it answers only while the loop runs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

import structlog

from fastq.metrics.multiproc import MultiprocDir

log = structlog.stdlib.get_logger("fastq.metrics")

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes
REQUEST_TIMEOUT = 0.5  # seconds a client gets to send its request and read the answer
BACKLOG = 16
MAX_HEAD = 16384  # bytes of request line and headers read
PER_PASS = 4  # requests answered per loop pass: a slow client delays the loop by at most 2 s
RESTART_CAUSES = ("crashed", "killed", "stuck", "memory", "recycled", "reload")


class ChildView(Protocol):
    """What the port reads of one child (``fastq.supervisor.children.Child``)."""

    @property
    def pid(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def is_maintenance(self) -> bool: ...
    @property
    def role(self) -> str: ...
    @property
    def hosts_maintenance(self) -> bool: ...
    @property
    def ready(self) -> bool: ...
    @property
    def serving(self) -> bool: ...
    @property
    def last_seen(self) -> float: ...
    @property
    def busy(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def replace_reason(self) -> str | None: ...
    @property
    def retiring_since(self) -> float | None: ...
    @property
    def aborted_at(self) -> float | None: ...
    @property
    def sent_kill(self) -> bool: ...


class SupervisorView(Protocol):
    """What the port reads of the supervisor."""

    @property
    def children(self) -> Mapping[int, ChildView]: ...
    @property
    def target(self) -> int: ...
    @property
    def stopping(self) -> str | None: ...
    @property
    def quiet(self) -> bool: ...
    @property
    def child_timeout(self) -> float: ...
    @property
    def redis_ok(self) -> bool: ...


def restart_cause(child: ChildView, code: int) -> str | None:
    """Why a child that exited gets replaced (None: it was meant to go, no restart)."""
    if child.aborted_at is not None:
        return "stuck"
    if child.replace_reason is not None:
        if child.replace_reason == "reload":
            return "reload"
        if child.replace_reason.startswith("memory"):
            return "memory"
        return "recycled"
    if child.retiring_since is not None:
        return None  # scaled down, quiet, or stopping
    if code == -signal.SIGKILL and not child.sent_kill:
        return "killed"  # the OOM killer, usually
    return "crashed"


class MetricsPort:
    """The HTTP port of one ``fastq-worker`` supervisor.

    Args:
        host: interface to bind.
        port: TCP port (0 picks a free one; see ``port``).
        mpdir: the multiprocess directory (created before the first fork).
    """

    def __init__(self, host: str, port: int, mpdir: MultiprocDir) -> None:
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        self.mpdir = mpdir
        self.restarts: dict[tuple[str, str], int] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(self.registry, mpdir.path)
        self._sup: SupervisorView | None = None
        self.head = b""  # the request being answered
        self.registry.register(_SupervisorCollector(self))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.set_inheritable(False)
        self.sock.bind((host, port))
        self.sock.listen(BACKLOG)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        log.info("serving worker metrics", url=f"http://{host}:{self.port}/metrics")

    def fds(self) -> list[int]:
        """The fds the supervisor loop waits on (and a forked child must close)."""
        return [self.sock.fileno()]

    def serve(self, readable: list[int], sup: SupervisorView) -> None:
        """Answer the requests waiting on the listening socket, if it is readable."""
        if self.sock.fileno() not in readable:
            return
        self._sup = sup
        for _ in range(PER_PASS):
            try:
                conn, addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            with conn:
                try:
                    self.head = _read_head(conn)
                    _Handler(conn, addr, self)  # type: ignore[arg-type]
                except OSError:
                    pass  # the client went away or was too slow

    def child_exited(self, child: ChildView, code: int) -> None:
        """Record a restart and fold the dead child's metric files."""
        cause = restart_cause(child, code)
        if cause is not None:
            key = (child.role, cause)
            self.restarts[key] = self.restarts.get(key, 0) + 1
        try:
            self.mpdir.child_dead(child.pid)
        except (OSError, ValueError) as exc:
            log.warning("could not fold a child's metrics", child_pid=child.pid, error=str(exc))

    def close(self) -> None:
        """Stop listening and remove the multiprocess directory."""
        self.sock.close()
        self.mpdir.close()

    # --- answers -------------------------------------------------------------------

    def metrics(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)  # type: ignore[no-any-return]

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Liveness: the loop answers (it serves this) and every child reports."""
        sup = self._require()
        now = time.monotonic()
        children, silent = [], []
        for c in sup.children.values():
            quiet_for = now - c.last_seen
            children.append(
                {
                    "pid": c.pid,
                    "index": c.index,
                    "role": c.role,
                    "maintenance": c.is_maintenance or c.hosts_maintenance,
                    "ready": c.ready,
                    "busy": c.busy,
                    "capacity": c.capacity,
                    "silent_for": round(quiet_for, 3),
                }
            )
            if c.retiring_since is None and quiet_for > sup.child_timeout:
                silent.append(c.pid)
        workers = [c for c in sup.children.values() if not c.is_maintenance]
        problems = [f"child {pid} sends no heartbeat" for pid in silent]
        if not workers and not sup.stopping:
            problems.append("no worker process is running")
        body = {
            "status": "ok" if not problems else "unhealthy",
            "problems": problems,
            "loop": "running",
            "pid": os.getpid(),
            "children": children,
        }
        return not problems, body

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready: Redis reachable, not quiet or stopping, a worker process serving."""
        sup = self._require()
        ready = sum(
            1 for c in sup.children.values() if not c.is_maintenance and c.ready and c.serving
        )
        problems = []
        if sup.stopping:
            problems.append(f"stopping ({sup.stopping})")
        elif sup.quiet:
            problems.append("quiet: not taking new tasks")
        if not sup.redis_ok:
            problems.append("Redis unreachable")
        if ready == 0:
            problems.append("no worker process ready")
        body = {
            "status": "ready" if not problems else "not ready",
            "problems": problems,
            "ready_processes": ready,
            "target_processes": sup.target,
        }
        return not problems, body

    def _require(self) -> SupervisorView:
        assert self._sup is not None, "serve() sets the supervisor view"
        return self._sup


class _SupervisorCollector:
    """Series only the supervisor knows: process counts and restarts by cause."""

    def __init__(self, port: MetricsPort) -> None:
        self.port = port

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        restarts = CounterMetricFamily(
            "fastq_worker_restarts",
            "Child processes replaced, by role and cause (crashed, killed, stuck, memory, "
            "recycled, reload).",
            labels=["role", "cause"],
        )
        by_cause = {("worker", cause): 0 for cause in RESTART_CAUSES}  # series exist from 0
        by_cause.update(self.port.restarts)
        for (role, cause), n in sorted(by_cause.items()):
            restarts.add_metric([role, cause], float(n))
        yield restarts
        sup = self.port._sup
        if sup is None:
            return
        procs = GaugeMetricFamily(
            "fastq_worker_processes",
            "Worker processes of this supervisor by state (ready, starting, retiring).",
            labels=["state"],
        )
        counts = {"ready": 0, "starting": 0, "retiring": 0}
        for c in sup.children.values():
            if c.is_maintenance:
                continue
            state = "retiring" if not c.serving else ("ready" if c.ready else "starting")
            counts[state] += 1
        for state, n in counts.items():
            procs.add_metric([state], float(n))
        yield procs
        target = GaugeMetricFamily(
            "fastq_worker_target_processes", "Worker processes this supervisor keeps running."
        )
        target.add_metric([], float(sup.target))
        yield target
        redis_ok = GaugeMetricFamily(
            "fastq_worker_redis_up", "1 while the supervisor's heartbeat writes to Redis succeed."
        )
        redis_ok.add_metric([], 1.0 if sup.redis_ok else 0.0)
        yield redis_ok


def _read_head(conn: socket.socket) -> bytes:
    """The request line and headers, read under one deadline (a client sending a byte at
    a time cannot hold the supervisor loop longer than ``REQUEST_TIMEOUT``)."""
    conn.setblocking(True)
    deadline = time.monotonic() + REQUEST_TIMEOUT
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request head too slow")
        conn.settimeout(left)
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    conn.settimeout(REQUEST_TIMEOUT)
    return data


class _Handler(BaseHTTPRequestHandler):
    server: Any  # the MetricsPort
    server_version = "fastq-worker"

    def setup(self) -> None:
        self.connection = self.request
        self.rfile = io.BytesIO(self.server.head)  # read already, under a deadline
        self.wfile = self.connection.makefile("wb", buffering=0)

    def finish(self) -> None:
        self.wfile.close()

    def do_GET(self) -> None:
        port: MetricsPort = self.server
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, port.metrics(), TEXT_FORMAT)
        elif path in ("/healthz", "/readyz"):
            ok, body = port.health() if path == "/healthz" else port.readiness()
            data = json.dumps(body, sort_keys=True).encode() + b"\n"
            self._send(200 if ok else 503, data, "application/json")
        else:
            self._send(404, b"not found: try /metrics, /healthz, /readyz\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # probes every few seconds would flood the log
