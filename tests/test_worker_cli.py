"""fastq-worker's options, config file, exit codes and startup errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from supervisorapps.harness import ROOT, TESTS

from fastq.devredis import free_port
from fastq.errors import ConfigError, InvalidOptionError
from fastq.supervisor.cli import build_parser, load_options, main
from fastq.supervisor.config_file import load_config_file
from fastq.supervisor.exitcodes import ExitCode
from fastq.supervisor.options import OPTION_NAMES, parse_duration, parse_size, resolve

pytestmark = pytest.mark.timeout(60)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 20) -> tuple[int, str]:
    full = dict(os.environ, PYTHONPATH=f"{ROOT}:{TESTS}", **(env or {}))
    full.pop("NOTIFY_SOCKET", None)
    p = subprocess.run(
        [sys.executable, "-m", "fastq.supervisor", *args],
        env=full,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p.returncode, p.stdout + p.stderr


def test_precedence_cli_over_env_over_config_over_default() -> None:
    config = {"concurrency": 3, "processes": 4, "queues": {"a": 2, "b": 1}, "log_format": "json"}
    env = {"FASTQ_CONCURRENCY": "7", "FASTQ_PROCESSES": "5", "FASTQ_APP": "env:app"}
    cli = {"concurrency": "9"}
    o = resolve(cli, env, config)
    assert o.concurrency == 9 and o.sources["concurrency"] == "cli"
    assert o.processes == 5 and o.sources["processes"] == "env"
    assert o.queues == {"a": 2, "b": 1} and o.sources["queues"] == "config"
    assert o.log_format == "json"
    assert o.shutdown_timeout == 8.0 and o.sources["shutdown_timeout"] == "default"
    assert o.app == "env:app"
    assert resolve({}, {}, {"app": "cfg:app"}).processes == (os.cpu_count() or 1)


def test_values_parse_with_units() -> None:
    assert parse_size("512MB") == 512 * 1024**2
    assert parse_size("2g") == 2 * 1024**3
    assert parse_size("0") == 0
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2m") == 120
    o = resolve(
        {"app": "a:b", "max_memory_per_child": "1.5GiB", "strict_priority": True},
        {"FASTQ_SHUTDOWN_TIMEOUT": "25s"},
        {},
    )
    assert o.max_memory_per_child == int(1.5 * 1024**3)
    assert o.shutdown_timeout == 25.0 and o.strict_priority is True


@pytest.mark.parametrize(
    ("cli", "env", "option"),
    [
        ({"processes": "0"}, {}, "processes"),
        ({}, {"FASTQ_QUEUES": "a=x"}, "queues"),
        ({"max_memory_per_child": "lots"}, {}, "max_memory_per_child"),
        ({}, {"FASTQ_STRICT_PRIORITY": "maybe"}, "strict_priority"),
        ({"log_format": "xml"}, {}, "log_format"),
        ({"child_timeout": "100ms"}, {}, "child_timeout"),
    ],
)
def test_invalid_values_name_the_option_and_source(
    cli: dict[str, str], env: dict[str, str], option: str
) -> None:
    with pytest.raises(InvalidOptionError) as info:
        resolve({"app": "a:b", **cli}, env, {})
    assert info.value.option == option
    assert ("FASTQ_" in str(info.value)) == bool(env)


def test_app_is_required() -> None:
    with pytest.raises(InvalidOptionError, match="APP is required"):
        resolve({}, {}, {})


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "worker.toml"
    path.write_text('[worker]\napp = "m:app"\nmax-tasks-per-child = 100\nqueues = "x=3,y"\n')
    o = load_options({"config": str(path)}, {})
    assert o.app == "m:app" and o.max_tasks_per_child == 100 and o.queues == {"x": 3, "y": 1}
    path.write_text("processes = 2\nprocesses_typo = 3\n")
    with pytest.raises(ConfigError, match="unknown key 'processes_typo'"):
        load_config_file(path, OPTION_NAMES)
    path.write_text("processes = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config_file(path, OPTION_NAMES)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.toml", OPTION_NAMES)


def test_help_documents_signals_precedence_and_exit_codes() -> None:
    text = build_parser().format_help()
    for word in ("TTIN", "TSTP", "HUP", "precedence", "FASTQ_REDIS_URL", "--redis-wait"):
        assert word in text
    for code in ExitCode:
        assert code.name in text


def test_invalid_options_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["m:app", "--processes", "0"]) == ExitCode.INVALID_OPTIONS
    assert "--processes" in capsys.readouterr().err
    assert main(["m:app", "--config", "/nonexistent/worker.toml"]) == ExitCode.INVALID_OPTIONS
    assert main(["m:app", "--lease-duration", "0.5"]) == ExitCode.INVALID_OPTIONS
    assert main(["m:app", "--redis-url", "http://example"]) == ExitCode.INVALID_OPTIONS
    assert "redis_url" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("no_such_module_here:app", "No module named"),
        ("supervisorapps.recording_app:nope", "has no attribute 'nope'"),
        ("supervisorapps.harness:ROOT", "expected a fastq.App"),
        ("not a spec:", "expected module:attribute"),
    ],
)
def test_app_import_errors_exit_with_their_code(app: str, message: str) -> None:
    code, out = run_cli(app)
    assert code == ExitCode.APP_IMPORT_ERROR
    assert message in out


def test_unreachable_redis_retries_then_exits_without_leaking_the_password() -> None:
    url = f"redis://user:s3cret-pw@127.0.0.1:{free_port()}/0"
    code, out = run_cli(
        "supervisorapps.recording_app:app", "--redis-wait", "1.2", env={"FASTQ_REDIS_URL": url}
    )
    assert code == ExitCode.REDIS_UNREACHABLE
    assert out.count("Redis unreachable; retrying") >= 1
    assert "giving up" in out
    assert "s3cret-pw" not in out
    assert "user:***@127.0.0.1" in out


def test_password_on_the_command_line_is_hidden_from_ps() -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{TESTS}")
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fastq.supervisor",
            "supervisorapps.recording_app:app",
            "--redis-url",
            url,
            "--redis-wait",
            "3",
        ],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        cmdline = ""
        while time.monotonic() < deadline:
            cmdline = Path(f"/proc/{p.pid}/cmdline").read_bytes().decode(errors="replace")
            if "fastq-worker: starting" in cmdline:
                break
            time.sleep(0.05)
        assert "fastq-worker: starting" in cmdline
        assert "s3cret" not in cmdline
        out, _ = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == ExitCode.REDIS_UNREACHABLE
    assert "s3cret" not in out
    assert "prefer FASTQ_REDIS_URL" in out


def test_logging_json_has_pid_task_id_and_no_secrets() -> None:
    import io
    import json
    import logging

    import structlog

    from fastq.logging import configure_logging, get_logger, task_context

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    try:
        log = get_logger("fastq.test")
        with task_context("task-123", task_type="email"):
            log.info("running", redis="redis://u:hunter2@h:6379/0", password="hunter2")
        log.debug("hidden below the level")
        logging.getLogger("redis.thing").warning("connect to redis://:hunter2@h:1 failed")
        lines = [json.loads(x) for x in out.getvalue().splitlines()]
    finally:  # leave logging as other tests expect it
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.reset_defaults()
    assert len(lines) == 2
    first, second = lines
    assert first["task_id"] == "task-123" and first["task_type"] == "email"
    assert first["pid"] == os.getpid() and first["level"] == "info" and "timestamp" in first
    assert first["redis"] == "redis://u:***@h:6379/0" and first["password"] == "***"
    assert "task_id" not in second
    assert "hunter2" not in out.getvalue()
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml", "info")


def test_term_while_waiting_for_redis_exits_zero() -> None:
    import signal

    env = dict(
        os.environ,
        PYTHONPATH=f"{ROOT}:{TESTS}",
        FASTQ_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    p = subprocess.Popen(
        [sys.executable, "-m", "fastq.supervisor", "supervisorapps.recording_app:app"],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert p.stdout is not None
        for line in p.stdout:  # wait until it is in the retry loop
            if "Redis unreachable; retrying" in line:
                break
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == ExitCode.OK
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_redis_refusing_us_is_reported_not_a_traceback(redis_url: str, r: redis.Redis) -> None:
    r.config_set("requirepass", "right-pw")
    try:
        wrong = redis_url.replace("redis://", "redis://:wrong-pw@")
        for url in (redis_url, wrong):  # no password (NOAUTH), a wrong one
            code, out = run_cli(
                "supervisorapps.recording_app:app",
                "--redis-wait",
                "1",
                env={"FASTQ_REDIS_URL": url},
            )
            # A refusal is permanent: the configuration exit code, at once, with why.
            assert code == ExitCode.INVALID_OPTIONS, out
            assert "Traceback" not in out and "wrong-pw" not in out
            assert "Redis refused the credentials" in out and "retrying" not in out
    finally:
        admin = redis.Redis.from_url(redis_url, password="right-pw")
        admin.config_set("requirepass", "")
        admin.close()
