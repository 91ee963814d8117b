"""The demo application: a few handlers that look like a shop's background work."""

from __future__ import annotations

import asyncio
import random
import time

import fastq

app = fastq.App()


@app.task("payment:process")
async def process_payment(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    order = task.json()
    await asyncio.sleep(random.uniform(0.005, 0.03))  # a call to the payment provider
    if random.random() < 0.05:
        raise RuntimeError(f"card declined for order {order['order_id']}")  # retried later
    ctx.write_result(b'{"status": "paid"}')


@app.task("email:confirmation")
def send_confirmation(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    time.sleep(random.uniform(0.001, 0.01))  # SMTP


@app.task("inventory:update")
async def update_inventory(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    await asyncio.sleep(0.002)


@app.task("analytics:track")
async def track(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    if task.json().get("bad"):
        raise fastq.SkipRetry("malformed analytics event")  # archived at once
