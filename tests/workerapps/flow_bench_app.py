"""No-op handlers for bench/bench_flow.py: plain, with a per-key cap, with a rate limit."""

from __future__ import annotations

from fastq.app import App, Context, IncomingTask

app = App()


@app.task("noop")
async def noop(task: IncomingTask, ctx: Context) -> None:
    return None


@app.task("noop_keyed", concurrency_key=lambda t: t.payload.decode(), concurrency=1)
async def noop_keyed(task: IncomingTask, ctx: Context) -> None:
    return None


@app.task("noop_rated", rate_limit="1000000/s")
async def noop_rated(task: IncomingTask, ctx: Context) -> None:
    return None
