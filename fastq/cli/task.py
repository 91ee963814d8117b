"""``fastq task ...``: list, inspect, run, archive, delete, cancel and enqueue tasks."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from fastq.cli.common import (
    EPILOG,
    LEAF_EPILOG,
    CliError,
    ExitCode,
    State,
    confirm,
    json_option,
    pass_state,
    progress_bar,
    yes_option,
)
from fastq.cli.render import (
    TABLE_TEXT_WIDTH,
    console,
    echo,
    escape_text,
    fmt_time,
    payload_preview,
    print_json,
    show_fields,
    table,
    truncate,
)
from fastq.inspect.inspector import ARCHIVABLE, DELETABLE, RUNNABLE
from fastq.inspect.types import AnyTask, CorruptTask
from fastq.keys import TASK_STATES
from fastq.task import TaskInfo

queue_opt = click.option("--queue", "-q", required=True, help="Queue the task(s) belong to.")


def state_opt(states: Sequence[str]) -> Callable[[Any], Any]:
    return click.option(
        "--state", "-s", required=True, type=click.Choice(list(states)), help="State of the tasks."
    )


group_opt = click.option(
    "--group", "-g", default=None, help="For aggregating tasks: only this group (default: all)."
)


@click.group(epilog=EPILOG)
def task() -> None:
    """Manage tasks: list, inspect, run, archive, delete, cancel, enqueue."""


# --- reading ---------------------------------------------------------------------------


def _row(t: AnyTask, state: str) -> list[str]:
    if isinstance(t, CorruptTask):
        return [t.id, "<corrupt>", truncate(t.reason, TABLE_TEXT_WIDTH)]
    cells = [t.id, t.type, payload_preview(t.payload)]
    err = truncate(escape_text(t.last_err), TABLE_TEXT_WIDTH)
    if state == "active":
        cells.append("yes" if t.is_orphaned else "")
    elif state == "scheduled":
        cells.append(fmt_time(t.next_process_at))
    elif state == "retry":
        cells += [
            fmt_time(t.next_process_at),
            err,
            fmt_time(t.last_failed_at),
            str(t.retried),
            str(t.max_retry),
        ]
    elif state == "archived":
        cells += [fmt_time(t.last_failed_at), err]
    elif state == "completed":
        cells += [fmt_time(t.completed_at), payload_preview(t.result)]
    elif state == "aggregating":
        cells.append(t.group)
    return cells


_COLUMNS = {
    "pending": [],
    "active": ["Orphaned"],
    "scheduled": ["Process At"],
    "retry": ["Next Retry", "Last Error", "Last Failed", "Retried", "Max Retry"],
    "archived": ["Last Failed", "Last Error"],
    "completed": ["Completed At", "Result"],
    "aggregating": ["Group"],
}


@task.command("ls", epilog=LEAF_EPILOG)
@queue_opt
@state_opt(TASK_STATES)
@click.option(
    "--page", type=click.IntRange(min=1), default=1, show_default=True, help="Page number."
)
@click.option(
    "--size", type=click.IntRange(1, 10_000), default=30, show_default=True, help="Tasks per page."
)
@click.option("--type", "-t", "task_type", default=None, help="Only tasks of this type.")
@click.option(
    "--error",
    "-e",
    "error_contains",
    default=None,
    help="Only tasks whose last error contains this text (case-insensitive).",
)
@group_opt
@click.option(
    "--count", is_flag=True, help="Only print how many tasks match (scans the whole state)."
)
@json_option
@pass_state
def task_ls(
    st: State,
    queue: str,
    state: str,
    page: int,
    size: int,
    task_type: str | None,
    error_contains: str | None,
    group: str | None,
    count: bool,
    as_json: bool,
) -> None:
    """List tasks of one state, next-to-run first (pending, active) or by time."""
    if count:
        n = st.inspector().count_tasks(
            queue, state, task_type=task_type, error_contains=error_contains, group=group
        )
        if as_json:
            print_json({"count": n})
        else:
            echo(n)
        return
    tasks = st.inspector().list_tasks(
        queue, state, page, size, task_type=task_type, error_contains=error_contains, group=group
    )
    if as_json:
        print_json(tasks)
        return
    if not tasks:
        echo(
            f"No {state} tasks in queue {queue!r}"
            + (" matching the filters" if task_type or error_contains else "")
        )
        return
    console().print(
        table(None, ["ID", "Type", "Payload", *_COLUMNS[state]], [_row(t, state) for t in tasks])
    )


@task.command("inspect", epilog=LEAF_EPILOG)
@queue_opt
@click.option("--id", "-i", "task_id", required=True, help="Task id.")
@json_option
@pass_state
def task_inspect(st: State, queue: str, task_id: str, as_json: bool) -> None:
    """Show everything about one task."""
    t = st.inspector().task_info(queue, task_id)
    if as_json:
        print_json(t)
        return
    if isinstance(t, CorruptTask):
        title = "Corrupt Task"
        lines: list[tuple[str, object]] = [
            ("Queue", t.queue),
            ("ID", t.id),
            ("State", t.state),
            ("Problem", t.reason),
        ]
        if t.raw is not None:
            lines.append(("Raw msg", payload_preview(t.raw, full=True)))
    else:
        title, lines = "Task Info", _info_lines(t)
    show_fields(console(), title, lines, multiline=("Payload", "Result", "Traceback"))


def _next_time(t: TaskInfo) -> str:
    if t.next_process_at is None:
        return "n/a"
    if t.next_process_at <= datetime.now(timezone.utc):
        return "now"
    return fmt_time(t.next_process_at)


def _info_lines(t: TaskInfo) -> list[tuple[str, object]]:
    lines: list[tuple[str, object]] = [
        ("Queue", t.queue),
        ("ID", t.id),
        ("Type", t.type),
        ("State", t.state.value),
        ("Retried", f"{t.retried}/{t.max_retry}"),
        ("Next process time", _next_time(t)),
    ]
    if t.state.value == "active":
        lines.append(("Orphaned", "yes (lease expired)" if t.is_orphaned else "no"))
    if t.timeout:
        lines.append(("Timeout", f"{t.timeout}s"))
    if t.deadline:
        lines.append(("Deadline", fmt_time(t.deadline)))
    if t.group:
        lines.append(("Group", t.group))
    if t.retention:
        lines.append(("Retention", f"{t.retention}s"))
    if t.completed_at:
        lines.append(("Completed at", fmt_time(t.completed_at)))
    for k, v in sorted(t.headers.items()):
        lines.append((f"Header {k}", escape_text(v)))
    if t.last_err:
        lines += [
            ("Last failed at", fmt_time(t.last_failed_at)),
            ("Last error", escape_text(t.last_err)),
        ]
    lines.append(("Payload", payload_preview(t.payload, full=True)))
    if t.result is not None:
        lines.append(("Result", payload_preview(t.result, full=True)))
    if t.traceback:
        lines.append(("Traceback", t.traceback))
    return lines


# --- single and selected tasks ---------------------------------------------------------


def _act_on_ids(st: State, action: str, queue: str, ids: Sequence[str], done_msg: str) -> None:
    insp = st.inspector()
    if len(ids) == 1:
        getattr(insp, f"{action}_task")(queue, ids[0])
        echo(f"Task {ids[0]} {done_msg}")
        return
    res = getattr(insp, f"{action}_tasks")(queue, ids)
    for tid in res.done:
        echo(f"Task {tid} {done_msg}")
    for tid in res.not_found:
        echo(f"error: task {tid!r} not found in queue {queue!r}", err=True)
    for tid, state in res.refused.items():
        echo(f"error: cannot {action} task {tid!r}: it is {state}", err=True)
    if res.not_found:
        raise click.exceptions.Exit(int(ExitCode.NOT_FOUND))
    if res.refused:
        raise click.exceptions.Exit(int(ExitCode.CONFLICT))


ids_opt = click.option(
    "--id", "-i", "task_ids", required=True, multiple=True, help="Task id (repeat for several)."
)


@task.command("run", epilog=LEAF_EPILOG)
@queue_opt
@ids_opt
@pass_state
def task_run(st: State, queue: str, task_ids: Sequence[str]) -> None:
    """Run scheduled, retry, archived or aggregating tasks now (move to pending)."""
    _act_on_ids(st, "run", queue, task_ids, "is now pending")


@task.command("archive", epilog=LEAF_EPILOG)
@queue_opt
@ids_opt
@pass_state
def task_archive(st: State, queue: str, task_ids: Sequence[str]) -> None:
    """Archive pending, scheduled, retry or aggregating tasks."""
    _act_on_ids(st, "archive", queue, task_ids, "archived")


@task.command("delete", epilog=LEAF_EPILOG)
@queue_opt
@ids_opt
@pass_state
def task_delete(st: State, queue: str, task_ids: Sequence[str]) -> None:
    """Delete tasks (not active ones); corrupt entries are cleaned up too."""
    _act_on_ids(st, "delete", queue, task_ids, "deleted")


task.add_command(task_delete, "rm")


@task.command("cancel", epilog=LEAF_EPILOG)
@click.argument("task_ids", nargs=-1, metavar="[TASK_ID]...")
@click.option("--id", "-i", "more_ids", multiple=True, help="Task id (repeat for several).")
@pass_state
def task_cancel(st: State, task_ids: Sequence[str], more_ids: Sequence[str]) -> None:
    """Ask the servers running these active tasks to cancel them (ids as -i ID or arguments)."""
    task_ids = [*more_ids, *task_ids]
    if not task_ids:
        raise click.UsageError("give the task ids to cancel: -i ID (repeatable) or as arguments")
    for tid, n in zip(task_ids, st.inspector().cancel_tasks(task_ids), strict=True):
        echo(f"Sent cancelation signal for task {tid} ({n} server(s) listening)")


@task.command("update-payload", epilog=LEAF_EPILOG)
@queue_opt
@click.option("--id", "-i", "task_id", required=True, help="Task id.")
@click.option(
    "--payload",
    "-p",
    required=True,
    help="New payload: text as is, @FILE for a file's bytes, - for stdin.",
)
@json_option
@pass_state
def task_update_payload(st: State, queue: str, task_id: str, payload: str, as_json: bool) -> None:
    """Replace the payload of a task no worker holds (not active or completed)."""
    info = st.inspector().update_task_payload(queue, task_id, read_payload(payload))
    if as_json:
        print_json(info)
    else:
        echo(f"Task {task_id} payload updated")


# --- whole states ----------------------------------------------------------------------


def _bulk(st: State, action: str, queue: str, state: str, group: str | None, yes: bool) -> None:
    insp = st.inspector()
    info = insp.queue_info(queue)
    count = getattr(info, state)
    if count == 0:
        echo(f"No {state} tasks in queue {queue!r}")
        return
    where = f" of group {group!r}" if group else ""
    confirm(
        f"{action.capitalize()} {'up to ' if group else ''}{count} {state} task(s){where} "
        f"in queue {queue!r}?",
        yes,
    )
    with progress_bar(action.capitalize()) as report:
        n = getattr(insp, f"{action}_all")(queue, state, group=group, progress=report)
    echo(
        f"{n} {state} task(s) {action.removesuffix('e')}ed"
        if action != "run"
        else f"{n} {state} task(s) are now pending"
    )


@task.command("runall", epilog=LEAF_EPILOG)
@queue_opt
@state_opt(RUNNABLE)
@group_opt
@yes_option
@pass_state
def task_runall(st: State, queue: str, state: str, group: str | None, yes: bool) -> None:
    """Run every task of a state now (asks for confirmation)."""
    _bulk(st, "run", queue, state, group, yes)


@task.command("archiveall", epilog=LEAF_EPILOG)
@queue_opt
@state_opt(ARCHIVABLE)
@group_opt
@yes_option
@pass_state
def task_archiveall(st: State, queue: str, state: str, group: str | None, yes: bool) -> None:
    """Archive every task of a state (asks for confirmation)."""
    _bulk(st, "archive", queue, state, group, yes)


@task.command("deleteall", epilog=LEAF_EPILOG)
@queue_opt
@state_opt(DELETABLE)
@group_opt
@yes_option
@pass_state
def task_deleteall(st: State, queue: str, state: str, group: str | None, yes: bool) -> None:
    """Delete every task of a state (asks for confirmation)."""
    _bulk(st, "delete", queue, state, group, yes)


# --- enqueue ---------------------------------------------------------------------------

_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?"
    r"(?:(\d+(?:\.\d+)?)s?)?$"
)


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``5m``, ``1h30m`` or ``2d``."""
    m = _DURATION.match(text.strip())
    if not text.strip() or m is None:
        raise click.BadParameter(f"{text!r} is not a duration like 90, 90s, 5m, 1h30m, 2d")
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


