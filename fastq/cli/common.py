"""What every ``fastq`` subcommand shares: exit codes, errors, the root state, options."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from fastq.cli.render import console, echo
from fastq.config import ENV_REDIS_URL, RedisConfig
from fastq.errors import InvalidOptionError
from fastq.inspect.inspector import Inspector
from fastq.optstack import RedisOptions, subcommand_option


class ExitCode(IntEnum):
    """Exit statuses of the ``fastq`` command."""

    OK = 0  # success
    ERROR = 1  # any other failure
    USAGE = 2  # bad arguments or options, or a destructive command without --yes and no TTY
    NOT_FOUND = 3  # the queue, task or entry does not exist
    REDIS_UNAVAILABLE = 4  # Redis could not be reached
    CONFLICT = 5  # the task's state forbids it, queue not empty, duplicate or existing task
    ABORTED = 6  # the user declined the confirmation prompt
    INTERRUPTED = 130  # Ctrl-C; a bulk command stops between chunks, each chunk whole


EPILOG = (
    "\b\nExit codes:\n"
    + "\n".join(f"  {c.value:>3}  {c.name}" for c in ExitCode)
    + f"\n\n\bRedis: --redis-url or ${ENV_REDIS_URL} (default redis://127.0.0.1:6379/0)."
)

# Leaf commands carry the codes on one line; the root and groups show the full list.
LEAF_EPILOG = "Exit codes: " + ", ".join(f"{c.value} {c.name}" for c in ExitCode) + "."

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """A failure already explained for the user, with its exit code."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = int(code)

    def show(self, file: Any = None) -> None:
        echo(f"error: {self.format_message()}", err=True)


@dataclass
class State:
    """What the root command resolved, shared with every subcommand."""

    redis_url: str | None
    _inspector: Inspector | None = field(default=None, repr=False)

    @property
    def config(self) -> RedisConfig:
        try:
            return (
                RedisConfig.from_url(self.redis_url) if self.redis_url else RedisConfig.from_env()
            )
        except InvalidOptionError as exc:
            raise CliError(str(exc), ExitCode.USAGE) from exc

    def inspector(self) -> Inspector:
        if self._inspector is None:
            self._inspector = Inspector(self.config)
        return self._inspector


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def yes_option(f: F) -> F:
    return click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")(f)


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive change; refuse cleanly when nobody can answer."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(
            f"{question} Refusing without confirmation: pass --yes (stdin is not a terminal).",
            ExitCode.USAGE,
        )
    if not click.confirm(question, default=False, err=True):
        raise CliError("aborted", ExitCode.ABORTED)


pass_state = click.make_pass_decorator(State)


def _late_redis_url(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    state = ctx.find_object(State)
    if value is not None and state is not None:  # after the subcommand: wins over the root's
        state.redis_url = value


def accept_redis_url_anywhere(group: click.Group) -> None:
    """Let every subcommand of ``group`` also take ``--redis-url`` after its name."""
    for command in group.commands.values():
        if any(p.name == "redis_url" for p in command.params):
            continue  # an alias of a command already seen
        command.params.append(subcommand_option(RedisOptions, "redis_url", _late_redis_url))
        if isinstance(command, click.Group):
            accept_redis_url_anywhere(command)


PROGRESS_MIN = 500  # bulk commands touching at least this many tasks show a progress bar


class progress_bar:
    """A rich progress bar on stderr, shown only on a terminal for big jobs."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Progress | None = None
        self.task_id: Any = None

    def __enter__(self) -> Callable[[int, int], None]:
        return self.report

    def report(self, done: int, total: int) -> None:
        if self.bar is None:
            if total < PROGRESS_MIN or not sys.stderr.isatty():
                return
            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task_id = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task_id, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
