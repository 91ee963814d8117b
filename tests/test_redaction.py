"""Redis passwords never leak: not through exception text in either log format, not
through reprs, not through the `fastq` command's argv (issue 11, item 14)."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from fastq.config import RedisConfig
from fastq.logging import configure_logging, get_logger
from fastq.redact import redact_text
from fastq.supervisor.options import parse_args
from fastq.worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "hunter2"
URL = f"redis://:{SECRET}@db.internal:6379/0"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    structlog.reset_defaults()


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_exception_text_is_redacted_in_both_log_formats(fmt: str, restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(fmt, "info", stream=out)
    try:
        raise ConnectionError(f"cannot connect to {URL} (password={SECRET})")
    except ConnectionError as exc:
        get_logger("fastq.test").exception("structlog with a traceback", error=exc)
        logging.getLogger("fastq.std").error("stdlib with a traceback", exc_info=True)
    text = out.getvalue()
    assert text.count("redis://***@db.internal:6379/0") >= 3  # field, 2 tracebacks
    assert "Traceback" in text and SECRET not in text


def test_redact_text_masks_urls_and_password_fields() -> None:
    text = f"{URL} and rediss://user:{SECRET}@h/1 password='{SECRET}' {{'password': '{SECRET}'}}"
    assert redact_text(text) == (
        "redis://***@db.internal:6379/0 and rediss://user:***@h/1 password='***' "
        "{'password': '***'}"
    )


def test_config_and_settings_reprs_hide_the_password() -> None:
    config = RedisConfig.from_url(URL)
    settings = WorkerSettings(redis=config)
    for text in (repr(config), str(config), repr(settings)):
        assert SECRET not in text
        assert "redis://***@db.internal:6379/0" in text
    assert config.url == URL  # the real URL is still there to connect with
    options = parse_args(["m:app", "--redis-url", URL], {})
    assert SECRET not in repr(options) and options.redis_url == URL


def test_fastq_cli_hides_a_redis_url_password_from_ps() -> None:
    # A listener that never answers keeps the command waiting on its first reply.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("FASTQ_REDIS_URL", None)
    url = f"redis://:{SECRET}@127.0.0.1:{port}/0"
    p = subprocess.Popen(
        [sys.executable, "-m", "fastq.cli", "--redis-url", url, "queue", "ls"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cmdline = ""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            cmdline = Path(f"/proc/{p.pid}/cmdline").read_bytes().decode(errors="replace")
            if cmdline.startswith("fastq "):  # retitled
                break
            time.sleep(0.02)
        assert "fastq --redis-url redis://***@127.0.0.1" in cmdline.replace("\0", " ")
        assert SECRET not in cmdline
    finally:
        p.kill()
        p.communicate()
        silent.close()
