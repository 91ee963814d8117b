"""The shop API on a real Redis, in process (Starlette's TestClient) (issue 17)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

import fastq
from examples.shop.orders import ROUTES, OrderError, parse_order

ORDER = {
    "customer_id": "c1",
    "email": "a@example.com",
    "items": [
        {"sku": "SKU-1", "quantity": 2, "price_cents": 1250},
        {"sku": "SKU-2", "quantity": 1, "price_cents": 99},
    ],
}


@pytest.fixture
def api(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("FASTQ_REDIS_URL", redis_url)
    monkeypatch.delenv("SHOP_REDIS_URL", raising=False)
    monkeypatch.setenv("FASTQ_RETENTION_MINUTES", "30")
    from examples.shop.api import app

    with TestClient(app) as client:
        yield client


def test_post_orders_enqueues_the_six_routed_tasks_with_ids_only(
    api: TestClient, redis_url: str
) -> None:
    r = api.post("/orders", json=ORDER)
    assert r.status_code == 202
    body = r.json()
    oid = body["order_id"]
    assert body["amount_cents"] == 2599 and r.headers["location"] == f"/orders/{oid}"
    assert set(body["tasks"]) == {route.type for route in ROUTES}
    with fastq.Inspector(redis_url) as inspector:
        for route in ROUTES:
            info = inspector.task_info(route.queue, body["tasks"][route.type])
            assert isinstance(info, fastq.TaskInfo)
            assert (info.type, info.state.value) == (route.type, "pending")
            assert (info.timeout, info.max_retry, info.retention) == (
                route.timeout,
                route.max_retry,
                1800,
            )
            expected = {"order_id": oid}
            if route.type == "payment:process":
                expected["amount_cents"] = 2599  # type: ignore[assignment]
            assert fastq.Task.json("t", expected).payload == info.payload


def test_get_order_shows_each_task_state(api: TestClient) -> None:
    oid = api.post("/orders", json=ORDER).json()["order_id"]
    view = api.get(f"/orders/{oid}").json()
    assert view["order"]["id"] == oid
    assert {t: v["state"] for t, v in view["tasks"].items()} == {
        route.type: "pending" for route in ROUTES
    }
    assert api.get("/orders/o_nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, "JSON"),
        (b"\xff\xfe", 400, "JSON"),
        (b"[]", 422, "object"),
        (b'{"email": "a@b.c", "items": []}', 422, "customer_id"),
        (b'{"customer_id": "c", "email": "nope", "items": []}', 422, "email"),
        (b'{"customer_id": "c", "email": "a@b.c", "items": []}', 422, "items"),
    ],
)
def test_a_bad_order_is_refused_and_enqueues_nothing(
    api: TestClient, redis_url: str, body: bytes, status: int, field: str
) -> None:
    r = api.post("/orders", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and field in r.json()["error"]
    with fastq.Inspector(redis_url) as inspector:
        assert inspector.queues() == []


@pytest.mark.parametrize(
    "item",
    [
        {"sku": "A", "quantity": True, "price_cents": 1},
        {"sku": "A", "quantity": 0, "price_cents": 1},
        {"sku": "A", "quantity": 1, "price_cents": 1.5},
        {"sku": "a b", "quantity": 1, "price_cents": 1},
        "SKU",
    ],
)
def test_parse_order_refuses_bad_items(item: object) -> None:
    with pytest.raises(OrderError):
        parse_order({"customer_id": "c", "email": "a@b.c", "items": [item]})
