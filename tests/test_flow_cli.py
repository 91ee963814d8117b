"""``fastq queue limit`` end to end: a real subprocess on a real Redis."""

from __future__ import annotations

import json

import redis
from test_cli import run

from fastq import keys


def test_queue_limit_sets_shows_and_clears(redis_url: str, r: redis.Redis) -> None:
    p = run(redis_url, "queue", "limit", "stripe", "5")
    assert p.returncode == 0 and "at most 5" in p.stdout
    assert r.hgetall(keys.QUEUE_LIMITS) == {b"stripe": b"5"}
    shown = run(redis_url, "queue", "limit", "--json")
    assert json.loads(shown.stdout) == {"stripe": 5}
    assert "stripe" in run(redis_url, "queue", "limit").stdout
    p = run(redis_url, "queue", "limit", "stripe", "--clear")
    assert p.returncode == 0 and r.hgetall(keys.QUEUE_LIMITS) == {}


def test_queue_limit_refuses_a_cap_below_one(redis_url: str, r: redis.Redis) -> None:
    p = run(redis_url, "queue", "limit", "stripe", "0")
    assert p.returncode != 0 and "0" in p.stderr
    assert r.hgetall(keys.QUEUE_LIMITS) == {}
