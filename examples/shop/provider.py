"""A fake payment provider that fails some calls, the way real ones do.

It honours idempotency keys as Stripe-like providers do: a charge is made at most
once per key, atomically with recording the key (a WATCH/MULTI transaction), and
a repeated call answers with the first charge. Failures, at ``failure_rate``:

- ``ProviderUnavailable`` before charging (a 503): transient, retry;
- ``ProviderTimeout`` *after* charging (the reply was lost): transient, and the
  retry must not charge again, which is what the idempotency key is for;
- ``CardDeclined`` for the test card ``customer_id == "declined"``: permanent.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from examples.shop import store


class ProviderError(Exception):
    """The payment provider refused or failed a call."""


class ProviderUnavailable(ProviderError):
    """The provider is down for a moment (nothing was charged); retry."""


class ProviderTimeout(ProviderError):
    """The call timed out after the provider charged; retry with the same key."""


class CardDeclined(ProviderError):
    """The card was declined: retrying cannot help."""


def failure_rate_from_env() -> float:
    """SHOP_PAYMENT_FAILURE_RATE: share of calls that fail (default 0.1)."""
    rate = float(os.environ.get("SHOP_PAYMENT_FAILURE_RATE", "0.1"))
    if not 0 <= rate <= 1:
        raise ValueError(f"SHOP_PAYMENT_FAILURE_RATE must be from 0 to 1, got {rate}")
    return rate


class FakePaymentProvider:
    """Charges orders, keeping its ledger in Redis (it stands for a remote service).

    Args:
        redis: the store connection.
        failure_rate: share of calls failing before the charge; half as many fail
            after it.
        latency: (min, max) seconds a call takes.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        failure_rate: float,
        latency: tuple[float, float] = (0.005, 0.03),
    ) -> None:
        self.redis = redis
        self.failure_rate = failure_rate
        self.latency = latency

    async def charge(
        self, order_id: str, amount_cents: int, customer_id: str, *, idempotency_key: str
    ) -> str:
        """Charge the order once per ``idempotency_key``; returns the charge id.

        Args:
            order_id: what the charge is for (written to the ledger).
            amount_cents: how much.
            customer_id: whose card; ``"declined"`` is the test card that is refused.
            idempotency_key: calls with the same key charge once.
        """
        await self.redis.incr(store.PROVIDER_CALLS)
        await asyncio.sleep(random.uniform(*self.latency))
        if customer_id == "declined":
            raise CardDeclined(f"card of customer {customer_id!r} declined")
        if random.random() < self.failure_rate:
            raise ProviderUnavailable("payment provider unavailable (503)")
        charge_id = await self._charge_once(order_id, amount_cents, idempotency_key)
        if random.random() < self.failure_rate / 2:
            raise ProviderTimeout("payment provider timed out after charging")
        return charge_id

    async def _charge_once(self, order_id: str, amount_cents: int, key: str) -> str:
        idem = store.provider_idempotency_key(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(idem)
                    existing = await pipe.get(idem)
                    if existing is not None:
                        await pipe.reset()
                        await self.redis.incr(store.PROVIDER_REPLAYS)
                        return str(existing)
                    charge_id = f"ch_{uuid.uuid4().hex[:16]}"
                    pipe.multi()
                    pipe.set(idem, charge_id, ex=store.ORDER_TTL)
                    pipe.rpush(store.PROVIDER_LEDGER, f"{order_id} {amount_cents}")
                    await pipe.execute()
                    return charge_id
                except WatchError:
                    continue  # another charge landed meanwhile: look again
