"""The ``fastq`` command line: inspect and steer queues, tasks, servers and schedulers.

The verbs follow the asynq CLI (``stats``, ``queue``, ``task``, ``server``, ``cron``).
Every read command takes ``--json``; errors exit with the named codes of ``ExitCode``.
Run it as ``fastq ...`` or ``python3 -m fastq.cli ...``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
from setproctitle import setproctitle

from fastq import __version__
from fastq.cli.common import (
    EPILOG,
    LEAF_EPILOG,
    CliError,
    ExitCode,
    State,
    accept_redis_url_anywhere,
    confirm,
    json_option,
    pass_state,
    progress_bar,
    yes_option,
)
from fastq.cli.render import (
    console,
    echo,
    error_rate,
    fmt_bytes,
    fmt_duration,
    fmt_time,
    payload_preview,
    print_json,
    show_fields,
    table,
)
from fastq.cli.task import task
from fastq.errors import (
    BrokerConfigError,
    BrokerConnectionError,
    DuplicateTaskError,
    FastqError,
    InvalidOptionError,
    InvalidStateError,
    NotFoundError,
    QueueNotEmptyError,
    TaskIDConflictError,
)
from fastq.optstack import RedisOptions, click_params
from fastq.redact import redact_text, scrub_argv


@click.group(
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
    params=click_params(RedisOptions),  # --redis-url / FASTQ_REDIS_URL, as fastq-worker
)
@click.version_option(version=__version__, prog_name="fastq")
@click.pass_context
def cli(ctx: click.Context, redis_url: str) -> None:
    """Inspect and steer fastq (and Go Asynq) queues in Redis."""
    ctx.obj = State(redis_url)
    ctx.call_on_close(lambda: ctx.obj._inspector and ctx.obj._inspector.close())


# --- stats -----------------------------------------------------------------------------

STATE_COLUMNS = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating")


@cli.command(epilog=LEAF_EPILOG)
@json_option
@pass_state
def stats(st: State, as_json: bool) -> None:
    """Show counts per state and queue, today's processed/failed, and Redis info."""
    insp = st.inspector()
    infos = insp.all_queue_info()
    redis = insp.redis_info()
    totals = {s: sum(getattr(i, s) for i in infos) for s in STATE_COLUMNS}
    processed = sum(i.processed for i in infos)
    failed = sum(i.failed for i in infos)
    if as_json:
        print_json(
            {
                "totals": totals,
                "processed_today": processed,
                "failed_today": failed,
                "queues": infos,
                "redis": redis,
            }
        )
        return
    out = console()
    out.print(
        table(
            "Task Count by State",
            [s.title() for s in STATE_COLUMNS],
            [[totals[s] for s in STATE_COLUMNS]],
        )
    )
    out.print()
    out.print(
        table(
            "Task Count by Queue",
            ["Queue", "Paused", "Size", "Latency", *(s.title() for s in STATE_COLUMNS)],
            [
                [
                    i.queue,
                    "yes" if i.paused else "no",
                    i.size,
                    fmt_duration(i.latency),
                    *(getattr(i, s) for s in STATE_COLUMNS),
                ]
                for i in infos
            ],
        )
    )
    out.print()
    out.print(
        table(
            "Daily Stats (UTC today)",
            ["Processed", "Failed", "Error Rate"],
            [[processed, failed, error_rate(processed, failed)]],
        )
    )
    out.print()
    out.print(
        table(
            "Redis Info",
            ["Version", "Uptime", "Connections", "Memory Usage", "Peak Memory"],
            [
                [
                    redis.get("redis_version", ""),
                    fmt_duration(float(redis.get("uptime_in_seconds", 0))),
                    redis.get("connected_clients", ""),
                    redis.get("used_memory_human", ""),
                    redis.get("used_memory_peak_human", ""),
                ]
            ],
        )
    )


# --- queue -----------------------------------------------------------------------------


@cli.group(epilog=EPILOG)
def queue() -> None:
    """Manage queues: list, inspect, history, pause, resume, remove."""


@queue.command("ls", epilog=LEAF_EPILOG)
@json_option
@pass_state
def queue_ls(st: State, as_json: bool) -> None:
    """List queue names, one a line."""
    names = st.inspector().queues()
    if as_json:
        print_json(names)
    else:
        for name in names:
            echo(name)


