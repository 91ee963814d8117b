"""Parsing and holding flow-control settings: concurrency caps and GCRA rate limits.

A rate limit is enforced in Redis by GCRA (the Generic Cell Rate Algorithm, as in
ATM networks and redis-cell): one key holds the theoretical arrival time (TAT) of
the next request; a request at ``now`` conforms while ``TAT - now <= (burst - 1) *
interval``, and each conforming request moves TAT on by ``interval = period /
count``. The state is one integer per limit and one script call decides a batch.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from fastq.errors import InvalidOptionError

_RATE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*/\s*(ms|s|sec|second|m|min|minute|h|hour)\s*"
    r"(?:(?:burst\s*|@\s*)(\d+))?\s*$",
    re.IGNORECASE,
)
_PERIODS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0}
_PERIODS |= {"minute": 60.0, "h": 3600.0, "hour": 3600.0}


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` per ``period`` seconds, with up to ``burst`` at once.

    Args:
        count: how many per period (> 0).
        period: the period in seconds (> 0).
        burst: how many may start back to back after an idle spell (>= 1).
    """

    count: float
    period: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.count > 0 and self.period > 0 and self.burst >= 1):
            raise InvalidOptionError("rate", "count and period must be > 0 and burst >= 1")

    @property
    def interval_ms(self) -> int:
        """Milliseconds between two tokens (at least 1)."""
        return max(1, round(self.period * 1000 / self.count))

    def __str__(self) -> str:
        return f"{self.count:g}/{self.period:g}s burst {self.burst}"


def default_burst(count: float, period: float) -> int:
    """A tenth of a second's worth of tokens, at least one: fetches that come a few
    milliseconds late still take the tokens that came due meanwhile."""
    return max(1, math.ceil(count / period / 10))


def parse_rate(text: Any) -> Rate:
    """``"100/s"``, ``"1000/min"``, ``"200/s burst 20"`` (or ``"200/s@20"``) -> Rate.

    Args:
        text: the rate; units ms, s, m/min, h; the burst defaults to a tenth of a
            second's worth (at least 1).
    """
    if isinstance(text, Rate):
        return text
    m = _RATE.match(str(text))
    if not m:
        raise InvalidOptionError("rate", f"not a rate: {text!r} (e.g. 100/s, 1000/min burst 50)")
    count, period = float(m.group(1)), _PERIODS[m.group(2).lower()]
    if count <= 0:
        raise InvalidOptionError("rate", f"must be more than 0 per period: {text!r}")
    burst = int(m.group(3)) if m.group(3) else default_burst(count, period)
    return Rate(count, period, burst)


def parse_caps(spec: Any) -> dict[str, int]:
    """``"stripe=5,mail=2"`` or a mapping -> {queue: cap}; a cap is an int >= 1."""
    out: dict[str, int] = {}
    for name, value in _pairs(spec, "queue_limits"):
        try:
            cap = int(str(value).strip())
        except ValueError:
            raise InvalidOptionError("queue_limits", f"cap of {name!r} is not an integer") from None
        if cap < 1:
            raise InvalidOptionError("queue_limits", f"cap of {name!r} must be >= 1")
        out[name] = cap
    return out


def parse_rates(spec: Any) -> dict[str, Rate]:
    """``"stripe=100/s,mail=1000/min burst 50"`` or a mapping -> {name: Rate}."""
    return {name: parse_rate(value) for name, value in _pairs(spec, "rate_limits")}


def _pairs(spec: Any, option: str) -> list[tuple[str, Any]]:
    if isinstance(spec, dict):
        return [(str(k), v) for k, v in spec.items()]
    pairs = []
    for part in str(spec).split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise InvalidOptionError(option, f"expected NAME=VALUE, got {part.strip()!r}")
        pairs.append((name.strip(), value.strip()))
    return pairs
