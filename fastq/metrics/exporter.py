"""Serving queue metrics: a WSGI app, an ASGI app to mount in another server (the
dashboard), and the blocking server behind ``fastq metrics``.

    from fastq.metrics import asgi_app
    routes = [Mount("/metrics", app=asgi_app("redis://localhost:6379/0"))]  # Starlette

Every form renders the same registry: the ``QueueCollector`` over an Inspector.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import structlog
from prometheus_client import CollectorRegistry, generate_latest, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from fastq.config import RedisConfig
from fastq.inspect.inspector import Inspector
from fastq.metrics.queues import MetricsSource, QueueCollector

log = structlog.get_logger("fastq.metrics")

DEFAULT_PORT = 9812
# The classic text format: every Prometheus 2.x scrapes it (generate_latest writes it).
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_HOST = "127.0.0.1"

Source = MetricsSource | str | RedisConfig | None
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def queue_registry(source: Source = None) -> CollectorRegistry:
    """A registry holding only the queue collector (no process or GC metrics).

    Args:
        source: an ``Inspector``, a Redis URL, a ``RedisConfig``, or None for
            ``FASTQ_REDIS_URL``.
    """
    inspector = (
        source if hasattr(source, "queue_metrics") else Inspector(source)  # type: ignore[arg-type]
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(inspector))  # type: ignore[arg-type]
    return registry


def wsgi_app(source: Source = None) -> WSGIApp:
    """A WSGI app answering every path with the queue metrics in the Prometheus text
    format (gzip when the client asks).

    Args:
        source: an ``Inspector``, a Redis URL, a ``RedisConfig``, or None for
            ``FASTQ_REDIS_URL``.
    """
    return make_wsgi_app(queue_registry(source))  # type: ignore[no-any-return]


def asgi_app(source: Source = None) -> ASGIApp:
    """An ASGI app answering GET with the queue metrics, to mount at ``/metrics``.

    The Redis reads run in a worker thread, so a scrape never blocks the host's
    event loop.

    Args:
        source: an ``Inspector``, a Redis URL, a ``RedisConfig``, or None for
            ``FASTQ_REDIS_URL``. (An ``AsyncInspector`` is not accepted: the
            collector interface of prometheus_client is synchronous.)
    """
    registry = queue_registry(source)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed\n", "text/plain; charset=utf-8")
            return
        body = await asyncio.to_thread(generate_latest, registry)
        await _respond(send, 200, body, TEXT_FORMAT)

    return app


async def _respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would drown the log


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    source: Source = None,
    *,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve queue metrics at ``/metrics`` until interrupted (``fastq metrics``).

    Args:
        host: interface to bind (loopback by default).
        port: TCP port (0 picks a free one).
        source: an ``Inspector``, a Redis URL, a ``RedisConfig``, or None.
        ready: called with the bound port once the server listens.
    """
    metrics = wsgi_app(source)

    def root(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") == "/metrics":
            return metrics(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"fastq metrics: see /metrics\n"]

    with make_server(host, port, root, ThreadingWSGIServer, handler_class=_QuietHandler) as srv:
        bound = srv.server_address[1]
        log.info("serving queue metrics", url=f"http://{host}:{bound}/metrics")
        if ready is not None:
            ready(bound)
        srv.serve_forever()
