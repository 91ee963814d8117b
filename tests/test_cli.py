"""The ``fastq`` CLI end to end: real subprocesses on a real Redis, JSON parsed,
exit codes checked; help texts and rendering helpers in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from asynq_pb import SchedulerEntry, ServerInfo, Timestamp
from asynq_writer import put_task

from fastq.cli.main import ExitCode, cli, main
from fastq.cli.render import escape_text, fmt_duration, payload_preview
from fastq.cli.task import parse_duration, parse_instant

ROOT = Path(__file__).resolve().parent.parent


def run(url: str | None, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    env.pop("FASTQ_REDIS_URL", None)
    if url is not None:
        env["FASTQ_REDIS_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "fastq.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def run_json(url: str, *args: str) -> Any:
    p = run(url, *args, "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture
def seeded(redis_url: str, r: redis.Redis) -> str:
    for i in range(3):
        put_task(r, "default", "pending", task_id=f"p{i}", payload=b'{"n":%d}' % i)
    put_task(r, "default", "retry", task_id="r0", error_msg="connection refused", retried=1)
    put_task(r, "default", "archived", task_id="a0", error_msg="boom", type="report")
    put_task(r, "default", "archived", task_id="a1", error_msg="[red]Connection REFUSED")
    put_task(r, "default", "pending", task_id="bad", msg=b"\xff\xff")
    put_task(r, "critical", "active", task_id="act", lease=time.time() - 10)
    return redis_url


def test_stats_and_queue_reads(seeded: str) -> None:
    data = run_json(seeded, "stats")
    assert data["totals"]["pending"] == 4 and data["totals"]["archived"] == 2
    assert {q["queue"] for q in data["queues"]} == {"default", "critical"}
    assert data["redis"]["redis_version"]
    assert run_json(seeded, "queue", "ls") == ["critical", "default"]
    info = run_json(seeded, "queue", "inspect", "default")
    assert (info["pending"], info["retry"], info["size"]) == (4, 1, 7)
    hist = run_json(seeded, "queue", "history", "default", "--days", "2")
    assert len(hist) == 2 and hist[0]["processed"] == 0
    human = run(seeded, "stats")
    assert human.returncode == 0 and "Task Count by Queue" in human.stdout
    assert "default" in human.stdout


def test_task_ls_filters_and_corrupt_rows(seeded: str) -> None:
    rows = run_json(seeded, "task", "ls", "-q", "default", "-s", "pending")
    assert [t["id"] for t in rows] == ["p0", "p1", "p2", "bad"]
    assert rows[3]["corrupt"] is True and "undecodable" in rows[3]["reason"]
    hits = run_json(seeded, "task", "ls", "-q", "default", "-s", "archived", "-e", "refused")
    assert [t["id"] for t in hits] == ["a1"]
    assert run_json(
        seeded, "task", "ls", "-q", "default", "-s", "archived", "-e", "refused", "--count"
    ) == {"count": 1}
    typed = run_json(seeded, "task", "ls", "-q", "default", "-s", "archived", "-t", "report")
    assert [t["id"] for t in typed] == ["a0"]
    orphan = run_json(seeded, "task", "ls", "-q", "critical", "-s", "active")
    assert orphan[0]["is_orphaned"] is True
    arch = run(seeded, "task", "ls", "-q", "default", "-s", "archived")
    assert "[red]Connection REFUSED" in arch.stdout  # shown as is, not as markup
    table = run(seeded, "task", "ls", "-q", "default", "-s", "pending")
    assert table.returncode == 0 and "<corrupt>" in table.stdout and '{"n":0}' in table.stdout
    empty = run(seeded, "task", "ls", "-q", "default", "-s", "completed")
    assert empty.returncode == 0 and "No completed tasks" in empty.stdout


def test_task_inspect_and_exit_codes(seeded: str) -> None:
    t = run_json(seeded, "task", "inspect", "-q", "default", "-i", "r0")
    assert t["state"] == "retry" and t["last_err"] == "connection refused"
    human = run(seeded, "task", "inspect", "-q", "default", "-i", "r0")
    assert "Last error:" in human.stdout and '"to": "a@example.com"' in human.stdout
    missing = run(seeded, "task", "inspect", "-q", "default", "-i", "nope")
    assert missing.returncode == ExitCode.NOT_FOUND and "not found" in missing.stderr
    noqueue = run(seeded, "queue", "inspect", "nope")
    assert noqueue.returncode == ExitCode.NOT_FOUND
    bad = run(seeded, "task", "ls", "-q", "default", "-s", "flying")
    assert bad.returncode == ExitCode.USAGE
    conflict = run(seeded, "task", "run", "-q", "default", "-i", "p0")
    assert conflict.returncode == ExitCode.CONFLICT and "pending" in conflict.stderr


def test_mutations(seeded: str, r: redis.Redis) -> None:
    p = run(seeded, "task", "run", "-q", "default", "-i", "a0", "-i", "r0", "-i", "zz")
    assert p.returncode == ExitCode.NOT_FOUND
    assert "Task a0 is now pending" in p.stdout and "'zz' not found" in p.stderr
    assert run(seeded, "task", "archive", "-q", "default", "-i", "p1").returncode == 0
    assert r.hget("asynq:{default}:t:p1", "state") == b"archived"
    assert run(seeded, "task", "delete", "-q", "default", "-i", "bad").returncode == 0
    assert not r.exists("asynq:{default}:t:bad")
    assert run(seeded, "queue", "pause", "default").returncode == 0
    assert r.exists("asynq:{default}:paused")
    assert run(seeded, "queue", "resume", "default").returncode == 0
    assert run(seeded, "queue", "unpause", "default").stdout.startswith("Queue 'default' was not")
    u = run(
        seeded, "task", "update-payload", "-q", "default", "-i", "r0", "-p", '{"v":2}', "--json"
    )
    assert u.returncode == 0 and json.loads(u.stdout)["payload"] == '{"v":2}'
    u = run(seeded, "task", "update-payload", "-q", "critical", "-i", "act", "-p", "x")
    assert u.returncode == ExitCode.CONFLICT
    c = run(seeded, "task", "cancel", "act")
    assert c.returncode == 0 and "Sent cancelation signal for task act" in c.stdout


def test_bulk_commands_need_confirmation(seeded: str, r: redis.Redis) -> None:
    p = run(seeded, "task", "deleteall", "-q", "default", "-s", "pending")
    assert p.returncode == ExitCode.USAGE and "--yes" in p.stderr
    assert r.llen("asynq:{default}:pending") == 4  # nothing lost
    p = run(seeded, "task", "archiveall", "-q", "default", "-s", "pending", "--yes")
    assert p.returncode == 0 and "4 pending task(s) archived" in p.stdout
    p = run(seeded, "task", "runall", "-q", "default", "-s", "archived", "-y")
    assert p.returncode == 0 and "6 archived task(s) are now pending" in p.stdout
    p = run(seeded, "task", "deleteall", "-q", "default", "-s", "pending", "--yes")
    assert p.returncode == 0 and r.llen("asynq:{default}:pending") == 0
    rm = run(seeded, "queue", "rm", "default")
    assert rm.returncode == ExitCode.CONFLICT and "not empty" in rm.stderr
    assert run(seeded, "queue", "rm", "default", "--force").returncode == ExitCode.USAGE
    assert run(seeded, "queue", "rm", "default", "--force", "--yes").returncode == 0
    assert run_json(seeded, "queue", "ls") == ["critical"]
    busy = run(seeded, "queue", "rm", "critical", "--force", "--yes")
    assert busy.returncode == ExitCode.CONFLICT and "active" in busy.stderr


def test_enqueue(redis_url: str, r: redis.Redis) -> None:
    p = run(
        redis_url,
        "task",
        "enqueue",
        "-t",
        "email:send",
        "-p",
        '{"to":"x"}',
        "-q",
        "mail",
        "--max-retry",
        "3",
        "--process-in",
        "10m",
        "--unique",
        "1h",
        "-H",
        "trace=abc",
        "--task-id",
        "e1",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert (info["id"], info["state"], info["max_retry"]) == ("e1", "scheduled", 3)
    assert info["headers"] == {"trace": "abc"}
    assert r.zscore("asynq:{mail}:scheduled", "e1") == pytest.approx(time.time() + 600, abs=10)
    dup = run(
        redis_url,
        "task",
        "enqueue",
        "-t",
        "email:send",
        "-p",
        '{"to":"x"}',
        "-q",
        "mail",
        "--unique",
        "1h",
    )
    assert dup.returncode == ExitCode.CONFLICT and "duplicate" in dup.stderr
    same_id = run(redis_url, "task", "enqueue", "-t", "x", "-q", "mail", "--task-id", "e1")
    assert same_id.returncode == ExitCode.CONFLICT
    stdin = run(
        redis_url,
        "task",
        "enqueue",
        "-t",
        "raw",
        "-p",
        "-",
        "-q",
        "mail",
        "--json",
        stdin="line1\nline2",
    )
    assert json.loads(stdin.stdout)["payload"] == "line1\nline2"
    bad = run(redis_url, "task", "enqueue", "-t", "x", "--timeout", "soon")
    assert bad.returncode == ExitCode.USAGE


def _ts(t: float) -> Timestamp:
    return Timestamp(seconds=int(t))


def test_server_and_cron(redis_url: str, r: redis.Redis) -> None:
    assert run(redis_url, "server", "ls").stdout.strip() == "No running servers"
    now = time.time()
    info = ServerInfo(
        host="web-1",
        pid=7,
        server_id="s1",
        concurrency=8,
        queues={"default": 1},
        status="active",
        start_time=_ts(now - 30),
    )
    r.set("asynq:servers:{web-1:7:s1}", info.SerializeToString())
    r.zadd(
        "asynq:servers", {"asynq:servers:{web-1:7:s1}": now + 300}
    )  # alive however slow the CLI subprocesses start
    servers = run_json(redis_url, "server", "ls")
    assert servers[0]["host"] == "web-1" and servers[0]["concurrency"] == 8
    assert "web-1" in run(redis_url, "server", "ls").stdout
    e = SchedulerEntry(
        id="e1",
        spec="*/5 * * * *",
        task_type="ping",
        enqueue_options=["MaxRetry(1)"],
        next_enqueue_time=_ts(now + 60),
    )
    r.rpush("asynq:schedulers:{sch}", e.SerializeToString())
    r.zadd(
        "asynq:schedulers", {"asynq:schedulers:{sch}": now + 300}
    )  # alive however slow the CLI subprocesses start
    entries = run_json(redis_url, "cron", "ls")
    assert entries[0]["spec"] == "*/5 * * * *"
    assert run_json(redis_url, "cron", "history", "e1") == []


def test_redis_unavailable_hides_password() -> None:
    p = run("redis://:hunter2@127.0.0.1:1/0", "stats")
    assert p.returncode == ExitCode.REDIS_UNAVAILABLE
    assert "hunter2" not in p.stderr + p.stdout and "***" in p.stderr
    p = run(None, "--redis-url", "redis://u:hunter2@127.0.0.1:1/0", "queue", "ls")
    assert p.returncode == ExitCode.REDIS_UNAVAILABLE and "hunter2" not in p.stderr
    p = run(None, "--redis-url", "http://x", "queue", "ls")
    assert p.returncode == ExitCode.USAGE


def _all_commands() -> list[list[str]]:
    import click

    from fastq.cli import task as cli_task  # noqa: F401

    out: list[list[str]] = [[]]

    def walk(group: click.Group, path: list[str]) -> None:
        for name, cmd in group.commands.items():
            out.append([*path, name])
            if isinstance(cmd, click.Group):
                walk(cmd, [*path, name])

    walk(cli, [])
    return out


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "fastq")
def test_every_help_renders(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: fastq") and "Exit codes" in out


def test_python_m_help_lists_exit_codes() -> None:
    p = run(None, "--help")
    assert p.returncode == 0 and "REDIS_UNAVAILABLE" in p.stdout and "task" in p.stdout
    v = run(None, "--version")
    assert v.returncode == 0 and v.stdout.startswith("fastq, version")


def test_rendering_helpers() -> None:
    assert payload_preview(b'{"a": 1}') == '{"a":1}'
    assert payload_preview(b'{"a": 1}', full=True) == '{\n  "a": 1\n}'
    assert payload_preview(b"tab\there\x07") == "tab\\there\\x07"
    assert payload_preview(b"\xff\x00").startswith("<binary 2 B> ff00")
    assert payload_preview(b"\xff\x00", full=True).endswith("base64: /wA=")
    assert payload_preview(b"x" * 100).endswith("…") and len(payload_preview(b"x" * 100)) == 40
    assert escape_text("a\u200bb") == "a\\u200bb"
    assert fmt_duration(0.25) == "250ms" and fmt_duration(3725) == "1h2m"
    assert parse_duration("1h30m") == 5400 and parse_duration("45") == 45
    assert parse_instant("2026-01-01T00:00:00") == 1767225600


def test_group_ls(redis_url: str, r: redis.Redis) -> None:
    put_task(r, "q", "aggregating", group="batch-1")
    assert run_json(redis_url, "group", "ls", "-q", "q") == [{"group": "batch-1", "size": 1}]
    assert "batch-1" in run(redis_url, "group", "ls", "-q", "q").stdout


def test_enqueue_without_payload_is_nil_with_empty_payload_is_empty(
    redis_url: str, r: redis.Redis
) -> None:
    # As Go: no payload -> no checksum in the unique key; an empty one -> md5 of "".
    assert run(redis_url, "task", "enqueue", "-t", "tick", "--unique", "1m").returncode == 0
    assert r.exists("asynq:{default}:unique:tick:")
    p = run(redis_url, "task", "enqueue", "-t", "tick", "-p", "", "--unique", "1m")
    assert p.returncode == 0, p.stderr
    assert r.exists("asynq:{default}:unique:tick:d41d8cd98f00b204e9800998ecf8427e")
