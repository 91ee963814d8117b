"""The ``fastq`` command's options and paper cuts, run as real commands (issue 11, item 24)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis
from asynq_writer import put_task

from fastq.cli.main import ExitCode
from fastq.cli.render import fmt_time
from fastq.devredis import free_port

ROOT = Path(__file__).resolve().parent.parent


def fastq(*args: str, env_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    env.pop("FASTQ_REDIS_URL", None)
    if env_url is not None:
        env["FASTQ_REDIS_URL"] = env_url
    return subprocess.run(
        [sys.executable, "-m", "fastq.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_redis_url_works_after_the_subcommand_and_wins(redis_url: str, r: redis.Redis) -> None:
    put_task(r, "mail", "pending", task_id="m1")
    dead = f"redis://127.0.0.1:{free_port()}/0"
    p = fastq("queue", "ls", "--redis-url", redis_url, env_url=dead)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["mail"]
    p = fastq(
        "--redis-url", dead, "task", "ls", "-q", "mail", "-s", "pending", "--redis-url", redis_url
    )
    assert p.returncode == 0, p.stderr
    assert "m1" in p.stdout


def test_redis_url_comes_from_fastq_redis_url(redis_url: str, r: redis.Redis) -> None:
    put_task(r, "env_q", "pending", task_id="e1")
    p = fastq("queue", "ls", env_url=redis_url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["env_q"]


def test_task_cancel_takes_ids_with_i_as_the_readme_shows(redis_url: str) -> None:
    p = fastq("task", "cancel", "-i", "t-1", "-i", "t-2", env_url=redis_url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "Sent cancelation signal for task t-1 (0 server(s) listening)",
        "Sent cancelation signal for task t-2 (0 server(s) listening)",
    ]
    p = fastq("task", "cancel", env_url=redis_url)
    assert p.returncode == ExitCode.USAGE
    assert "give the task ids to cancel" in p.stderr


def test_a_queue_with_no_task_yet_can_be_paused(redis_url: str, r: redis.Redis) -> None:
    p = fastq("queue", "pause", "later", env_url=redis_url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "Paused queue 'later'"
    assert r.exists("asynq:{later}:paused")
    p = fastq("queue", "resume", "later", env_url=redis_url)
    assert p.returncode == 0, p.stderr
    assert not r.exists("asynq:{later}:paused")
    p = fastq("queue", "pause", "bad{name}", env_url=redis_url)
    assert p.returncode == ExitCode.USAGE


def test_cron_history_of_an_unknown_entry_is_not_found(redis_url: str) -> None:
    p = fastq("cron", "history", "nosuch", env_url=redis_url)
    assert p.returncode == ExitCode.NOT_FOUND
    assert "no scheduler entry 'nosuch'" in p.stderr


def test_times_within_a_second_read_now_not_negative() -> None:
    now = datetime(2026, 11, 30, 4, 0, 0, tzinfo=timezone.utc)
    for offset in (0.307, -0.307, 0.0):
        text = fmt_time(now + timedelta(seconds=offset), now=now)
        assert text.endswith(" UTC (now)")
    assert fmt_time(now + timedelta(seconds=5), now=now).endswith("(in 5s)")
    assert fmt_time(now - timedelta(seconds=5), now=now).endswith("(5s ago)")


def test_a_malformed_redis_url_is_a_usage_error_not_a_traceback() -> None:
    for url, reason in (
        ("redis://:pw-secret@127.0.0.1:notaport/0", "the port must be a number 0-65535"),
        ("redis://:pw-secret@127.0.0.1:6399/abc", "the database must be a number, got 'abc'"),
    ):
        p = fastq("queue", "ls", "--redis-url", url)
        assert p.returncode == ExitCode.USAGE
        assert reason in p.stderr
        assert "Traceback" not in p.stderr and "pw-secret" not in p.stderr


def test_a_bad_fastq_redis_url_is_named_as_the_environment_variable() -> None:
    p = fastq("queue", "ls", env_url="http://example")
    assert p.returncode == ExitCode.USAGE
    assert "'--redis-url' (from FASTQ_REDIS_URL): scheme must be redis://" in p.stderr
