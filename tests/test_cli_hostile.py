"""Hostile strings written straight into Redis never reach the terminal raw: the real
`fastq` command, run as a subprocess, escapes ESC/CSI, OSC-8, OSC-0, C1 controls,
bidi overrides and undecodable bytes in every field it prints (issue 11, item 13)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from asynq_pb import SchedulerEntry, ServerInfo, Timestamp
from asynq_writer import put_task

from fastq import keys

ROOT = Path(__file__).resolve().parent.parent

CSI = "\x1b[2J\x1b[31mred"
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
OSC0 = "\x1b]0;pwned title\x07"
C1 = "\x9b31m\x9d0;c1 title\x9c"
BIDI = "invoice\u202egnp.exe\u2066x\u2069"
TAGS = "\U000e0069\U000e0067\U000e006e"  # invisible "tag" characters (ASCII smuggling)
HOSTILE = [CSI, OSC8, OSC0, C1, BIDI, TAGS]
QUEUE = "q" + CSI + BIDI  # a queue name may hold anything but braces
TYPE = "t" + OSC8 + C1 + TAGS
TASK_ID = "id" + OSC0 + BIDI
HOST = "host" + CSI + OSC0
# What must never appear in the output bytes: ESC, BEL, C1 (as UTF-8), bidi controls,
# tag characters.
FORBIDDEN = re.compile(
    rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]"
    rb"|\xf3\xa0[\x80-\x81]"
)


def _ts(t: float) -> Timestamp:
    return Timestamp(seconds=int(t))


def _string_field(number: int, data: bytes) -> bytes:
    """A protobuf length-delimited field, for bytes the official encoder refuses."""
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


@pytest.fixture
def hostile(redis_url: str, r: redis.Redis) -> str:
    now = time.time()
    put_task(r, QUEUE, "pending", task_id=TASK_ID, type=TYPE, payload=OSC8.encode())
    put_task(r, QUEUE, "archived", task_id="arch-1", type=BIDI, error_msg=CSI + C1, score=now - 1)
    # Undecodable UTF-8 in a task's type: the message itself is corrupt.
    bad_type = _string_field(1, b"\xff\xfe\x1b[31m") + _string_field(3, b"bad-utf8")
    put_task(r, QUEUE, "pending", task_id="bad-utf8", msg=bad_type)
    r.sadd(keys.ALL_QUEUES, b"raw\xff\xfe\x1b]0;x\x07")  # a queue name that is not UTF-8
    info = ServerInfo(
        host=HOST,
        pid=7,
        server_id="sid" + OSC8,
        concurrency=8,
        queues={QUEUE: 3, C1: 1},
        status="active" + OSC0,
        start_time=_ts(now - 30),
    )
    server_key = keys.server_info_key(HOST, 7, "sid" + OSC8)
    r.set(server_key, info.SerializeToString())
    r.zadd(keys.ALL_SERVERS, {server_key: now + 60})
    entry = SchedulerEntry(
        id="e" + BIDI,
        spec="* * * * *" + CSI,
        task_type=TYPE,
        enqueue_options=[OSC0],
        next_enqueue_time=_ts(now + 60),
    )
    sched_key = keys.scheduler_entries_key("sch")
    r.rpush(sched_key, entry.SerializeToString())
    r.zadd(keys.ALL_SCHEDULERS, {sched_key: now + 60})
    return redis_url


def run(url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="400", FASTQ_REDIS_URL=url)
    return subprocess.run(
        [sys.executable, "-m", "fastq.cli", *args], capture_output=True, env=env, timeout=60
    )


COMMANDS = [
    ("stats",),
    ("queue", "ls"),
    ("queue", "inspect", QUEUE),
    ("queue", "history", QUEUE),
    ("task", "ls", "-q", QUEUE, "-s", "pending"),
    ("task", "ls", "-q", QUEUE, "-s", "archived"),
    ("task", "inspect", "-q", QUEUE, "-i", TASK_ID),
    ("task", "inspect", "-q", QUEUE, "-i", "arch-1"),
    ("task", "inspect", "-q", QUEUE, "-i", "bad-utf8"),
    ("server", "ls"),
    ("cron", "ls"),
]


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_no_control_sequence_reaches_the_terminal(
    hostile: str, command: tuple[str, ...], as_json: bool
) -> None:
    p = run(hostile, *command, *(["--json"] if as_json else []))
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert not FORBIDDEN.findall(out), out
    text = out.decode("utf-8")  # valid UTF-8: no lone surrogate, no raw invalid byte
    if as_json:
        json.loads(p.stdout)  # still JSON; the escapes mean the same characters
    else:
        assert "\\x1b" in text or "\\u202e" in text or "\\x9b" in text


def test_escapes_are_visible_where_the_data_was(hostile: str) -> None:
    listing = run(hostile, "task", "ls", "-q", QUEUE, "-s", "pending").stdout.decode()
    assert "id\\x1b]0;pwned title\\x07invoice\\u202egnp.exe" in listing
    assert "t\\x1b]8;;https://evil.example/\\x1b\\click" in listing
    assert "<corrupt>" in listing  # the undecodable type
    servers = run(hostile, "server", "ls").stdout.decode()
    assert "host\\x1b[2J\\x1b[31mred\\x1b]0;pwned title\\x07" in servers
    assert "active\\x1b]0;pwned" in servers and "\\x9b31m" in servers
    names = run(hostile, "queue", "ls").stdout.decode().splitlines()
    assert "q\\x1b[2J\\x1b[31mredinvoice\\u202egnp.exe\\u2066x\\u2069" in names
    as_json = json.loads(run(hostile, "task", "ls", "-q", QUEUE, "-s", "pending", "--json").stdout)
    assert {t["id"] for t in as_json} >= {TASK_ID}  # JSON carries the exact strings


def test_action_messages_escape_ids_too(hostile: str) -> None:
    # Ids piped from `task ls --json` are Redis data as well.
    p = run(hostile, "task", "archive", "-q", QUEUE, "-i", TASK_ID, "-i", "missing\x1b[1m")
    assert p.returncode == 3  # NOT_FOUND for the second id; the first is archived
    out = p.stdout + p.stderr
    assert not FORBIDDEN.findall(out), out
    assert "Task id\\x1b]0;pwned title\\x07invoice\\u202egnp.exe" in out.decode()
