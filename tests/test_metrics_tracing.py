"""Tracing (fastq-asynq[otel]): the producer's trace continues in the worker's span."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import redis

from fastq import keys
from fastq._core import TaskMessage
from fastq.app import App, Context, IncomingTask, run_sync
from fastq.client import Client
from fastq.task import Task

otel_sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402

from fastq.metrics.tracing import trace_tasks  # noqa: E402

EXPORTER = InMemorySpanExporter()
PROVIDER = otel_sdk.TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
TRACER = PROVIDER.get_tracer("test")


def stored_message(r: redis.Redis, queue: str, task_id: str) -> TaskMessage:
    return TaskMessage.decode(r.hget(keys.task_key(queue, task_id), "msg"))


def run_traced(msg: TaskMessage, fn: object) -> None:
    app = App()
    app.use(trace_tasks)
    app.handle(msg.type, fn)  # type: ignore[arg-type]
    route = app.route(msg.type)
    run_sync(route, IncomingTask(msg), Context(msg.id, msg.queue, 0.0))


def test_the_worker_span_continues_the_producers_trace(redis_url: str, r: redis.Redis) -> None:
    EXPORTER.clear()
    trace.set_tracer_provider(PROVIDER)
    with TRACER.start_as_current_span("request") as parent, Client(redis_url) as c:
        info = c.enqueue(Task("mail", b"{}", headers={"k": "v"}), queue="q")
        many = c.enqueue_many([Task("mail", b"{}")], queue="q")
    msg = stored_message(r, "q", info.id)
    trace_id = f"{parent.get_span_context().trace_id:032x}"
    assert msg.headers["k"] == "v"
    assert msg.headers["traceparent"].split("-")[1] == trace_id
    assert stored_message(r, "q", many[0].id).headers["traceparent"].split("-")[1] == trace_id

    run_traced(msg, lambda task, ctx: None)
    (span,) = [s for s in EXPORTER.get_finished_spans() if s.name == "fastq.run mail"]
    assert span.context.trace_id == parent.get_span_context().trace_id
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert dict(span.attributes or {}) == {
        "fastq.task.type": "mail",
        "fastq.task.queue": "q",
        "fastq.task.id": info.id,
        "fastq.task.retried": 0,
        "fastq.task.outcome": "succeeded",
        "messaging.system": "fastq",
        "messaging.operation": "process",
    }


def test_a_failed_run_marks_its_span_as_error(redis_url: str, r: redis.Redis) -> None:
    EXPORTER.clear()
    trace.set_tracer_provider(PROVIDER)
    msg = TaskMessage(type="bad", id="t1", queue="q", retried=2)

    def boom(task: IncomingTask, ctx: Context) -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError):
        run_traced(msg, boom)
    (span,) = EXPORTER.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert (span.attributes["fastq.task.outcome"], span.attributes["fastq.task.retried"]) == (
        "failed",
        2,
    )
    assert span.parent is None  # no producer trace: a new root


def test_no_traceparent_without_an_active_span(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url) as c:
        info = c.enqueue(Task("mail"), queue="q")
    assert "traceparent" not in stored_message(r, "q", info.id).headers


def test_a_context_without_a_span_adds_nothing_and_a_span_in_it_is_carried() -> None:
    from opentelemetry import baggage, context

    from fastq.metrics.tracing import with_trace

    token = context.attach(baggage.set_baggage("tenant", "a"))  # a value, but no span
    try:
        assert with_trace(None) is None
        with TRACER.start_as_current_span("produce") as span:
            got = with_trace({"h": "1"})
        assert got is not None and got["h"] == "1"
        assert got["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")
    finally:
        context.detach(token)


def test_without_the_extra_nothing_is_imported_and_headers_stay(redis_url: str) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "opentelemetry":
                    raise ImportError("blocked")
        sys.meta_path.insert(0, Block())
        from fastq.client import Client
        from fastq.task import Task
        from fastq.metrics import tracing
        with Client({redis_url!r}) as c:
            info = c.enqueue(Task("mail", headers={{"k": "v"}}), queue="q")
        assert info.headers == {{"k": "v"}}, info.headers
        assert not [m for m in sys.modules if m.startswith("opentelemetry")]
        try:
            next(tracing.trace_tasks(None, None))
        except RuntimeError as exc:
            assert "fastq-asynq[otel]" in str(exc)
        else:
            raise AssertionError("trace_tasks ran without OpenTelemetry")
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "ok", out.stderr
