"""Orders and the guide's routing: which task types an order makes, on which queue, how long.

Everything here is pure (no I/O), so the API, the workers, the load generator and the
tests share one table.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import fastq

# The guide's "Worker Configuration": weights 6/4/2/1.
QUEUES = "critical=6,high=4,default=2,low=1"


@dataclass(frozen=True)
class Route:
    """Where a task type goes: the guide's "Task-to-Queue Assignment" and "Timeout
    Configuration"."""

    type: str
    queue: str
    timeout: int  # seconds one run may take
    max_retry: int


ROUTES = (
    Route("payment:process", "critical", 30, 3),
    Route("inventory:update", "high", 60, 10),
    Route("email:confirmation", "default", 60, 10),
    Route("invoice:generate", "default", 120, 10),
    Route("analytics:track", "low", 30, 3),
    Route("warehouse:notify", "low", 60, 10),
)
ROUTE_BY_TYPE = {r.type: r for r in ROUTES}

_SKU = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")
MAX_ITEMS = 50


class OrderError(ValueError):
    """The order in a request is invalid; the message says which field and why."""


@dataclass(frozen=True)
class Order:
    """A validated order. ``amount_cents`` is computed from the items, never trusted."""

    id: str
    customer_id: str
    email: str
    items: tuple[tuple[str, int, int], ...]  # (sku, quantity, unit price in cents)

    @property
    def amount_cents(self) -> int:
        return sum(qty * price for _, qty, price in self.items)

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "customer_id": self.customer_id,
                "email": self.email,
                "items": [{"sku": s, "quantity": q, "price_cents": p} for s, q, p in self.items],
                "amount_cents": self.amount_cents,
            },
            separators=(",", ":"),
        )


def _int_field(item: dict[str, Any], name: str, low: int, high: int) -> int:
    value = item.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise OrderError(f"items[].{name} must be an integer from {low} to {high}")
    return value


def parse_order(body: Any) -> Order:
    """Validate a request body (decoded JSON) into an Order with a new id.

    Args:
        body: ``{"customer_id": str, "email": str, "items": [{"sku", "quantity",
            "price_cents"}]}``.

    Raises ``OrderError`` naming the first bad field.
    """
    if not isinstance(body, dict):
        raise OrderError("the body must be a JSON object")
    customer = body.get("customer_id")
    if not isinstance(customer, str) or not 1 <= len(customer) <= 64:
        raise OrderError("customer_id must be a string of 1 to 64 characters")
    email = body.get("email")
    if not isinstance(email, str) or not _EMAIL.match(email):
        raise OrderError("email must be an e-mail address")
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise OrderError(f"items must be a list of 1 to {MAX_ITEMS} items")
    parsed = []
    for item in items:
        if not isinstance(item, dict):
            raise OrderError("each item must be an object")
        sku = item.get("sku")
        if not isinstance(sku, str) or not _SKU.match(sku):
            raise OrderError("items[].sku must be 1 to 32 letters, digits, '-' or '_'")
        parsed.append(
            (sku, _int_field(item, "quantity", 1, 1000), _int_field(item, "price_cents", 1, 10**8))
        )
    return Order(f"o_{uuid.uuid4().hex}", customer, email, tuple(parsed))


def task_id(order_id: str, task_type: str) -> str:
    """A task's id follows from its order: GET /orders/{id} finds the six tasks without
    a lookup table, and placing the same order twice is refused (TaskIDConflictError)."""
    return f"{order_id}.{task_type}"


def order_tasks(order: Order) -> list[fastq.Task]:
    """The six tasks of an order. Payloads carry ids only (the guide's "Payload Size"),
    plus the amount the payment task charges, as in the guide's PaymentPayload."""
    tasks = []
    for r in ROUTES:
        body: dict[str, Any] = {"order_id": order.id}
        if r.type == "payment:process":
            body["amount_cents"] = order.amount_cents
        tasks.append(
            fastq.Task.json(
                r.type,
                body,
                queue=r.queue,
                timeout=r.timeout,
                max_retry=r.max_retry,
                task_id=task_id(order.id, r.type),
            )
        )
    return tasks
