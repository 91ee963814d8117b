"""Schedule specs: when a periodic entry fires.

Accepted forms (Asynq's, plus an optional seconds field):

- five cron fields, ``"*/5 * * * *"`` (minute hour day-of-month month day-of-week);
- six fields with seconds first, ``"*/10 * * * * *"``;
- ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``),
  ``@hourly``;
- ``@every <duration>`` in Go's syntax, ``@every 30s``, ``@every 1h30m`` (whole
  seconds, at least one);
- any cron form may start with ``CRON_TZ=<zone>`` (or ``TZ=<zone>``), as robfig/cron
  accepts, which wins over the entry's and the scheduler's zone.

Cron fields are evaluated by ``cronsim`` in the entry's time zone with cron's DST
rules: a time skipped by a spring-forward runs once right after the jump, a time
repeated by a fall-back runs once (a ``30 2 * * *`` job runs once on both days),
while a wildcard-hour job like ``*/30 * * * *`` runs in both copies of the hour.

``@every`` ticks are multiples of the interval counted from the unix epoch, not
from when a scheduler started, so every scheduler of a fleet agrees on them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from fastq.errors import InvalidOptionError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_go_duration(text: str) -> float:
    """``1h30m`` / ``30s`` / ``1.5h`` -> seconds (Go's time.ParseDuration, unsigned)."""
    s = text.strip()
    if not s or _GO_DURATION.sub("", s):
        raise ValueError(f"not a duration: {text!r} (e.g. 30s, 5m, 1h30m)")
    return sum(float(n) * _UNITS[u] for n, u in _GO_DURATION.findall(s))


@lru_cache(maxsize=256)
def zone(name: str) -> tzinfo:
    """The tzinfo for an IANA zone name (``UTC`` included)."""
    if name in ("UTC", "Etc/UTC", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidOptionError("time_zone", f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class Schedule:
    """A parsed spec: ``next_after(t)`` and ``latest_at(t)`` in unix seconds.

    Args:
        spec: the text as given (shown in ``asynq cron ls``).
        tz: the zone cron fields are read in (``@every`` ignores it).
    """

    spec: str
    tz: tzinfo = timezone.utc
    every: int = 0  # seconds, for @every; 0 for cron forms
    cron: str = ""  # the cron expression handed to cronsim

    def next_after(self, t: float) -> int:
        """The first tick strictly after unix time ``t``."""
        if self.every:
            return (math.floor(t) // self.every + 1) * self.every
        start = datetime.fromtimestamp(math.floor(t), self.tz)
        return int(next(CronSim(self.cron, start)).timestamp())

    def latest_at(self, t: float) -> int:
        """The last tick at or before unix time ``t``."""
        if self.every:
            return (math.floor(t) // self.every) * self.every
        # cronsim's reverse iteration yields ticks strictly before its start.
        start = datetime.fromtimestamp(math.floor(t) + 1, self.tz)
        return int(next(CronSim(self.cron, start, reverse=True)).timestamp())

    def period_hint(self, t: float) -> int:
        """Seconds between the two ticks after ``t`` (sizes the tick key's TTL)."""
        a = self.next_after(t)
        return self.next_after(a) - a


def parse_spec(spec: str, tz: str | tzinfo | None = None) -> Schedule:
    """Parse ``spec``; ``tz`` is the entry's (or scheduler's) zone, default UTC.

    Raises ``InvalidOptionError`` naming the problem.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidOptionError("spec", "must be a non-empty string")
    text = " ".join(spec.split())
    zone_info: tzinfo = zone(tz) if isinstance(tz, str) else (tz or timezone.utc)
    head, _, rest = text.partition(" ")
    if head.startswith(("CRON_TZ=", "TZ=")):
        zone_info = zone(head.split("=", 1)[1])
        text = rest
    if text.startswith("@every"):
        arg = text[len("@every") :].strip()
        try:
            secs = parse_go_duration(arg)
        except ValueError as exc:
            raise InvalidOptionError("spec", f"{spec!r}: {exc}") from None
        if secs < 1 or secs != int(secs):
            raise InvalidOptionError("spec", f"{spec!r}: @every takes whole seconds >= 1s")
        return Schedule(spec, zone_info, every=int(secs))
    cron = MACROS.get(text.lower(), text)
    if cron.startswith("@"):
        raise InvalidOptionError("spec", f"{spec!r}: unknown macro; use one of {sorted(MACROS)}")
    if len(cron.split()) not in (5, 6):
        raise InvalidOptionError(
            "spec", f"{spec!r}: a cron spec has 5 fields (or 6, seconds first)"
        )
    try:
        CronSim(cron, datetime(2000, 1, 1, tzinfo=timezone.utc))
    except CronSimError as exc:
        raise InvalidOptionError("spec", f"{spec!r}: {exc}") from None
    return Schedule(spec, zone_info, cron=cron)