@queue.command("inspect", epilog=LEAF_EPILOG)
@click.argument("queues", nargs=-1, required=True, metavar="QUEUE...")
@json_option
@pass_state
def queue_inspect(st: State, queues: Sequence[str], as_json: bool) -> None:
    """Show details of one or more queues."""
    infos = [st.inspector().queue_info(q) for q in queues]
    if as_json:
        print_json(infos if len(infos) > 1 else infos[0])
        return
    out = console()
    for n, i in enumerate(infos):
        if n:
            out.print()
        fields: list[tuple[str, object]] = [
            ("Name", i.queue),
            ("Size", i.size),
            ("Groups", i.groups),
            ("Latency", fmt_duration(i.latency)),
            ("Memory usage", fmt_bytes(i.memory_usage)),
            ("Paused", "yes" if i.paused else "no"),
        ]
        show_fields(out, "Queue Info", fields + [("Problem", p) for p in i.problems])
        out.print()
        out.print(
            table(
                "Task Count by State",
                [s.title() for s in STATE_COLUMNS],
                [[getattr(i, s) for s in STATE_COLUMNS]],
            )
        )
        out.print()
        out.print(
            table(
                "Daily Stats",
                ["", "Processed", "Failed", "Error Rate"],
                [
                    ["today (UTC)", i.processed, i.failed, error_rate(i.processed, i.failed)],
                    [
                        "all time",
                        i.processed_total,
                        i.failed_total,
                        error_rate(i.processed_total, i.failed_total),
                    ],
                ],
            )
        )


@queue.command("history", epilog=LEAF_EPILOG)
@click.argument("queues", nargs=-1, required=True, metavar="QUEUE...")
@click.option(
    "--days",
    "-x",
    type=click.IntRange(1, 90),
    default=7,
    show_default=True,
    help="How many days back, today first.",
)
@json_option
@pass_state
def queue_history(st: State, queues: Sequence[str], days: int, as_json: bool) -> None:
    """Show daily processed/failed counts of one or more queues."""
    hist = {q: st.inspector().history(q, days) for q in queues}
    if as_json:
        print_json(hist if len(queues) > 1 else hist[queues[0]])
        return
    out = console()
    for q, rows in hist.items():
        out.print(
            table(
                f"Queue: {q}",
                ["Date (UTC)", "Processed", "Failed", "Error Rate"],
                [[d.date, d.processed, d.failed, error_rate(d.processed, d.failed)] for d in rows],
            )
        )


@queue.command("pause", epilog=LEAF_EPILOG)
@click.argument("queues", nargs=-1, required=True, metavar="QUEUE...")
@pass_state
def queue_pause(st: State, queues: Sequence[str]) -> None:
    """Pause queues: workers stop fetching new tasks from them."""
    for q in queues:
        changed = st.inspector().pause(q)
        echo(f"Paused queue {q!r}" if changed else f"Queue {q!r} was already paused")


@queue.command("resume", epilog=LEAF_EPILOG)
@click.argument("queues", nargs=-1, required=True, metavar="QUEUE...")
@pass_state
def queue_resume(st: State, queues: Sequence[str]) -> None:
    """Resume paused queues (alias: unpause)."""
    for q in queues:
        changed = st.inspector().unpause(q)
        echo(f"Resumed queue {q!r}" if changed else f"Queue {q!r} was not paused")


queue.add_command(queue_resume, "unpause")


@queue.command("limit", epilog=LEAF_EPILOG)
@click.argument("queue_name", required=False, metavar="[QUEUE]")
@click.argument("cap", required=False, type=click.IntRange(min=1), metavar="[N]")
@click.option("--clear", is_flag=True, help="Remove the stored cap (workers' own caps apply).")
@json_option
@pass_state
def queue_limit(
    st: State, queue_name: str | None, cap: int | None, clear: bool, as_json: bool
) -> None:
    """Cap how many tasks of QUEUE run at once across every fastq-worker.

    `fastq queue limit stripe 5` stores the cap, `--clear` removes it; without N it
    shows the stored caps. Workers apply a change within a second.
    """
    insp = st.inspector()
    if queue_name is not None and (cap is not None or clear):
        if cap is not None and clear:
            raise click.UsageError("give N or --clear, not both")
        insp.set_queue_limit(queue_name, None if clear else cap)
        if clear:
            click.echo(f"Cleared the cap of queue {queue_name!r}")
        else:
            click.echo(f"Queue {queue_name!r}: at most {cap} running at once")
        return
    limits = insp.queue_limits()
    if queue_name is not None:
        limits = {q: n for q, n in limits.items() if q == queue_name}
    if as_json:
        print_json(limits)
        return
    rows = [[q, n] for q, n in sorted(limits.items())]
    console().print(table("Queue caps (stored)", ["Queue", "Cap"], rows))


