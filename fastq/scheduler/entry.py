"""A periodic entry: a schedule, the task it enqueues, and the ids that make a tick
enqueue once across a fleet.

The entry id is derived from what the entry *is* (spec, zone, task type, payload
and options) unless given, so every scheduler that runs the same code or config
computes the same id: they share the tick key and the enqueue history. The task
id of each tick is derived from (entry id, tick), a second guard behind the tick
claim (a task whose id exists is never enqueued again).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone, tzinfo
from typing import Any

from fastq.errors import InvalidOptionError
from fastq.options import merge_options, normalize_options
from fastq.scheduler.spec import Schedule, parse_spec
from fastq.task import Task

MISSED_POLICIES = ("skip", "last")
_REFUSED = ("task_id", "process_at")  # one fixed id or instant cannot repeat


def go_duration(seconds: float) -> str:
    """Seconds in Go's time.Duration.String() form: ``30s``, ``1m0s``, ``1h0m0s``."""
    s = int(seconds)
    if s == 0:
        return "0s"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def _unix_date(ts: float) -> str:
    # Go's time.UnixDate layout, in UTC: "Mon Jan  2 15:04:05 UTC 2006"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%a %b %e %H:%M:%S UTC %Y")


# Asynq's Option.String() of each option it writes, in OPTION_NAMES order (headers
# and the refused task_id/process_at are not written).
_OPTION_STRINGS: dict[str, Callable[[Any], str]] = {
    "queue": lambda v: f'Queue("{v}")',
    "max_retry": lambda v: f"MaxRetry({v})",
    "timeout": lambda v: f"Timeout({go_duration(v)})",
    "deadline": lambda v: f"Deadline({_unix_date(v)})",
    "process_in": lambda v: f"ProcessIn({go_duration(v)})",
    "unique": lambda v: f"Unique({go_duration(v)})",
    "retention": lambda v: f"Retention({go_duration(v)})",
    "group": lambda v: f'Group("{v}")',
}


def option_strings(options: dict[str, Any]) -> list[str]:
    """Options as Asynq's ``Option.String()`` writes them in a SchedulerEntry.

    Args:
        options: normalized task options (a stable order, whatever order they were given in).
    """
    return [text(options[name]) for name, text in _OPTION_STRINGS.items() if name in options]


@dataclass(frozen=True)
class Entry:
    """One periodic entry.

    Args:
        id: the entry id (shown by ``asynq cron ls``; names its history).
        schedule: the parsed spec.
        task: the task enqueued at each tick.
        options: enqueue options (normalized), over the task's own.
        missed: ``"skip"`` (default, as Asynq) or ``"last"``: after every scheduler
            was down, enqueue the most recent missed tick once at startup.
        source: where the entry was declared (``code`` or the config file path).
    """

    id: str
    schedule: Schedule
    task: Task
    options: dict[str, Any] = field(default_factory=dict)
    missed: str = "skip"
    source: str = "code"
    zone_given: bool = True  # False: the scheduler's default zone applies
    id_given: bool = True  # False: the id is derived (and follows the zone)

    @property
    def spec(self) -> str:
        return self.schedule.spec

    @property
    def queue(self) -> str:
        return str(merge_options(self.task.options, self.options).get("queue", "default"))

    def task_id_for(self, tick: int) -> str:
        """The deterministic task id of this entry's ``tick``."""
        digest = hashlib.sha256(f"{self.id}\0{tick}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def with_default_zone(self, tz: str | tzinfo | None) -> Entry:
        """This entry read in the scheduler's zone ``tz`` unless it named its own."""
        if self.zone_given or tz is None:
            return self
        schedule = parse_spec(self.schedule.spec, tz)
        eid = self.id if self.id_given else _derived_id(schedule, self.task, self.options)
        return replace(self, id=eid, schedule=schedule, zone_given=True)

    def enqueue_options(self) -> list[str]:
        """The entry's options as Asynq writes them in ``asynq:schedulers:{id}``."""
        return option_strings(merge_options(self.task.options, self.options))


def make_entry(
    spec: str,
    task: Task,
    *,
    tz: str | tzinfo | None = None,
    missed: str = "skip",
    entry_id: str | None = None,
    source: str = "code",
    **options: Any,
) -> Entry:
    """Build and validate an entry (see ``App.schedule`` for the arguments).

    Raises ``InvalidOptionError`` for a bad spec, zone, policy or option.
    """
    if not isinstance(task, Task):
        raise InvalidOptionError("task", f"must be a fastq.Task, got {type(task).__name__}")
    if missed not in MISSED_POLICIES:
        raise InvalidOptionError("missed", f"must be one of {', '.join(MISSED_POLICIES)}")
    opts = normalize_options(options)
    for name in _REFUSED:
        if name in opts or name in task.options:
            raise InvalidOptionError(name, "cannot be set on a periodic entry (it repeats)")
    schedule = parse_spec(spec, tz)
    if entry_id is not None and (not isinstance(entry_id, str) or not entry_id.strip()):
        raise InvalidOptionError("entry_id", "must be a non-empty string")
    eid = entry_id or _derived_id(schedule, task, opts)
    return Entry(eid, schedule, task, opts, missed, source, tz is not None, entry_id is not None)


def _derived_id(schedule: Schedule, task: Task, opts: dict[str, Any]) -> str:
    merged = merge_options(task.options, opts)
    ident = repr((schedule.spec, str(schedule.tz), task.type, task.payload, sorted(merged.items())))
    return str(uuid.UUID(bytes=hashlib.sha256(ident.encode()).digest()[:16], version=4))
