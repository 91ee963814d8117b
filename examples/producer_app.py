"""The handlers for every task type ``examples/producer.py`` enqueues.

    fastq-worker examples.producer_app:app --queues critical=6,default=3,low=1,media=1

(``python3 examples/producer.py`` with no Redis URL starts this worker itself.)
"""

from __future__ import annotations

import fastq

app = fastq.App()


def need(task: fastq.IncomingTask, key: str) -> object:
    """The payload's ``key``; a task without it fails (and is retried, then archived)."""
    data = task.json()
    if key not in data:
        raise ValueError(f"{task.type} payload has no {key!r}")
    return data[key]


@app.task("email:welcome")
async def welcome(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    """Pretend to send the welcome mail of ``user_id``."""
    need(task, "user_id")


@app.task("report:build")
def build_report(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    """A ``def`` handler runs in the worker's thread pool: blocking work is fine."""
    ctx.write_result(f"report for {need(task, 'day')}".encode())


@app.task("cache:warm")
async def warm(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    """The payload is raw bytes here (the page to warm), not JSON."""
    if not task.payload:
        raise ValueError("cache:warm needs a page name")


@app.task("crm:sync")
async def sync(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    need(task, "account")


@app.task("image:thumbnail")
async def thumbnail(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    need(task, "image")
