"""The Redis a bench measures against: one private server, a Sentinel set-up
(``fastq.devcluster.LocalSentinel``: a master, 2 replicas, 3 sentinels) or a TLS
server with a client certificate (``tests/tls_support.py``)."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from tls_support import tls_server, tls_url  # noqa: E402

from fastq.devcluster import LocalSentinel  # noqa: E402
from fastq.devredis import RedisServer, free_port  # noqa: E402

KINDS = ("plain", "sentinel", "tls")


def start_target(
    stack: contextlib.ExitStack, kind: str, extra: Sequence[str] = ()
) -> tuple[str, str]:
    """Start a ``kind`` target, stopped when ``stack`` closes. Returns the URL fastq's
    clients and workers use, and a plain TCP URL of the server that holds the data
    (the master behind Sentinel; a TLS server also takes TCP on a port of its own),
    for the bench's own reads, records and CPU readings. ``extra``: redis-server
    arguments of a plain target."""
    if kind == "sentinel":
        sentinel = LocalSentinel()
        sentinel.start()
        stack.callback(sentinel.cleanup)
        return sentinel.url, sentinel.server_on(sentinel.master_port()).url
    if kind == "tls":
        certs_dir = Path(tempfile.mkdtemp(prefix="fastq-bench-tls-"))
        stack.callback(shutil.rmtree, certs_dir, ignore_errors=True)
        plain = free_port()
        port, certs = stack.enter_context(tls_server(certs_dir, plain_port=plain))
        return tls_url(port, certs), f"redis://127.0.0.1:{plain}/0"
    server = RedisServer(extra=list(extra))
    server.start()
    stack.callback(server.cleanup)
    return server.url, server.url
