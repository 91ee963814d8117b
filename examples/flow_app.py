"""The handlers of ``examples/flow.py``: a per-key cap, a per-type rate limit,
``RetryAfter`` and a result to wait for.

    fastq-worker examples.flow_app:app --queues stripe,default \\
        --queue-limits stripe=5 --rate-limits "stripe=50/s"

(``python3 examples/flow.py`` with no Redis URL starts this worker itself.)
"""

from __future__ import annotations

import asyncio
import json

import fastq

app = fastq.App()


@app.task("charge")
async def charge(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    """A call to a payment API: queue "stripe" runs at most 5 at once, 50 per second."""
    await asyncio.sleep(0.01)


# At most one sync per user at a time, fleet-wide; other users' syncs run alongside.
@app.task("sync:user", concurrency_key=lambda t: t.json()["user_id"], concurrency=1)
async def sync_user(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    await asyncio.sleep(0.01)


# Fleet-wide, at most 20 mails per second (burst 5); the rest wait, using no retry.
@app.task("email:send", rate_limit="20/s burst 5")
async def send_email(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    await asyncio.sleep(0)


@app.task("upstream:poll")
async def poll(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    """The upstream answers 429 to the first attempt: come back in a second. That is
    no failure and uses no retry (``retried`` stays 0); the error text is kept."""
    if not task.message.error_msg:
        raise fastq.RetryAfter(1)
    await ctx.write_result_async(b"polled")


@app.task("report:sum")
async def report_sum(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    """Store a result the producer waits for with ``client.wait``."""
    numbers = task.json()["numbers"]
    await ctx.write_result_async(json.dumps({"sum": sum(numbers)}).encode())
