"""Issue 18: typed tasks, lifecycle hooks, readable failures, testing helpers.

Each section names the item it covers. Redis is the harness's real redis-server;
the lifecycle tests run real ``fastq-worker`` processes.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import redis
from asynq_writer import put_task
from click.testing import CliRunner
from pydantic import BaseModel
from structlog.testing import capture_logs
from supervisorapps.harness import ROOT, TESTS, SupervisorProc, wait_for

import fastq
from fastq import Context, IncomingTask, InvalidOptionError, SkipRetry, TaskState
from fastq._core import TaskMessage
from fastq.app import App
from fastq.cli.main import cli
from fastq.client import Client
from fastq.errors import FastqError, TaskCanceledError, TaskTimeoutError, UnknownTaskTypeError
from fastq.inspect.inspector import Inspector
from fastq.supervisor.exitcodes import ExitCode
from fastq.task import Task, TaskInfo
from fastq.testing import Clock, TestWorker
from fastq.worker.failures import (
    LOG_BURST,
    LOG_TRACEBACK_BYTES,
    LOG_WINDOW,
    MAX_TRACEBACK_BYTES,
    FailureLog,
    format_traceback,
)

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def default_client(redis_url: str) -> Iterator[str]:
    fastq.configure(redis_url)
    yield redis_url
    fastq.configure()


def make_app(seen: list[Any]) -> App:
    app = App()

    @app.task("email:send", queue="mail", max_retry=5, timeout=30, retention=60)
    async def send(ctx: Context, user_id: int, template: str, cc: list[str] | None = None) -> None:
        seen.append(("send", user_id, template, cc, ctx.queue))

    @app.task("sum")
    def add(a: int, b: float) -> None:
        seen.append(("sum", a, b))

    @app.task("raw")
    def raw(task: IncomingTask, ctx: Context) -> None:
        seen.append(("raw", task.payload))

    app.send = send  # type: ignore[attr-defined]
    app.add = add  # type: ignore[attr-defined]
    return app


# --- typed task functions ------------------------------------------------------------


def test_enqueue_writes_the_json_object_of_the_arguments_with_declared_defaults(
    default_client: str,
) -> None:
    app = make_app([])
    info = app.send.enqueue(user_id=7, template="welcome")  # type: ignore[attr-defined]
    with Inspector(default_client) as insp:
        stored = insp.task_info("mail", info.id)
    assert isinstance(stored, TaskInfo)
    assert json.loads(stored.payload) == {"user_id": 7, "template": "welcome"}
    assert (stored.type, stored.queue, stored.max_retry, stored.timeout, stored.retention) == (
        "email:send",
        "mail",
        5,
        30,
        60,
    )


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"user_id": 1}, "template"),  # missing
        ({"user_id": 1, "template": "x", "bcc": []}, "bcc"),  # unexpected
        ({"user_id": "1", "template": "x"}, "user_id"),  # wrong type
        ({"user_id": True, "template": "x"}, "user_id"),  # bool is not an int here
        ({"user_id": 1, "template": "x", "cc": ["a", 2]}, "cc"),  # wrong item type
    ],
)
def test_bad_arguments_raise_naming_the_argument_and_send_nothing(
    default_client: str, kwargs: dict[str, Any], option: str
) -> None:
    app = make_app([])
    with pytest.raises(InvalidOptionError) as err:
        app.send.enqueue(**kwargs)  # type: ignore[attr-defined]
    assert err.value.option == option
    with Inspector(default_client) as insp:
        assert insp.queues() == []


def test_enqueue_many_and_using_apply_per_call_options(default_client: str) -> None:
    app = make_app([])
    infos = app.add.enqueue_many([{"a": 1, "b": 2.5}, {"a": 2, "b": 3}])  # type: ignore[attr-defined]
    later = app.add.using(queue="critical", process_in=60).enqueue(a=3, b=1)  # type: ignore[attr-defined]
    assert [json.loads(i.payload) for i in infos] == [{"a": 1, "b": 2.5}, {"a": 2, "b": 3}]
    assert [i.queue for i in infos] == ["default", "default"]
    assert (later.queue, later.state) == ("critical", TaskState.SCHEDULED)
    with pytest.raises(InvalidOptionError) as err:  # all or nothing
        app.add.enqueue_many([{"a": 1, "b": 2}, {"a": 1}])  # type: ignore[attr-defined]
    assert err.value.option == "b"


async def test_aenqueue_uses_the_loops_async_client(default_client: str) -> None:
    app = make_app([])
    info = await app.add.aenqueue(a=1, b=2)  # type: ignore[attr-defined]
    with Inspector(default_client) as insp:
        assert insp.task_info("default", info.id).payload == b'{"a":1,"b":2}'  # type: ignore[union-attr]


def test_unknown_task_option_is_refused_where_the_task_is_declared() -> None:
    app = App()
    with pytest.raises(InvalidOptionError) as err:
        app.task("x", max_retries=3)
    assert err.value.option == "max_retries"
    with pytest.raises(InvalidOptionError) as err2:
        app.task("x", queue="bad{name}")
    assert err2.value.option == "queue"


def test_worker_converts_the_payload_and_passes_ctx(redis_url: str) -> None:
    seen: list[Any] = []
    app = make_app(seen)
    fastq.configure(redis_url)
    try:
        app.send.enqueue(user_id=1, template="t", cc=["a@x"])  # type: ignore[attr-defined]
        app.add.enqueue(a=1, b=2)  # type: ignore[attr-defined]
        Client(redis_url).enqueue(Task("raw", b"\x00bytes"))
        outcomes = TestWorker(app, redis_url).drain()
    finally:
        fastq.configure()
    assert sorted(o.status for o in outcomes) == ["succeeded"] * 3
    assert sorted(seen, key=str) == sorted(
        [("send", 1, "t", ["a@x"], "mail"), ("sum", 1, 2), ("raw", b"\x00bytes")], key=str
    )


def test_old_task_ctx_handlers_are_returned_unchanged() -> None:
    app = App()

    def legacy(task: IncomingTask, ctx: Context) -> None:
        pass

    assert app.task("legacy")(legacy) is legacy
    assert app.route("legacy").fn is legacy
    assert app.specs["legacy"].type == "legacy"


def test_task_ctx_handlers_with_any_annotations_stay_protocol_level() -> None:
    # (task: Any, ctx: Any) is how untyped code annotates the protocol form: its
    # payload must reach it as bytes, not be parsed as JSON arguments.
    app = App()

    def annotated(task: Any, ctx: Any) -> None:
        pass

    async def half(task, ctx: Context) -> None:  # type: ignore[no-untyped-def]
        pass

    assert app.task("annotated")(annotated) is annotated
    assert app.task("half")(half) is half


def test_the_decorated_function_stays_callable_as_fn() -> None:
    app = make_app([])
    assert app.add.fn(2, 3.0) is None  # type: ignore[attr-defined]
    assert app.add.fn.__name__ == "add"  # type: ignore[attr-defined]


def test_go_layout_payload_reaches_a_typed_handler(redis_url: str, r: redis.Redis) -> None:
    seen: list[Any] = []
    app = make_app(seen)
    # What a Go producer writes: json.Marshal of a struct with the same field names.
    payload = b'{"user_id":42,"template":"go","cc":["x@y"]}'
    put_task(r, "mail", "pending", type="email:send", payload=payload)
    [outcome] = TestWorker(app, redis_url).drain()
    assert outcome.ok
    assert seen == [("send", 42, "go", ["x@y"], "mail")]


def test_payload_that_does_not_fit_is_archived_naming_the_argument(
    redis_url: str, r: redis.Redis
) -> None:
    app = make_app([])
    tid = put_task(r, "default", "pending", type="sum", payload=b'{"a":"one","b":2}')
    [outcome] = TestWorker(app, redis_url).drain()
    assert outcome.status == "archived"
    assert isinstance(outcome.error, SkipRetry)
    with Inspector(redis_url) as insp:
        info = insp.task_info("default", tid)
    assert isinstance(info, TaskInfo)
    assert info.state is TaskState.ARCHIVED
    assert "invalid option 'a'" in info.last_err


class Address(BaseModel):
    city: str
    zip: str


@dataclass
class Point:
    x: int
    y: int


def test_pydantic_validates_and_converts_richer_annotations(redis_url: str) -> None:
    seen: list[Any] = []
    app = App()

    @app.task("ship")
    def ship(to: Address, at: Point, mode: Literal["air", "sea"]) -> None:
        seen.append((to, at, mode))

    fastq.configure(redis_url)
    try:
        info = ship.enqueue(to=Address(city="Oslo", zip="0150"), at=Point(1, 2), mode="air")
        with pytest.raises(InvalidOptionError) as err:
            ship.enqueue(to={"city": "Oslo"}, at=Point(1, 2), mode="air")  # type: ignore[arg-type]
        assert err.value.option == "to"
        TestWorker(app, redis_url).drain()
    finally:
        fastq.configure()
    assert json.loads(info.payload) == {
        "to": {"city": "Oslo", "zip": "0150"},
        "at": {"x": 1, "y": 2},
        "mode": "air",
    }
    assert seen == [(Address(city="Oslo", zip="0150"), Point(1, 2), "air")]


def test_declared_stub_enqueues_what_the_handler_accepts(redis_url: str) -> None:
    seen: list[Any] = []
    worker_app = make_app(seen)
    producer = App()

    @producer.declare("sum", queue="default", max_retry=2)
    def add(a: int, b: float) -> None: ...

    fastq.configure(redis_url)
    try:
        info = add.enqueue(a=5, b=0.5)
        with pytest.raises(InvalidOptionError):
            add.enqueue(a=5)  # type: ignore[call-arg]
    finally:
        fastq.configure()
    assert info.max_retry == 2
    assert producer.task_types == []  # a stub serves nothing
    TestWorker(worker_app, redis_url).drain()
    assert seen == [("sum", 5, 0.5)]


def test_ctx_as_keyword_only_parameter_works_at_run_time(redis_url: str) -> None:
    seen: list[Any] = []
    app = App()

    @app.task("kw")
    def kw(n: int, *, ctx: Context) -> None:
        seen.append((n, ctx.task_id))

    fastq.configure(redis_url)
    try:
        info = kw.enqueue(n=3)  # type: ignore[call-arg]  # mypy wants ctx: see docs/typed-tasks.md
    finally:
        fastq.configure()
    TestWorker(app, redis_url).drain()
    assert seen == [(3, info.id)]


# --- eager mode -------------------------------------------------------------------------


def test_eager_mode_runs_inline_through_the_json_round_trip() -> None:
    seen: list[Any] = []
    app = App()

    @app.task("eager")
    def handler(ctx: Context, items: list[int], name: str) -> None:
        seen.append((items, name))
        ctx.write_result(b"done")
        if name == "boom":
            raise ValueError("boom")

    fastq.configure(eager=True)  # no Redis anywhere: it would refuse the connection
    try:
        info = handler.enqueue(items=(1, 2), name="x")  # type: ignore[arg-type]  # arrives as a list
        with pytest.raises(ValueError, match="boom"):
            handler.enqueue(items=[], name="boom")
    finally:
        fastq.configure()
    assert seen == [([1, 2], "x"), ([], "boom")]
    assert (info.state, info.result, info.type) == (TaskState.COMPLETED, b"done", "eager")
    assert handler.run_eagerly(items=[3], name="y").result == b"done"


# --- drain with a clock -------------------------------------------------------------------


def test_drain_runs_retries_and_scheduled_tasks_as_the_clock_moves(redis_url: str) -> None:
    calls: list[int] = []
    app = App(retry_delay_func=lambda n, e, t: 100.0)

    @app.task("flaky", max_retry=3)
    def flaky(n: int) -> None:
        calls.append(n)
        if len(calls) < 3:
            raise RuntimeError(f"attempt {len(calls)}")

    clock = Clock()
    worker = TestWorker(app, redis_url, clock=clock)
    fastq.configure(redis_url)
    try:
        flaky.enqueue(n=1)
        first = worker.drain()
        assert [(o.status, o.attempt) for o in first] == [("retry", 1)]
        assert worker.drain() == []  # the retry is 100 s away
        clock.advance(101)
        assert [(o.status, o.attempt) for o in worker.drain()] == [("retry", 2)]
        rest = worker.drain(advance=True)
        assert [(o.status, o.attempt) for o in rest] == [("succeeded", 3)]
        flaky.using(process_in=3600).enqueue(n=2)
        assert worker.drain() == []
        clock.advance(3600)
        assert [o.status for o in worker.drain()] == ["succeeded"]
    finally:
        fastq.configure()
    assert calls == [1, 1, 1, 2]


# --- failures you can read ---------------------------------------------------------------


def _explode(depth: int) -> None:
    if depth == 0:
        raise KeyError("no such user")
    _explode(depth - 1)


def test_traceback_is_kept_with_the_task_shown_by_inspect_and_deleted_with_it(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()

    @app.task("fail", max_retry=1)
    def fail(depth: int) -> None:
        _explode(depth)

    fastq.configure(redis_url)
    try:
        info = fail.enqueue(depth=3)
    finally:
        fastq.configure()
    worker = TestWorker(app, redis_url)
    with capture_logs() as logs:
        assert [o.status for o in worker.drain(advance=True)] == ["retry", "archived"]
    with Inspector(redis_url) as insp:
        stored = insp.task_info("default", info.id)
        assert isinstance(stored, TaskInfo)
        assert stored.state is TaskState.ARCHIVED
        assert stored.last_err == "KeyError: 'no such user'"  # Asynq's short message
        assert "in _explode" in stored.traceback
        assert stored.traceback.rstrip().endswith("KeyError: 'no such user'")
        out = CliRunner().invoke(
            cli, ["--redis-url", redis_url, "task", "inspect", "-q", "default", "-i", info.id]
        )
        assert out.exit_code == 0, out.output
        assert "Traceback:" in out.output and "in _explode" in out.output
        insp.delete_task("default", info.id)
    assert r.keys("*:t:*") == []  # nothing of the task is left behind
    levels = [(e["log_level"], e["event"], e["attempt"]) for e in logs if "task_id" in e]
    assert levels == [
        ("warning", "task failed; will retry", 1),
        ("error", "task failed; archived", 2),
    ]
    assert all(e["task_type"] == "fail" and "in _explode" in e["traceback"] for e in logs)


def test_a_success_after_a_failure_keeps_no_stale_traceback_on_retry_paths(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    attempts: list[int] = []

    @app.task("once")
    def once() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first")
        raise fastq.SkipRetry("second")  # archived, with its own traceback

    fastq.configure(redis_url)
    try:
        info = once.enqueue()
    finally:
        fastq.configure()
    TestWorker(app, redis_url).drain(advance=True)
    with Inspector(redis_url) as insp:
        stored = insp.task_info("default", info.id)
    assert isinstance(stored, TaskInfo)
    assert "second" in stored.traceback and "first" not in stored.traceback


def test_traceback_is_bounded_and_keeps_its_end() -> None:
    try:
        raise ValueError("x" * (3 * MAX_TRACEBACK_BYTES))
    except ValueError as exc:
        text = format_traceback(exc)
    assert len(text.encode()) <= MAX_TRACEBACK_BYTES
    assert text.startswith("... [traceback truncated]")
    assert text.endswith("x\n")


def test_worker_made_errors_store_no_traceback_of_fastq_internals() -> None:
    for exc in (UnknownTaskTypeError("t"), TaskTimeoutError("late"), TaskCanceledError("c")):
        try:
            raise exc
        except FastqError as raised:
            assert format_traceback(raised) == ""


def test_docs_state_the_limits_the_code_has() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "typed-tasks.md").read_text()
    assert f"At most {LOG_BURST}\nfailure lines are written per {LOG_WINDOW:g} seconds" in doc
    assert f"`traceback` (its last {LOG_TRACEBACK_BYTES // 1024} KB)" in doc
    assert f"up to {MAX_TRACEBACK_BYTES // 1024} KB" in doc
    assert f"exit code {int(ExitCode.WORKER_BOOT_ERROR)} (`WORKER_BOOT_ERROR`)" in doc


def test_failure_log_is_rate_limited_and_counts_what_it_left_out() -> None:
    now = [0.0]
    flog = FailureLog(burst=3, window=10, clock=lambda: now[0])
    tm = TaskMessage(type="t", id="i", queue="q", retry=1)
    with capture_logs() as logs:
        logged = [flog.failed(tm, "q", RuntimeError("x"), archived=False) for _ in range(10)]
        now[0] = 11
        flog.failed(tm, "q", RuntimeError("x"), archived=False)
    assert logged == [True] * 3 + [False] * 7
    events = [e["event"] for e in logs]
    assert events.count("task failed; will retry") == 4
    assert {
        "event": "task failures not logged (rate limit)",
        "count": 7,
        "log_level": "warning",
    } in logs


# --- lifecycle hooks, with real fastq-worker processes ---------------------------------

HOOK_APP = """
import os
import fastq