def parse_instant(text: str) -> float:
    """Unix seconds from a number or an ISO 8601 time (UTC unless it has an offset)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is neither unix seconds nor ISO 8601") from exc
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def read_payload(text: str) -> bytes:
    """The payload: literal text, ``@path`` for a file's bytes, ``-`` for stdin."""
    if text == "-":
        return sys.stdin.buffer.read()
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {text[1:]!r}: {exc.strerror}") from exc
    return text.encode("utf-8")


def _header(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"{v!r} is not KEY=VALUE", param_hint="--header")
        out[k] = val
    return out


@task.command("enqueue", epilog=LEAF_EPILOG)
@click.option("--type", "-t", "task_type", required=True, help="Task type name.")
@click.option(
    "--payload",
    "-p",
    default=None,
    help="Payload: text as is, @FILE for a file's bytes, - for stdin (default: none).",
)
@click.option("--queue", "-q", default=None, help="Queue (default: default).")
@click.option(
    "--max-retry", type=click.IntRange(min=0), default=None, help="Retries allowed (default 25)."
)
@click.option("--timeout", default=None, help="Timeout per run, e.g. 30s, 5m.")
@click.option("--deadline", default=None, help="Deadline: unix seconds or ISO 8601 time.")
@click.option("--process-in", default=None, help="Delay before it may run, e.g. 10m.")
@click.option("--unique", default=None, help="Uniqueness TTL, e.g. 1h.")
@click.option("--task-id", default=None, help="Caller-chosen task id.")
@click.option("--retention", default=None, help="Keep as completed this long, e.g. 1d.")
@click.option("--group", "-g", default=None, help="Aggregation group.")
@click.option(
    "--header",
    "-H",
    "headers",
    multiple=True,
    metavar="KEY=VALUE",
    help="Header to carry (repeatable).",
)
@json_option
@pass_state
def task_enqueue(
    st: State,
    task_type: str,
    payload: str | None,
    queue: str | None,
    max_retry: int | None,
    timeout: str | None,
    deadline: str | None,
    process_in: str | None,
    unique: str | None,
    task_id: str | None,
    retention: str | None,
    group: str | None,
    headers: Sequence[str],
    as_json: bool,
) -> None:
    """Enqueue a task (as a producer would)."""
    from fastq.client import Client
    from fastq.task import Task

    def dur(v: str | None) -> float | None:
        return None if v is None else parse_duration(v)

    t = Task(
        task_type,
        None if payload is None else read_payload(payload),
        queue=queue,
        max_retry=max_retry,
        timeout=dur(timeout),
        deadline=None if deadline is None else parse_instant(deadline),
        process_in=dur(process_in),
        unique=dur(unique),
        task_id=task_id,
        retention=dur(retention),
        group=group,
        headers=_header(headers) or None,
    )
    with Client(st.config) as client:
        info = client.enqueue(t)
    if as_json:
        print_json(info)
    else:
        when = f", runs {fmt_time(info.next_process_at)}" if info.state.value == "scheduled" else ""
        echo(f"Enqueued task {info.id} to queue {info.queue!r} ({info.state.value}{when})")


__all__ = ["CliError", "parse_duration", "parse_instant", "progress_bar", "task"]
