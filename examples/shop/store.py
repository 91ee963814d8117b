"""The shop's own data, in Redis under ``shop:*`` (a real shop would use its database).

Every write a handler makes is idempotent: a HSETNX/SADD that a rerun repeats
harmlessly, so at-least-once delivery never doubles an effect. fastq's own keys are
never touched here; task state is read through the Inspector.
"""

from __future__ import annotations

import os

import redis.asyncio as aioredis

ORDER_TTL = 24 * 3600  # the demo's orders expire after a day; tasks refer to them by id
PREFIX = "shop:"


def order_key(order_id: str) -> str:
    return f"{PREFIX}order:{order_id}"


RESERVATIONS = PREFIX + "inventory:reservations"  # HASH order id -> items reserved
OUTBOX = PREFIX + "email:outbox"  # HASH order id -> the confirmation sent
INVOICES = PREFIX + "invoices"  # HASH order id -> invoice document
ANALYTICS = PREFIX + "analytics:orders"  # SET of order ids tracked
WAREHOUSE = PREFIX + "warehouse:notices"  # HASH order id -> notice
PAYMENTS = PREFIX + "payments"  # HASH order id -> charge id, as the shop recorded it
# The fake payment provider's side (see provider.py).
PROVIDER_LEDGER = PREFIX + "provider:ledger"  # LIST "<order id> <amount>": money moved
PROVIDER_CALLS = PREFIX + "provider:calls"  # counter: charge calls received
PROVIDER_REPLAYS = PREFIX + "provider:replays"  # counter: calls answered from idempotency


def provider_idempotency_key(key: str) -> str:
    """STRING: the charge id made under an idempotency key (one key each, so a WATCH
    on it conflicts only with a charge of the same order)."""
    return f"{PREFIX}provider:idempotency:{key}"


def store_url() -> str:
    """The shop keeps its data in the Redis fastq uses unless SHOP_REDIS_URL says otherwise."""
    return os.environ.get("SHOP_REDIS_URL") or os.environ.get(
        "FASTQ_REDIS_URL", "redis://127.0.0.1:6379/0"
    )


def connect(url: str | None = None, max_connections: int = 64) -> aioredis.Redis:
    """An asyncio Redis client for the shop's store (no I/O until first use).

    Args:
        url: the store's Redis (default ``store_url()``).
        max_connections: pool size; a caller beyond it waits for a free connection
            instead of failing (redis-py's default pool raises at 100).
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url or store_url(), max_connections=max_connections, timeout=30, decode_responses=True
    )
    return aioredis.Redis(connection_pool=pool)
