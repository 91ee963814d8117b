"""The dashboard's display filters: readable, bounded, control characters visible."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastq.dash import format as fmt


def test_visible_escapes_terminal_and_bidi_controls() -> None:
    assert fmt.visible("a\x1b[31mb\x07\u202ec\x00") == "a\\x1b[31mb\\x07\\x202ec\\x00"
    assert fmt.visible("tab\tnew\nline ünï") == "tab\tnew\nline ünï"


def test_preview_cuts_and_dumps_binary() -> None:
    assert fmt.preview("x" * 500, 10) == "x" * 9 + "…"
    assert fmt.preview("a\n  b") == "a b"
    assert fmt.preview(b"\xff\x00\x01", 30).startswith("<3 bytes> ff 00 01")


def test_pretty_json_text_hex_and_cut() -> None:
    assert fmt.pretty(b'{"a":[1,2]}') == {
        "kind": "json",
        "text": '{\n  "a": [\n    1,\n    2\n  ]\n}',
        "size": 11,
        "cut": False,
    }
    assert fmt.pretty(b"plain")["kind"] == "text"
    assert fmt.pretty(b"\xff\xfe")["kind"] == "hex"
    assert fmt.pretty(b"")["kind"] == "empty"
    big = "é" * fmt.DETAIL_BYTES  # 2 bytes each: the cut lands inside a character
    shown = fmt.pretty(big.encode())
    assert shown["kind"] == "text" and shown["cut"] and len(shown["text"]) == fmt.DETAIL_BYTES // 2


def test_durations_sizes_and_times() -> None:
    assert [fmt.fmt_duration(s) for s in (2.5, 42, 125, 3725, 200_000)] == [
        "2.5s",
        "42s",
        "2m5s",
        "1h2m",
        "2d7h",
    ]
    assert [fmt.fmt_bytes(n) for n in (512, 1536, 3 * 1024**3)] == ["512 B", "1.5 KiB", "3.0 GiB"]
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert fmt.relative(now + timedelta(seconds=8), now) == "in 8.0s"
    assert fmt.relative(now - timedelta(minutes=3), now) == "3m0s ago"
    assert fmt.error_rate(0, 0) == "-" and fmt.error_rate(8, 2) == "25.00 %"


def test_nothing_bypasses_autoescape() -> None:
    from pathlib import Path

    import fastq.dash

    root = Path(fastq.dash.__file__).parent
    for path in [*root.rglob("*.html"), *root.rglob("*.svg"), *root.rglob("*.py")]:
        text = path.read_text()
        for marker in ("|safe", "| safe", "Markup(", "autoescape false", "innerHTML ="):
            assert marker not in text, (path.name, marker)
    assert "innerHTML" not in (root / "static" / "dash.js").read_text()


def test_expiry_of_completed_tasks() -> None:
    done = datetime.now(timezone.utc) - timedelta(seconds=100)
    assert fmt.expiry(done, 3600).startswith("in 58m")
    assert fmt.expiry(done, 10).endswith("ago")
    assert fmt.expiry(None, 10) == "-"
