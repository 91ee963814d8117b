"""Servers, schedulers (entries and enqueue history) and Redis pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fastq.dash.web import dash_of, error_page, int_param, render
from fastq.errors import FastqError


async def servers_page(request: Request) -> Response:
    """Every live server (Go Asynq's and fastq's) and the tasks it runs."""
    dash = dash_of(request)
    try:
        servers = await dash.inspector.servers()
    except FastqError as exc:
        return error_page(request, exc)
    return render(request, "servers.html", title="Servers", nav="servers", servers=servers)


async def schedulers_page(request: Request) -> Response:
    """Periodic entries of the live schedulers."""
    dash = dash_of(request)
    try:
        entries = await dash.inspector.scheduler_entries()
    except FastqError as exc:
        return error_page(request, exc)
    return render(request, "schedulers.html", title="Schedulers", nav="schedulers", entries=entries)


async def scheduler_history_page(request: Request) -> Response:
    """``/schedulers/history?id=ENTRY&page=N``: one entry's enqueues, newest first."""
    dash = dash_of(request)
    entry_id = request.query_params.get("id", "")
    page = int_param(request, "page", 1, 1, 1_000_000)
    size = 50
    try:
        events = await dash.inspector.scheduler_history(entry_id, page, size)
    except FastqError as exc:
        return error_page(request, exc)
    return render(
        request,
        "scheduler_history.html",
        title="Scheduler history",
        nav="schedulers",
        entry_id=entry_id,
        events=events,
        page=page,
        has_next=len(events) == size,
    )


async def redis_page(request: Request) -> Response:
    """Redis version, memory, clients, uptime and keyspace (an allow-list of INFO)."""
    dash = dash_of(request)
    try:
        info = await dash.inspector.redis_info()
    except FastqError as exc:
        return error_page(request, exc)
    return render(request, "redis.html", title="Redis", nav="redis", info=info)


routes = [
    Route("/servers", servers_page, name="servers"),
    Route("/schedulers", schedulers_page, name="schedulers"),
    Route("/schedulers/history", scheduler_history_page, name="scheduler_history"),
    Route("/redis", redis_page, name="redis"),
]
