"""Every mutation: POST only, CSRF-checked, refused in read-only mode, logged.

``_guard`` is the one door: it refuses read-only dashboards, checks the CSRF token,
Origin and action name, and returns the form. Each action then calls the Inspector
and redirects (303) back to a page, so a reload never repeats it.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from fastq.dash.format import visible
from fastq.dash.security import CSRF_FIELD, csrf_ok
from fastq.dash.web import Dash, dash_of, error_page, url
from fastq.errors import FastqError
from fastq.inspect.inspector import SelectionResult

log = structlog.get_logger("fastq.dash")

MAX_IDS = 1000
TASK_ACTIONS = ("run", "archive", "delete", "cancel")
BULK_ACTIONS = ("run", "archive", "delete")
QUEUE_ACTIONS = ("pause", "resume", "delete")


async def _guard(
    request: Request, actions: tuple[str, ...]
) -> tuple[Dash, FormData, str] | Response:
    dash = dash_of(request)
    if dash.config.read_only:
        _refused(request, "read-only")
        return PlainTextResponse("the dashboard is read-only\n", status_code=403)
    form = await request.form(max_files=0, max_fields=MAX_IDS + 20)
    token = form.get(CSRF_FIELD)
    if not csrf_ok(request, dash.secret, token if isinstance(token, str) else None):
        _refused(request, "csrf")
        return PlainTextResponse(
            "CSRF check failed: reload the page and try again\n", status_code=403
        )
    action = _field(form, "action")
    if action not in actions:
        return PlainTextResponse("unknown action\n", status_code=400)
    return dash, form, action


def _who(request: Request) -> dict[str, str]:
    """Who asked, for the log lines."""
    return {
        "user": request.scope.get("state", {}).get("user", ""),
        "client": request.client.host if request.client else "",
    }


def _refused(request: Request, reason: str) -> None:
    log.warning(
        "dash.refused",
        **_who(request),
        path=request.url.path,
        reason=reason,
    )


def _field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _audit(request: Request, action: str, queue: str, **fields: Any) -> None:
    log.info(
        "dash.mutation",
        **_who(request),
        action=action,
        queue=visible(queue)[:200],
        **fields,
    )


def _back(request: Request, form: FormData, **extra: Any) -> RedirectResponse:
    target = url(
        request,
        "/queue",
        q=_field(form, "q"),
        state=_field(form, "state") or None,
        size=_field(form, "size") or None,
        type=_field(form, "type") or None,
        error=_field(form, "error") or None,
        group=_field(form, "group") or None,
        **extra,
    )
    return RedirectResponse(target, status_code=303)


async def tasks_action(request: Request) -> Response:
    """Run, archive, delete or cancel the selected task ids of one queue."""
    guarded = await _guard(request, TASK_ACTIONS)
    if isinstance(guarded, Response):
        return guarded
    dash, form, action = guarded
    queue = _field(form, "q")
    ids = [v for v in form.getlist("id") if isinstance(v, str) and v][:MAX_IDS]
    insp = dash.inspector
    try:
        if action == "cancel":
            await insp.cancel_tasks(ids)
            result = SelectionResult(ids, [], {})
        elif action == "run":
            result = await insp.run_tasks(queue, ids)
        elif action == "archive":
            result = await insp.archive_tasks(queue, ids)
        else:
            result = await insp.delete_tasks(queue, ids)
    except FastqError as exc:
        return error_page(request, exc)
    skipped = len(result.not_found) + len(result.refused)
    _audit(request, f"tasks.{action}", queue, done=len(result.done), skipped=skipped)
    return _back(request, form, done=action, n=len(result.done), skipped=skipped or None)


async def all_action(request: Request) -> Response:
    """Run, archive or delete every task of one state (optionally one group)."""
    guarded = await _guard(request, BULK_ACTIONS)
    if isinstance(guarded, Response):
        return guarded
    dash, form, action = guarded
    queue, state = _field(form, "q"), _field(form, "state")
    group = _field(form, "group") or None
    insp = dash.inspector
    call = {"run": insp.run_all, "archive": insp.archive_all, "delete": insp.delete_all}[action]
    try:
        n = await call(queue, state, group=group)
    except FastqError as exc:
        return error_page(request, exc)
    _audit(request, f"all.{action}", queue, state=state, done=n)
    return _back(request, form, done=action, n=n)


async def task_action(request: Request) -> Response:
    """Run, archive, delete or cancel one task from its page."""
    guarded = await _guard(request, TASK_ACTIONS)
    if isinstance(guarded, Response):
        return guarded
    dash, form, action = guarded
    queue, task_id = _field(form, "q"), _field(form, "id")
    insp = dash.inspector
    try:
        if action == "cancel":
            await insp.cancel(task_id)
        elif action == "run":
            await insp.run_task(queue, task_id)
        elif action == "archive":
            await insp.archive_task(queue, task_id)
        else:
            await insp.delete_task(queue, task_id)
    except FastqError as exc:
        return error_page(request, exc)
    _audit(request, f"task.{action}", queue, task_id=visible(task_id)[:200])
    if action == "delete":
        return RedirectResponse(url(request, "/queue", q=queue, done="delete", n=1), 303)
    return RedirectResponse(url(request, "/task", q=queue, id=task_id, done=action), 303)


async def queue_action(request: Request) -> Response:
    """Pause, resume or delete a queue (deletion refuses a queue that holds tasks)."""
    guarded = await _guard(request, QUEUE_ACTIONS)
    if isinstance(guarded, Response):
        return guarded
    dash, form, action = guarded
    queue = _field(form, "q")
    insp = dash.inspector
    try:
        if action == "pause":
            await insp.pause(queue)
        elif action == "resume":
            await insp.unpause(queue)
        else:
            await insp.delete_queue(queue, force=False)
    except FastqError as exc:
        return error_page(request, exc)
    _audit(request, f"queue.{action}", queue)
    if action == "delete":
        return RedirectResponse(url(request, "/"), status_code=303)
    if _field(form, "from") == "overview":
        return RedirectResponse(url(request, "/"), status_code=303)
    return RedirectResponse(url(request, "/queue", q=queue, done=action), status_code=303)


routes = [
    Route("/actions/tasks", tasks_action, methods=["POST"]),
    Route("/actions/all", all_action, methods=["POST"]),
    Route("/actions/task", task_action, methods=["POST"]),
    Route("/actions/queue", queue_action, methods=["POST"]),
]
