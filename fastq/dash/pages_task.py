"""The task page: payload, result, headers, options, state and the allowed actions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fastq.dash import format as fmt
from fastq.dash.web import dash_of, done_message, error_page, render
from fastq.errors import FastqError
from fastq.inspect.inspector import ARCHIVABLE, DELETABLE, RUNNABLE, CorruptTask


async def task_page(request: Request) -> Response:
    """``/task?q=QUEUE&id=TASK_ID``."""
    dash = dash_of(request)
    queue = request.query_params.get("q", "")
    task_id = request.query_params.get("id", "").strip()
    try:
        task = await dash.inspector.task_info(queue, task_id)
    except FastqError as exc:
        return error_page(request, exc)
    if isinstance(task, CorruptTask):
        return render(
            request,
            "task.html",
            title="Corrupt task",
            nav="queues",
            queue=queue,
            task=task,
            corrupt=True,
            raw=fmt.pretty(task.raw),
            can_delete=True,
            done=done_message(request),
        )
    state = task.state.value
    return render(
        request,
        "task.html",
        title=f"Task {task.id}",
        nav="queues",
        queue=queue,
        task=task,
        corrupt=False,
        payload=fmt.pretty(task.payload),
        result=fmt.pretty(task.result),
        can_run=state in RUNNABLE,
        can_archive=state in ARCHIVABLE,
        can_delete=state in DELETABLE,
        can_cancel=state == "active",
        done=done_message(request),
    )


routes = [Route("/task", task_page, name="task")]
