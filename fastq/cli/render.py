"""How the ``fastq`` CLI shows things: payload previews, times, sizes, tables, JSON.

Everything read from Redis is hostile: a task type, queue name or server host may
hold terminal escape sequences (ESC/CSI, OSC-8 links, OSC-0 titles), C1 controls,
bidi overrides or undecodable bytes. ``safe`` is the one escape, and every way the
CLI prints (``table``, ``show_fields``, ``echo``, ``print_json``) goes through it, so
command code never prints a Redis-derived string itself.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import IO, Any, TextIO, cast

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fastq.inspect.types import to_jsonable

TABLE_PAYLOAD_WIDTH = 40
TABLE_TEXT_WIDTH = 60


class _RStrip(io.TextIOBase):
    """A text stream that drops the trailing spaces rich pads table rows with."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(_TRAILING.sub("\n", text))

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


_TRAILING = re.compile(r"[ \t]+\n")


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(file=stream, highlight=False, emoji=False)
    # Piped output keeps whole rows (no wrapping at 80 columns) so grep/awk still work.
    return Console(
        file=cast(IO[str], _RStrip(stream)), width=400, soft_wrap=True, highlight=False, emoji=False
    )


def _json_escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells characters past the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


# Candidates only: json.dumps already escaped C0 controls, quotes and backslashes.
_JSON_CANDIDATE = re.compile("[^\x20-\x7e\n]")


def print_json(data: Any) -> None:
    """Indented JSON; characters ``safe`` would escape are written as \\u escapes."""
    text = json.dumps(to_jsonable(data), indent=2, ensure_ascii=False)
    # Outside the ASCII range they can only sit inside JSON strings, where \\uXXXX
    # means the same character: the JSON is unchanged, the terminal sees no control.
    sys.stdout.write(_JSON_CANDIDATE.sub(_json_escape, text) + "\n")


def safe(value: object, *, multiline: bool = False) -> str:
    """The one escape for text on its way to the terminal: non-printable characters
    (controls, C1, bidi overrides, lone surrogates) become visible escapes.

    Args:
        value: what to show (``str(value)`` is escaped).
        multiline: keep line breaks as line breaks (pretty JSON); otherwise they are
            escaped too, so one value stays on one line.
    """
    text = str(value)
    if multiline:
        return "\n".join(escape_text(line) for line in text.split("\n"))
    return escape_text(text)


def echo(text: object, *, err: bool = False) -> None:
    """Print one line (stdout, or stderr with ``err``), escaped."""
    stream = sys.stderr if err else sys.stdout
    stream.write(safe(text, multiline=True) + "\n")
    stream.flush()


def show_fields(
    out: Console, title: str, fields: Sequence[tuple[str, object]], *, multiline: Iterable[str] = ()
) -> None:
    """A bold title, then ``Label:  value`` lines with the values aligned and escaped.

    Args:
        out: the console to print on.
        title: the heading.
        fields: (label, value) pairs in display order.
        multiline: labels whose values keep their line breaks (pretty JSON).
    """
    keep = set(multiline)
    out.print(Text(title, style="bold"))
    width = max((len(k) for k, _ in fields), default=0) + 2
    for k, v in fields:
        out.print(Text(f"{k + ':':<{width}}{safe(v, multiline=k in keep)}"))


def escape_text(text: str) -> str:
    """Control and other non-printable characters as Python-style escapes."""
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return "".join(out)


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def payload_preview(data: bytes | None, *, full: bool = False) -> str:
    """JSON compact (pretty when ``full``), text escaped, binary as a hex/base64 note."""
    if not data:
        return ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if full:
            return f"<binary, {len(data)} bytes> base64: {base64.b64encode(data).decode()}"
        return truncate(f"<binary {len(data)} B> {data[:16].hex()}", TABLE_PAYLOAD_WIDTH)
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    else:
        if isinstance(obj, (dict, list)):
            if full:
                return json.dumps(obj, indent=2, ensure_ascii=False)
            compact = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
            return truncate(escape_text(compact), TABLE_PAYLOAD_WIDTH)
    return escape_text(text) if full else truncate(escape_text(text), TABLE_PAYLOAD_WIDTH)


def fmt_time(t: datetime | None, *, now: datetime | None = None) -> str:
    """``2026-11-28 01:22:39 UTC (in 5m)`` style; "" for None."""
    if t is None:
        return ""
    now = now or datetime.now(timezone.utc)
    delta = (t - now).total_seconds()
    if abs(delta) < 1:
        rel = "now"  # due within the second: neither "in 0ms" nor "-307ms ago"
    else:
        rel = f"in {fmt_duration(delta)}" if delta > 0 else f"{fmt_duration(-delta)} ago"
    return f"{t.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC ({rel})"


def fmt_duration(seconds: float) -> str:
    """Short human duration: 450ms, 12s, 3m4s, 2h5m, 3d4h."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{n} B"


def error_rate(processed: int, failed: int) -> str:
    return f"{failed / processed * 100:.2f}%" if processed else "0.00%"


def table(title: str | None, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """An aligned, borderless table in the spirit of the asynq CLI's."""
    # Text, not str: user data such as "[error] ..." must never be read as rich markup;
    # every cell and the title are escaped before rich measures the columns.
    t = Table(
        title=Text(safe(title), style="bold") if title else None,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    rows = [list(r) for r in rows]
    for i, h in enumerate(headers):
        numeric = bool(rows) and all(isinstance(r[i], int) for r in rows)
        t.add_column(h, overflow="fold", justify="right" if numeric else "left")
    for row in rows:
        t.add_row(*(Text(safe(c)) for c in row))
    return t
