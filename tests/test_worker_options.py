"""fastq-worker's option stack and startup, run as real commands (issue 11, item 24)."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from supervisorapps.harness import ROOT, TESTS, SupervisorProc, wait_for

from fastq import __version__
from fastq.devredis import free_port
from fastq.errors import ConfigError
from fastq.supervisor.cli import load_options
from fastq.supervisor.exitcodes import ExitCode
from fastq.supervisor.options import resolve

pytestmark = pytest.mark.timeout(60)

APP = "supervisorapps.recording_app:app"


def worker(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    full = dict(os.environ, PYTHONPATH=f"{ROOT}:{TESTS}", **(env or {}))
    full.pop("NOTIFY_SOCKET", None)
    p = subprocess.run(
        [sys.executable, "-m", "fastq.supervisor", *args],
        env=full,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return p.returncode, p.stdout + p.stderr


def json_events(out: str) -> list[dict[str, object]]:
    events = []
    for line in out.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def dead_redis() -> dict[str, str]:
    return {"FASTQ_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}


def test_queues_accept_name_colon_weight_as_server_ls_prints_it() -> None:
    o = resolve({"app": "a:b", "queues": "critical:6,default:2,low"}, {}, {})
    assert o.queues == {"critical": 6, "default": 2, "low": 1}


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("a,a", "queue 'a' is listed twice"),
        ("critical:6,critical=2", "queue 'critical' is listed twice"),
        ("a{b}", "queue name must not contain '{' or '}'"),
        ("ok,bad\x1b", "queue name must not contain control characters"),
    ],
)
def test_queue_specs_the_client_would_refuse_exit_with_one_clear_error(
    spec: str, reason: str
) -> None:
    code, out = worker(APP, "--queues", spec)
    assert code == ExitCode.INVALID_OPTIONS
    assert f"fastq-worker: error: invalid option 'queues': --queues: {reason}" in out
    assert out.count("invalid option") == 1  # no doubled prefix


def test_bad_integers_read_as_sentences_not_python_errors() -> None:
    code, out = worker(APP, "--processes", "many")
    assert code == ExitCode.INVALID_OPTIONS
    assert "--processes: not an integer: 'many'" in out
    assert "invalid literal" not in out


def test_version() -> None:
    code, out = worker("--version")
    assert code == ExitCode.OK
    assert out.strip() == f"fastq-worker {__version__}"


def test_redis_wait_waits_the_whole_time_it_was_given() -> None:
    code, out = worker(APP, "--redis-wait", "2", "--log-format", "json", env=dead_redis())
    assert code == ExitCode.REDIS_UNREACHABLE
    (gave_up,) = [e for e in json_events(out) if e["event"] == "Redis unreachable; giving up"]
    assert float(str(gave_up["waited"])) >= 2.0


def test_the_task_types_served_are_logged_at_start() -> None:
    code, out = worker(APP, "--redis-wait", "0.5", "--log-format", "json", env=dead_redis())
    assert code == ExitCode.REDIS_UNREACHABLE
    from supervisorapps.recording_app import app

    (served,) = [e for e in json_events(out) if e["event"] == "serving task types"]
    assert "record" in app.task_types and "record_sync" in app.task_types
    assert served["task_types"] == ", ".join(app.task_types)
    assert served["app"] == APP


def test_config_file_reads_top_level_keys_and_the_worker_table(tmp_path: Path) -> None:
    path = tmp_path / "worker.toml"
    path.write_text('app = "m:app"\nconcurrency = 4\n[worker]\nprocesses = 3\n')
    o = load_options({"config": str(path)}, {})
    assert (o.app, o.concurrency, o.processes) == ("m:app", 4, 3)
    assert o.sources["concurrency"] == "config" and o.sources["processes"] == "config"
    path.write_text('app = "m:app"\nprocesses = 2\n[worker]\nprocesses = 3\n')
    with pytest.raises(ConfigError, match="'processes' is set both at the top level"):
        load_options({"config": str(path)}, {})


def test_redis_py_maintenance_probe_stays_out_of_the_debug_log(redis_url: str) -> None:
    from fastq.config import RedisConfig
    from fastq.logging import configure_logging
    from fastq.rdb.conn import SyncConn

    class Capture(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    configure_logging("console", "debug", stream=out)
    emitted = Capture()
    logging.getLogger("redis").addHandler(emitted)
    try:
        conn = SyncConn(RedisConfig.from_url(redis_url))
        conn.ping()
        conn.close()
    finally:
        logging.getLogger("redis").removeHandler(emitted)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    if not any("maintenance notifications" in m for m in emitted.messages):
        pytest.skip("this redis-py/redis-server pair does not probe MAINT_NOTIFICATIONS")
    assert "maintenance notifications" not in out.getvalue()


# --- the supervisor's own messages and state, with the stand-in worker --------------------


@pytest.fixture
def started() -> Iterator[list[SupervisorProc]]:
    procs: list[SupervisorProc] = []
    yield procs
    for p in procs:
        p.close()


def test_a_fast_stop_is_not_logged_as_draining(
    started: list[SupervisorProc], tmp_path: Path
) -> None:
    for sig, reason in (
        (signal.SIGQUIT, "stopped on request, fast: running tasks were requeued"),
        (signal.SIGTERM, "stopped on request after draining"),
    ):
        p = SupervisorProc.fake(["--processes", "1"], tmp_path / sig.name)
        started.append(p)
        wait_for(lambda p=p: len(p.workers()) == 1, what="1 child")
        p.signal(sig)
        assert p.wait() == ExitCode.OK
        (line,) = [x for x in p.log().splitlines() if "supervisor stopped" in x]
        assert reason in line


def test_hup_keeps_ttin_scaling_unless_the_config_changes_processes(
    started: list[SupervisorProc], tmp_path: Path
) -> None:
    config = tmp_path / "worker.toml"
    config.write_text("processes = 1\n")
    p = SupervisorProc.fake(["--config", str(config), "--shutdown-timeout", "1"], tmp_path)
    started.append(p)
    wait_for(lambda: len(p.workers()) == 1, what="1 child")
    p.signal(signal.SIGTTIN)
    wait_for(lambda: len(p.workers()) == 2, what="2 children after TTIN")
    first = {c.pid for c in p.workers()}
    p.signal(signal.SIGHUP)  # the file still says 1
    wait_for(
        lambda: len(p.workers()) == 2 and not first & {c.pid for c in p.workers()},
        what="2 fresh children after the reload",
    )
    time.sleep(1.0)
    assert len(p.workers()) == 2
    assert "keeping TTIN/TTOU scaling" in p.log()
    config.write_text("processes = 3\n")
    p.signal(signal.SIGHUP)
    wait_for(lambda: len(p.workers()) == 3, what="3 children from the new file")
    p.signal(signal.SIGTERM)
    assert p.wait() == ExitCode.OK


def test_a_malformed_redis_url_names_its_source_without_a_traceback() -> None:
    url = "redis://:pw-secret@127.0.0.1:notaport/0"
    code, out = worker(APP, env={"FASTQ_REDIS_URL": url})
    assert code == ExitCode.INVALID_OPTIONS
    assert "FASTQ_REDIS_URL: the port must be a number 0-65535" in out
    assert "Traceback" not in out and "pw-secret" not in out


def test_every_declared_option_is_in_the_readme_table_and_the_help() -> None:
    from fastq.optstack import env_name, flag_name
    from fastq.supervisor.cli import build_parser
    from fastq.supervisor.options import OPTION_NAMES

    readme = (ROOT / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `--")]
    help_text = build_parser().format_help()
    for name in OPTION_NAMES - {"app"}:
        # The flag ends at a space (its metavar) or the closing backtick: --scheduler is
        # not --scheduler-config.
        flag = flag_name(name)
        (row,) = [r for r in rows if r.startswith((f"| `{flag} ", f"| `{flag}`"))]
        assert f"`{env_name(name)}`" in row
        assert flag_name(name) in help_text and env_name(name) in help_text
