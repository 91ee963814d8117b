"""A fastq.App for the metrics tests: ``ok`` succeeds, ``boom`` raises, ``nap`` sleeps."""

from __future__ import annotations

import time

from fastq.app import App, Context, IncomingTask

app = App()


@app.task("ok")
def ok(task: IncomingTask, ctx: Context) -> None:
    pass


@app.task("boom")
def boom(task: IncomingTask, ctx: Context) -> None:
    raise RuntimeError("boom")


@app.task("nap")
def nap(task: IncomingTask, ctx: Context) -> None:
    time.sleep(float(task.payload or b"0"))
