"""The shop's task handlers: ``fastq-worker examples.shop.worker:app``.

Each follows the guide's "Best Practices": the payload holds ids only and the
handler loads the order; every effect is idempotent (a rerun after a retry or a
crashed worker changes nothing); transient errors raise and are retried with the
guide's n² backoff; permanent ones raise ``fastq.SkipRetry`` and go to the archive.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from typing import Any

import redis.asyncio as aioredis

import fastq
from examples.shop import store
from examples.shop.provider import CardDeclined, FakePaymentProvider, failure_rate_from_env

RETRY_UNIT = float(os.environ.get("SHOP_RETRY_UNIT_SECONDS", "1"))


def retry_delay(retried: int, exc: BaseException, task: fastq.IncomingTask) -> float:
    """The guide's "Custom Retry Logic": n² units after the n-th failure (the guide's unit is
    a minute; SHOP_RETRY_UNIT_SECONDS, default 1 s, keeps the demo lively)."""
    return (retried + 1) ** 2 * RETRY_UNIT


app = fastq.App(retry_delay_func=retry_delay)

_deps: dict[int, tuple[aioredis.Redis, FakePaymentProvider]] = {}


def deps() -> tuple[aioredis.Redis, FakePaymentProvider]:
    """This process's store connection and provider (made after fork, on first use)."""
    pid = os.getpid()
    if pid not in _deps:
        redis = store.connect()
        _deps[pid] = (redis, FakePaymentProvider(redis, failure_rate_from_env()))
    return _deps[pid]


async def load_order(redis: aioredis.Redis, task: fastq.IncomingTask) -> tuple[str, dict[str, Any]]:
    """The order a task names. A malformed payload or an unknown order is permanent."""
    try:
        order_id = task.json()["order_id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise fastq.SkipRetry(f"malformed payload: {exc}") from exc
    raw = await redis.get(store.order_key(str(order_id)))
    if raw is None:
        raise fastq.SkipRetry(f"order {order_id!r} not found")
    return str(order_id), json.loads(raw)


async def done(ctx: fastq.Context, **result: Any) -> None:
    await ctx.write_result_async(json.dumps(result, separators=(",", ":")).encode())


@app.task("payment:process")
async def process_payment(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    redis, provider = deps()
    order_id, order = await load_order(redis, task)
    amount = task.json().get("amount_cents")
    if amount != order["amount_cents"]:
        raise fastq.SkipRetry(f"amount {amount!r} does not match the order's")
    recorded = await redis.hget(store.PAYMENTS, order_id)  # the guide's alreadyPaid(orderID)
    if recorded is not None:
        await done(ctx, charge_id=recorded, amount_cents=amount)
        return
    try:
        # The order id is the idempotency key: a rerun of this task (retry, or a worker
        # killed after the charge) gets the first charge back instead of a second one.
        charge_id = await provider.charge(
            order_id, amount, order["customer_id"], idempotency_key=order_id
        )
    except CardDeclined as exc:
        raise fastq.SkipRetry(str(exc)) from exc  # permanent: straight to the archive
    await redis.hsetnx(store.PAYMENTS, order_id, charge_id)
    await done(ctx, charge_id=charge_id, amount_cents=amount)


@app.task("inventory:update")
async def update_inventory(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    redis, _ = deps()
    order_id, order = await load_order(redis, task)
    items = {i["sku"]: i["quantity"] for i in order["items"]}
    await redis.hsetnx(store.RESERVATIONS, order_id, json.dumps(items))
    await done(ctx, reserved=sum(items.values()))


@app.task("email:confirmation")
async def send_confirmation(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    redis, _ = deps()
    order_id, order = await load_order(redis, task)
    await asyncio.sleep(random.uniform(0.002, 0.01))  # SMTP
    await redis.hsetnx(store.OUTBOX, order_id, f"to {order['email']}: order {order_id} confirmed")
    await done(ctx, sent_to=order["email"])


@app.task("invoice:generate")
async def generate_invoice(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    redis, _ = deps()
    order_id, order = await load_order(redis, task)
    await asyncio.sleep(random.uniform(0.01, 0.04))  # rendering the PDF
    lines = [f"{i['quantity']} x {i['sku']} @ {i['price_cents']}" for i in order["items"]]
    document = "\n".join([f"INVOICE {order_id}", *lines, f"TOTAL {order['amount_cents']}"])
    await redis.hset(store.INVOICES, order_id, document)  # same order, same document
    await done(ctx, lines=len(lines), total_cents=order["amount_cents"])


@app.task("analytics:track")
async def track_order(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    redis, _ = deps()
    order_id, _ = await load_order(redis, task)
    await redis.sadd(store.ANALYTICS, order_id)
    await done(ctx, tracked=True)


@app.task("warehouse:notify")
async def notify_warehouse(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    redis, _ = deps()
    order_id, order = await load_order(redis, task)
    await redis.hsetnx(store.WAREHOUSE, order_id, f"ship {len(order['items'])} lines")
    await done(ctx, notified=True)
