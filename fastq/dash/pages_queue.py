"""The queue page: stats banner, a tab per state, filters, paging and bulk actions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fastq.dash.charts import STATE_ORDER
from fastq.dash.config import DEFAULT_PAGE_SIZE, PAGE_SIZES
from fastq.dash.web import dash_of, done_message, error_page, int_param, render
from fastq.errors import FastqError
from fastq.inspect.inspector import ARCHIVABLE, DELETABLE, RUNNABLE

MAX_FILTER = 200  # characters of a type / error filter
SCAN_CHUNK = 200  # ids per filtered-search script call: a few ms of Redis each
SEARCH_BUDGET = 50_000  # ids one filtered page scans before it answers with its progress


async def queue_page(request: Request) -> Response:
    """``/queue?q=NAME&state=retry&page=2&size=20&type=T&error=TEXT&group=G``."""
    dash = dash_of(request)
    qp = request.query_params
    name = qp.get("q", "")
    state = qp.get("state", "pending")
    if state not in STATE_ORDER:
        state = "pending"
    page = int_param(request, "page", 1, 1, 1_000_000)
    size = int_param(request, "size", DEFAULT_PAGE_SIZE, 1, max(PAGE_SIZES))
    task_type = qp.get("type", "")[:MAX_FILTER] or None
    error = qp.get("error", "")[:MAX_FILTER] or None
    group = qp.get("group", "")[:MAX_FILTER] or None
    insp = dash.inspector
    try:
        info = await insp.queue_info(name)  # raises QueueNotFoundError for an unknown name
        groups = await insp.groups(name) if state == "aggregating" else []
        search = None
        if (task_type or error) and state != "aggregating":
            start = int_param(request, "from", 0, 0, 10**9)
            found = await insp.search_tasks(
                name,
                state,
                start,
                budget=SEARCH_BUDGET,
                size=size,
                task_type=task_type,
                error_contains=error,
                scan_chunk=SCAN_CHUNK,
            )
            tasks = found.tasks
            search = {
                "from": start,
                "next": found.next_offset,
                "total": found.total,
                "done": found.done,
            }
        else:
            tasks = await insp.list_tasks(
                name,
                state,
                page,
                size,
                task_type=task_type,
                error_contains=error,
                group=group,
                scan_chunk=SCAN_CHUNK,
            )
    except FastqError as exc:
        return error_page(request, exc)
    filtered = bool(task_type or error or group)
    total = None if filtered else getattr(info, state)
    if total is not None:
        last_page = max(1, -(-total // size))
        has_next = page < last_page
    else:
        last_page = None
        has_next = len(tasks) == size
    return render(
        request,
        "queue.html",
        title=f"Queue {name}",
        nav="queues",
        info=info,
        queue=name,
        state=state,
        states=STATE_ORDER,
        tasks=tasks,
        page=page,
        size=size,
        total=total,
        last_page=last_page,
        has_next=has_next,
        filters={"type": task_type or "", "error": error or "", "group": group or ""},
        filtered=filtered,
        search=search,
        groups=groups,
        can_run=state in RUNNABLE,
        can_archive=state in ARCHIVABLE,
        can_delete=state in DELETABLE,
        can_cancel=state == "active",
        done=done_message(request),
    )


routes = [Route("/queue", queue_page, name="queue")]