app = fastq.App()
FAIL = os.environ.get("HOOK_FAIL") == "1"


@app.on_startup
async def open_pool(state: fastq.State) -> None:
    if FAIL:
        raise RuntimeError("database is down")
    state.pid = os.getpid()
    state.opened = state.__dict__.get("opened", 0) + 1


@app.on_startup
def second(state: fastq.State) -> None:
    state.order = ["open_pool", "second"]


@app.on_shutdown
def close_pool(state: fastq.State) -> None:
    with open(os.environ["HOOK_OUT"], "a") as f:
        f.write(f"shutdown {os.getpid()}\\n")


@app.task("whoami")
def whoami(ctx: fastq.Context) -> None:
    s = ctx.state
    ctx.write_result(f"{s.pid} {os.getpid()} {s.opened} {','.join(s.order)}".encode())
"""


def _hook_worker(tmp_path: Path, url: str, **env: str) -> SupervisorProc:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "hook_app.py").write_text(HOOK_APP)
    full = {"FASTQ_REDIS_URL": url, "PYTHONPATH": f"{ROOT}:{TESTS}:{code}", **env}
    return SupervisorProc.real(["hook_app:app", "--processes", "2"], tmp_path / "sup", full)


def test_startup_hooks_run_once_per_worker_process_and_fill_ctx_state(
    redis_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "hooks.out"
    p = _hook_worker(tmp_path, redis_url, HOOK_OUT=str(out))
    try:
        with Client(redis_url) as client:
            ids = [client.enqueue(Task("whoami", b"{}", retention=600)).id for _ in range(20)]
        with Inspector(redis_url) as insp:

            def results() -> list[bytes] | None:
                infos = [insp.task_info("default", i) for i in ids]
                got = [i.result for i in infos if isinstance(i, TaskInfo) and i.result]
                return got if len(got) == len(ids) else None

            got = wait_for(results, timeout=30, what="every task's result")
        rows = [b.decode().split() for b in got]
        assert all(row[0] == row[1] for row in rows)  # the hook ran in the same process
        assert {row[2] for row in rows} == {"1"}  # once per process
        assert {row[3] for row in rows} == {"open_pool,second"}
        pids = {int(p_.pid) for p_ in p.workers()}
        p.signal(signal.SIGTERM)
        assert p.wait(30) == ExitCode.OK
        closed = {int(line.split()[1]) for line in out.read_text().splitlines()}
        assert pids <= closed
    finally:
        p.close()


def test_a_failing_startup_hook_halts_the_supervisor_with_the_boot_error_code(
    redis_url: str, tmp_path: Path
) -> None:
    p = _hook_worker(tmp_path, redis_url, HOOK_FAIL="1", HOOK_OUT=str(tmp_path / "x"))
    try:
        assert p.wait(30) == ExitCode.WORKER_BOOT_ERROR
        log = p.log()
        assert "database is down" in log
        assert "failed to boot" in log
    finally:
        p.close()


def test_a_hostile_traceback_is_escaped_by_task_inspect(redis_url: str) -> None:
    app = App()

    @app.task("hostile", max_retry=0)
    def hostile() -> None:
        raise ValueError("\x1b]0;pwned\x07\x1b[2J")

    fastq.configure(redis_url)
    try:
        info = hostile.enqueue()
    finally:
        fastq.configure()
    TestWorker(app, redis_url).drain()
    argv = ["--redis-url", redis_url, "task", "inspect", "-q", "default", "-i", info.id]
    out = CliRunner().invoke(cli, argv)
    assert out.exit_code == 0, out.output
    assert "Traceback:" in out.output
    assert "\x1b" not in out.output and "\x07" not in out.output
    assert "\\x1b]0;pwned\\x07" in out.output
