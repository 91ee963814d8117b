"""The worker's event loop: uvloop when installed (the default), asyncio's with --no-uvloop."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from supervisorapps.harness import SupervisorProc, wait_for
from supervisorapps.loop_app import LOOPS_KEY

from fastq import Client, Task
from fastq.supervisor.options import parse_args
from fastq.worker.process import new_event_loop

pytestmark = pytest.mark.timeout(60)
APP = "supervisorapps.loop_app:app"


def loop_of_a_task(tmp_path: Path, redis_url: str, r: redis.Redis, *flags: str) -> str:
    p = SupervisorProc.real(
        [APP, "--processes", "1", *flags], tmp_path, {"FASTQ_REDIS_URL": redis_url}
    )
    try:
        with Client(redis_url) as c:
            c.enqueue(Task("which_loop"))
        wait_for(lambda: r.llen(LOOPS_KEY) == 1, 20, "the task ran")
        return str(r.lpop(LOOPS_KEY), "utf-8")
    finally:
        p.close()


def test_handlers_run_on_uvloop_by_default(tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    assert loop_of_a_task(tmp_path, redis_url, r) == "uvloop.Loop"


def test_no_uvloop_runs_handlers_on_asyncios_loop(
    tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    assert (
        loop_of_a_task(tmp_path, redis_url, r, "--no-uvloop")
        == "asyncio.unix_events._UnixSelectorEventLoop"
    )


def test_the_uvloop_switch_reads_flag_and_environment() -> None:
    assert parse_args(["m:app"], {}).uvloop is True
    assert parse_args(["m:app", "--no-uvloop"], {}).uvloop is False
    assert parse_args(["m:app"], {"FASTQ_UVLOOP": "0"}).uvloop is False


def test_new_event_loop_falls_back_to_asyncio_when_asked() -> None:
    loop = new_event_loop(False)
    try:
        assert type(loop).__module__ == "asyncio.unix_events"
    finally:
        loop.close()