@queue.command("rm", epilog=LEAF_EPILOG)
@click.argument("queues", nargs=-1, required=True, metavar="QUEUE...")
@click.option(
    "--force", "-f", is_flag=True, help="Also delete the tasks in the queue (never active ones)."
)
@yes_option
@pass_state
def queue_rm(st: State, queues: Sequence[str], force: bool, yes: bool) -> None:
    """Remove queues. Refused if a queue has tasks, unless --force."""
    if force:
        insp = st.inspector()
        sizes = {q: insp.queue_info(q).size for q in queues}
        confirm(
            f"Delete queue(s) {', '.join(queues)} and their {sum(sizes.values())} task(s)?", yes
        )
    for q in queues:
        with progress_bar(f"Removing {q}") as report:
            st.inspector().delete_queue(q, force=force, progress=report)
        echo(f"Removed queue {q!r}")


@cli.group(epilog=EPILOG)
def group() -> None:
    """Show aggregation groups."""


@group.command("ls", epilog=LEAF_EPILOG)
@click.option("--queue", "-q", required=True, help="Queue whose groups to list.")
@json_option
@pass_state
def group_ls(st: State, queue: str, as_json: bool) -> None:
    """List the aggregation groups of a queue and how many tasks wait in each."""
    groups = st.inspector().groups(queue)
    if as_json:
        print_json([{"group": g, "size": n} for g, n in groups])
    elif not groups:
        echo(f"No groups in queue {queue!r}")
    else:
        console().print(table(None, ["Group", "Size"], groups))


# --- servers and cron ------------------------------------------------------------------


@cli.group(epilog=EPILOG)
def server() -> None:
    """Show the worker servers that are running."""


@server.command("ls", epilog=LEAF_EPILOG)
@json_option
@pass_state
def server_ls(st: State, as_json: bool) -> None:
    """List live servers (fastq and Go Asynq) and how busy they are."""
    servers = st.inspector().servers()
    if as_json:
        print_json(servers)
        return
    if not servers:
        echo("No running servers")
        return
    console().print(
        table(
            None,
            ["Host", "PID", "Server ID", "State", "Active Workers", "Queues", "Started"],
            [
                [
                    s.host,
                    s.pid,
                    s.server_id,
                    s.status,
                    f"{len(s.active_workers)}/{s.concurrency}",
                    ", ".join(f"{q}:{w}" for q, w in sorted(s.queues.items())),
                    fmt_time(s.started),
                ]
                for s in servers
            ],
        )
    )


@cli.group(epilog=EPILOG)
def cron() -> None:
    """Show periodic task entries and their enqueue history."""


@cron.command("ls", epilog=LEAF_EPILOG)
@json_option
@pass_state
def cron_ls(st: State, as_json: bool) -> None:
    """List periodic task entries of the live schedulers."""
    entries = st.inspector().scheduler_entries()
    if as_json:
        print_json(entries)
        return
    if not entries:
        echo("No scheduler entries")
        return
    console().print(
        table(
            None,
            ["Entry ID", "Spec", "Type", "Payload", "Options", "Next Enqueue", "Prev Enqueue"],
            [
                [
                    e.id,
                    e.spec,
                    e.task_type,
                    payload_preview(e.payload),
                    ", ".join(e.options),
                    fmt_time(e.next_enqueue_at),
                    fmt_time(e.prev_enqueue_at),
                ]
                for e in entries
            ],
        )
    )


@cron.command("history", epilog=LEAF_EPILOG)
@click.argument("entry_ids", nargs=-1, required=True, metavar="ENTRY_ID...")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--size", type=click.IntRange(1, 10_000), default=30, show_default=True)
@json_option
@pass_state
def cron_history(st: State, entry_ids: Sequence[str], page: int, size: int, as_json: bool) -> None:
    """Show the tasks each entry enqueued, newest first."""
    hist = {e: st.inspector().scheduler_history(e, page, size) for e in entry_ids}
    unknown = [e for e, events in hist.items() if not events and page == 1]
    if unknown:  # no history at all: known only if a live scheduler has the entry
        live = {entry.id for entry in st.inspector().scheduler_entries()}
        missing = [e for e in unknown if e not in live]
        if missing:
            names = ", ".join(repr(e) for e in missing)
            raise CliError(f"no scheduler entry {names} (see `fastq cron ls`)", ExitCode.NOT_FOUND)
    if as_json:
        print_json(hist if len(entry_ids) > 1 else hist[entry_ids[0]])
        return
    out = console()
    for e, events in hist.items():
        out.print(
            table(
                f"Entry: {e}",
                ["Enqueued At", "Task ID"],
                [[fmt_time(ev.enqueued_at), ev.task_id] for ev in events],
            )
        )


