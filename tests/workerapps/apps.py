"""Apps run by worker subprocesses in tests and benchmarks."""

from __future__ import annotations

import time

from fastq.app import App, Context, IncomingTask

app = App()


@app.task("noop")
async def noop(task: IncomingTask, ctx: Context) -> None:
    return None


@app.task("noop_sync")
def noop_sync(task: IncomingTask, ctx: Context) -> None:
    return None


@app.task("sleep")
async def sleep(task: IncomingTask, ctx: Context) -> None:
    import asyncio

    await asyncio.sleep(float(task.payload or b"30"))


@app.task("sleep_sync")
def sleep_sync(task: IncomingTask, ctx: Context) -> None:
    time.sleep(float(task.payload or b"30"))


@app.task("latency")
async def latency(task: IncomingTask, ctx: Context) -> None:
    # The pickup time, read back by bench/bench_worker.py from the kept task.
    ctx.write_result(repr(time.time()).encode())
