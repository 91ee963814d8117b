"""The shop's HTTP API: ``uvicorn examples.shop.api:app`` (Starlette).

- ``POST /orders`` validates the order, saves it, and enqueues its six tasks in one
  ``AsyncClient.enqueue_many`` round trip; it answers 202 with the task ids at once
  and leaves the slow work to the workers (the guide's "Task Creation").
- ``GET /orders/{id}`` shows each task's state, retries, last error and result,
  read through the ``AsyncInspector``.
- ``GET /healthz`` answers 200 when Redis does (the container HEALTHCHECK).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import fastq
from examples.shop import store
from examples.shop.orders import ROUTES, OrderError, order_tasks, parse_order, task_id
from fastq.errors import BrokerError, TaskNotFoundError
from fastq.inspect.types import CorruptTask

# Requests beyond this many wait their turn for Redis rather than fail: fastq's client
# pool, like redis-py's default, refuses a connection past 100.
REDIS_CONCURRENCY = int(os.environ.get("SHOP_API_REDIS_CONCURRENCY", "64"))
GONE_NOTE = "finished and not retained (FASTQ_RETENTION_MINUTES keeps finished tasks visible)"


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    redis_url = store.store_url()
    app.state.client = fastq.AsyncClient(redis_url)
    app.state.inspector = fastq.AsyncInspector(redis_url)
    app.state.store = store.connect(max_connections=REDIS_CONCURRENCY)
    app.state.slots = asyncio.Semaphore(REDIS_CONCURRENCY)
    try:
        yield
    finally:
        await app.state.client.close()
        await app.state.inspector.close()
        await app.state.store.aclose()


async def create_order(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:  # not JSON, or not UTF-8
        return JSONResponse({"error": "the body must be JSON"}, status_code=400)
    try:
        order = parse_order(body)
    except OrderError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    state = request.app.state
    try:
        async with state.slots:
            await state.store.set(store.order_key(order.id), order.to_json(), ex=store.ORDER_TTL)
            infos = await state.client.enqueue_many(order_tasks(order))
    except BrokerError as exc:
        return JSONResponse({"error": f"queue unavailable: {exc}"}, status_code=503)
    return JSONResponse(
        {
            "order_id": order.id,
            "amount_cents": order.amount_cents,
            "tasks": {info.type: info.id for info in infos},
        },
        status_code=202,
        headers={"Location": f"/orders/{order.id}"},
    )


def _result(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


async def _task_view(inspector: fastq.AsyncInspector, queue: str, tid: str) -> dict[str, Any]:
    try:
        info = await inspector.task_info(queue, tid)
    except TaskNotFoundError:
        return {"id": tid, "queue": queue, "state": "gone", "note": GONE_NOTE}
    if isinstance(info, CorruptTask):
        return {"id": tid, "queue": queue, "state": "corrupt", "note": info.reason}
    return {
        "id": tid,
        "queue": queue,
        "state": info.state.value,
        "retried": info.retried,
        "max_retry": info.max_retry,
        "last_error": info.last_err or None,
        "result": _result(info.result),
    }


async def show_order(request: Request) -> JSONResponse:
    order_id = request.path_params["order_id"]
    state = request.app.state
    async with state.slots:
        raw = await state.store.get(store.order_key(order_id))
        if raw is None:
            return JSONResponse({"error": "no such order"}, status_code=404)
        # One lookup at a time: a request holds one Inspector connection at most.
        views = [
            await _task_view(state.inspector, r.queue, task_id(order_id, r.type)) for r in ROUTES
        ]
    tasks = {r.type: v for r, v in zip(ROUTES, views, strict=True)}
    return JSONResponse({"order": json.loads(raw), "tasks": tasks})


async def healthz(request: Request) -> JSONResponse:
    try:
        await request.app.state.store.ping()
    except Exception as exc:  # any failure to reach Redis means unhealthy
        return JSONResponse({"ok": False, "error": type(exc).__name__}, status_code=503)
    return JSONResponse({"ok": True})


app = Starlette(
    routes=[
        Route("/orders", create_order, methods=["POST"]),
        Route("/orders/{order_id}", show_order, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ],
    lifespan=lifespan,
)