@cli.command("scheduler", epilog=LEAF_EPILOG)
@click.argument("app")
@click.option("--config", "config_path", metavar="PATH", help="TOML/YAML entries file.")
@click.option("--tz", metavar="ZONE", help="Zone for entries without one (default UTC).")
@click.option("--log-level", default="info", show_default=True, metavar="LEVEL")
@pass_state
def scheduler(st: State, app: str, config_path: str | None, tz: str | None, log_level: str) -> int:
    """Run the periodic-task scheduler of APP (module:attribute) until TERM/INT.

    HUP re-reads the config file. Run as many as you like: each tick is enqueued once.
    """
    from fastq.apploader import AppLoader
    from fastq.logging import configure_logging
    from fastq.scheduler.main import build_scheduler, run

    configure_logging(level=log_level)
    return run(build_scheduler(AppLoader(app).load(), st.config, config_path, tz=tz))


cli.add_command(task)
accept_redis_url_anywhere(cli)


@cli.command("metrics", epilog=LEAF_EPILOG)
@click.option("--port", default=9812, show_default=True, help="TCP port to serve /metrics on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--redis-url", "url", metavar="URL", default=None, help="Overrides the root option.")
@pass_state
def metrics_cmd(st: State, port: int, host: str, url: str | None) -> None:
    """Serve queue metrics (Asynq's names plus fastq_*) for Prometheus at /metrics."""
    from fastq.metrics.exporter import serve  # prometheus_client only for this command

    if url is not None:
        st.redis_url = url
    serve(host, port, st.inspector())


# --- dash: the web dashboard lives in fastq.dash (the `dash` extra), imported on use ---
@cli.command(
    "dash",
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.pass_context
def dash_cmd(ctx: click.Context) -> None:
    """Serve the web dashboard (`fastq dash --help`; needs `pip install 'fastq-asynq[dash]'`)."""
    try:
        from fastq.dash.cli import dash
    except ModuleNotFoundError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    root = ctx.find_root().params.get("redis_url")
    dash.main(
        args=ctx.args,
        prog_name="fastq dash",
        default_map={"redis_url": root} if root else None,
        standalone_mode=False,  # errors and exit codes are handled by main()
    )


# --- entry point -----------------------------------------------------------------------


def hide_password_in_argv() -> None:
    """Mask a ``--redis-url`` password in sys.argv and in the title ``ps`` shows."""
    before = list(sys.argv)
    scrub_argv(sys.argv)
    if sys.argv != before:
        setproctitle(" ".join(["fastq", *sys.argv[1:]]))


def _exit_code(exc: FastqError) -> ExitCode:
    if isinstance(exc, BrokerConnectionError):
        return ExitCode.REDIS_UNAVAILABLE
    if isinstance(exc, BrokerConfigError):
        return ExitCode.USAGE  # a wrong password or DB index: fix the URL, do not retry
    if isinstance(exc, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(
        exc, (InvalidStateError, QueueNotEmptyError, TaskIDConflictError, DuplicateTaskError)
    ):
        return ExitCode.CONFLICT
    if isinstance(exc, InvalidOptionError):
        return ExitCode.USAGE
    return ExitCode.ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (an ``ExitCode``)."""
    if argv is None:
        hide_password_in_argv()
    try:
        rv = cli.main(
            args=list(argv) if argv is not None else None, prog_name="fastq", standalone_mode=False
        )
    except click.exceptions.Abort:
        echo("aborted", err=True)
        return ExitCode.ABORTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except FastqError as exc:
        echo(f"error: {redact_text(str(exc))}", err=True)  # with the cause's reason
        return _exit_code(exc)
    except BrokenPipeError:
        return ExitCode.OK  # `fastq ... | head` closed the pipe; not an error
    except KeyboardInterrupt:
        echo("interrupted", err=True)
        return ExitCode.INTERRUPTED
    return rv if isinstance(rv, int) else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
