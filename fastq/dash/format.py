"""Turning Redis data into display text: the filters the templates use.

Jinja escapes every string (autoescape is on and nothing is marked safe), so these
only make text readable: control characters (terminal escapes included) become
visible ``\\xNN`` escapes, bytes that are not UTF-8 become a hex dump, long values
are cut.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

PREVIEW_CHARS = 200
DETAIL_BYTES = 64 * 1024  # task page: show this much of a payload or result
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with control and bidi-override characters shown as escapes.

    Args:
        text: any string (task type, queue name, error...).
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def as_text(data: bytes | str | None) -> str | None:
    """Bytes as visible text, or None when they are not UTF-8.

    Args:
        data: raw bytes or text.
    """
    if data is None:
        return ""
    if isinstance(data, str):
        return visible(data)
    try:
        return visible(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def preview(data: bytes | str | None, limit: int = PREVIEW_CHARS) -> str:
    """A one-line preview: text cut to ``limit`` characters, or a hex start for binary.

    Args:
        data: payload, result or error.
        limit: most characters to show.
    """
    text = as_text(data)
    if text is None:
        assert isinstance(data, bytes)
        return f"<{len(data)} bytes> " + data[: limit // 3].hex(" ")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty(data: bytes | None) -> dict[str, Any]:
    """How the task page shows a payload or result.

    Returns ``{"kind": "json"|"text"|"hex"|"empty", "text": ..., "size": n, "cut": bool}``.

    Args:
        data: the raw bytes.
    """
    if not data:
        return {"kind": "empty", "text": "", "size": 0, "cut": False}
    size = len(data)
    cut = size > DETAIL_BYTES
    head = data[:DETAIL_BYTES]
    if not cut:
        try:
            parsed = json.loads(data)
            text = json.dumps(parsed, indent=2, ensure_ascii=False, sort_keys=False)
            return {"kind": "json", "text": visible(text), "size": size, "cut": False}
        except (ValueError, RecursionError):
            pass
    shown = as_text(head)
    for trim in (1, 2, 3):  # the cut may have split a multi-byte character
        if shown is not None or not cut:
            break
        shown = as_text(head[:-trim])
    if shown is not None:
        return {"kind": "text", "text": shown, "size": size, "cut": cut}
    return {"kind": "hex", "text": hexdump(head), "size": size, "cut": cut}


def hexdump(data: bytes) -> str:
    """Classic 16-bytes-a-line hex and ASCII dump.

    Args:
        data: the bytes to dump.
    """
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {chunk.hex(' '):<47}  {text}")
    return "\n".join(lines)


def fmt_bytes(n: int | float | None) -> str:
    """1536 -> '1.5 KiB'.

    Args:
        n: a byte count.
    """
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def fmt_duration(seconds: float | int | None) -> str:
    """3725 -> '1h2m'; 2.5 -> '2.5s'.

    Args:
        seconds: a duration.
    """
    if seconds is None:
        return "-"
    s = float(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 60:
        return f"{sign}{s:.1f}s" if s < 10 else f"{sign}{s:.0f}s"
    m, sec = divmod(int(s), 60)
    if m < 60:
        return f"{sign}{m}m{sec}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{sign}{h}h{m}m"
    return f"{sign}{h // 24}d{h % 24}h"


def iso(dt: datetime | None) -> str:
    """ISO 8601 UTC for ``<time datetime=...>`` (the browser shows it in local time).

    Args:
        dt: an aware datetime.
    """
    return "" if dt is None else dt.astimezone(timezone.utc).isoformat(timespec="seconds")


def fmt_time(dt: datetime | None) -> str:
    """'2026-11-30 04:12:00 UTC' (the no-script fallback of local time).

    Args:
        dt: an aware datetime.
    """
    return "-" if dt is None else dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative(dt: datetime | None, now: datetime | None = None) -> str:
    """'in 8s' / '3m ago'.

    Args:
        dt: the moment.
        now: the reference time (default: now, UTC).
    """
    if dt is None:
        return "-"
    delta = (dt - (now or datetime.now(timezone.utc))).total_seconds()
    return f"in {fmt_duration(delta)}" if delta >= 0 else f"{fmt_duration(-delta)} ago"


def expiry(completed_at: datetime | None, retention: int) -> str:
    """When a completed task's record expires, relative to now ('in 9m59s').

    Args:
        completed_at: when it completed.
        retention: seconds it is kept.
    """
    if completed_at is None:
        return "-"
    return relative(completed_at + timedelta(seconds=retention))


def error_rate(processed: int, failed: int) -> str:
    """Failed over processed today, as Asynqmon shows it.

    Args:
        processed: tasks processed today (failures included).
        failed: tasks failed today.
    """
    return "-" if processed <= 0 else f"{100.0 * failed / processed:.2f} %"


def short_id(task_id: str) -> str:
    """The first 8 characters of an id, as Asynqmon's tables show them.

    Args:
        task_id: the task id.
    """
    return visible(task_id[:8]) if len(task_id) > 10 else visible(task_id)


FILTERS = {
    "visible": visible,
    "preview": preview,
    "fmt_bytes": fmt_bytes,
    "fmt_duration": fmt_duration,
    "iso": iso,
    "fmt_time": fmt_time,
    "relative": relative,
    "short_id": short_id,
}
GLOBALS = {"error_rate": error_rate, "expiry": expiry}
