"""The overview page, its SVG charts and the live event stream."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from fastq.dash import charts
from fastq.dash.security import SVG_CSP
from fastq.dash.web import dash_of, error_page, int_param, render
from fastq.errors import FastqError
from fastq.inspect.inspector import QueueInfo

HISTORY_DAYS = (7, 30, 90)
SORTABLE = (
    "queue",
    "size",
    "active",
    "pending",
    "aggregating",
    "scheduled",
    "retry",
    "archived",
    "completed",
    "memory_usage",
    "latency",
    "processed",
    "failed",
    "error_rate",
)


def _sort(infos: list[QueueInfo], key: str, desc: bool) -> list[QueueInfo]:
    def value(i: QueueInfo) -> Any:
        if key == "error_rate":
            return i.failed / i.processed if i.processed else 0.0
        return getattr(i, key)

    return sorted(infos, key=lambda i: (value(i), i.queue), reverse=desc)


async def overview(request: Request) -> Response:
    """Every queue with its counts, today's processed/failed, and the charts."""
    dash = dash_of(request)
    try:
        infos = await dash.inspector.all_queue_info()
    except FastqError as exc:
        return error_page(request, exc)
    days = int_param(request, "days", 7, 1, 90)
    sort = request.query_params.get("sort", "queue")
    sort = sort if sort in SORTABLE else "queue"
    desc = request.query_params.get("dir") == "desc"
    infos = _sort(infos, sort, desc)
    totals = {
        k: sum(getattr(i, k) for i in infos)
        for k in (*charts.STATE_ORDER, "size", "processed", "failed", "memory_usage")
    }
    return render(
        request,
        "overview.html",
        title="Queues",
        nav="queues",
        infos=infos,
        totals=totals,
        days=days if days in HISTORY_DAYS else 7,
        history_days=HISTORY_DAYS,
        sort=sort,
        desc=desc,
    )


def _svg(request: Request, chart: charts.Chart, kind: str) -> Response:
    dash = request.app.state.dash
    body = dash.env.get_template(f"charts/{kind}.svg").render(chart=chart)
    return Response(
        body,
        media_type="image/svg+xml",
        headers={"content-security-policy": SVG_CSP, "cache-control": "no-store"},
    )


async def chart_sizes(request: Request) -> Response:
    """Stacked bars of queue sizes, from the sampler's newest sample (no Redis read)."""
    dash = dash_of(request)
    infos = dash.sampler.infos
    if not infos and dash.sampler.sampled_at == 0:
        try:
            await dash.sampler.sample()
        except FastqError as exc:
            return error_page(request, exc)
        infos = dash.sampler.infos
    return _svg(request, charts.queue_sizes(infos), "bars")


async def chart_daily(request: Request) -> Response:
    """Processed/failed per day over 7, 30 or 90 days (history cached for 30 s)."""
    dash = dash_of(request)
    days = int_param(request, "days", 7, 1, 90)
    try:
        history = await dash.sampler.history(days)
    except FastqError as exc:
        return error_page(request, exc)
    return _svg(request, charts.daily(history, days), "lines")


async def chart_rate(request: Request) -> Response:
    """Processed and failed per second over the last minutes of samples."""
    dash = dash_of(request)
    points = [(p.processed, p.failed) for p in dash.sampler.rates]
    return _svg(request, charts.rate(points, dash.config.interval), "lines")


async def events(request: Request) -> Response:
    """Server-Sent Events: one sample per interval, shared by every client."""
    dash = dash_of(request)
    return StreamingResponse(
        dash.sampler.stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


routes = [
    Route("/", overview, name="overview"),
    Route("/charts/sizes.svg", chart_sizes),
    Route("/charts/daily.svg", chart_daily),
    Route("/charts/rate.svg", chart_rate),
    Route("/events", events),
]
