"""FASTQ_RETENTION_MINUTES / ASYNQ_RETENTION_MINUTES: the clients' default retention (issue 17)."""

from __future__ import annotations

import asyncio

import pytest
import redis

import fastq
from fastq import keys
from fastq.errors import InvalidOptionError
from fastq.options import retention_from_env


def _retention(r: redis.Redis, queue: str, task_id: str) -> int:
    from fastq._core import TaskMessage

    raw = r.hget(keys.task_key(queue, task_id), "msg")
    assert raw is not None
    return TaskMessage.decode(raw).retention


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"FASTQ_RETENTION_MINUTES": "30"}, 1800),
        ({"FASTQ_RETENTION_MINUTES": "0.5"}, 30),
        ({"FASTQ_RETENTION_MINUTES": "0"}, None),
        ({"ASYNQ_RETENTION_MINUTES": "10"}, 600),
        ({"FASTQ_RETENTION_MINUTES": "2", "ASYNQ_RETENTION_MINUTES": "10"}, 120),
        ({"FASTQ_RETENTION_MINUTES": "", "ASYNQ_RETENTION_MINUTES": "10"}, 600),
        ({"FASTQ_RETENTION_MINUTES": "0", "ASYNQ_RETENTION_MINUTES": "10"}, None),
    ],
)
def test_retention_from_env_reads_minutes_with_the_asynq_alias(
    environ: dict[str, str], expected: int | None
) -> None:
    assert retention_from_env(environ) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FASTQ_RETENTION_MINUTES", "thirty"),
        ("FASTQ_RETENTION_MINUTES", "-1"),
        ("FASTQ_RETENTION_MINUTES", "inf"),
        ("ASYNQ_RETENTION_MINUTES", "nan"),
    ],
)
def test_an_invalid_retention_variable_fails_client_construction_naming_it(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, name: str, value: str
) -> None:
    monkeypatch.delenv("FASTQ_RETENTION_MINUTES", raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidOptionError) as err:
        fastq.Client(redis_url)
    assert err.value.option == name
    with pytest.raises(InvalidOptionError):
        fastq.AsyncClient(redis_url)


def test_the_environment_sets_retention_only_where_none_is_given(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, r: redis.Redis
) -> None:
    monkeypatch.setenv("FASTQ_RETENTION_MINUTES", "30")
    with fastq.Client(redis_url) as client:
        plain = client.enqueue(fastq.Task("t"))
        on_task = client.enqueue(fastq.Task("t", retention=60))
        zero_on_task = client.enqueue(fastq.Task("t", retention=0))
        per_call = client.enqueue(fastq.Task("t"), retention=5)
        many = client.enqueue_many([fastq.Task("t"), fastq.Task("t", retention=7)])
        many_call = client.enqueue_many([fastq.Task("t")], retention=9)
    assert _retention(r, "default", plain.id) == 1800
    assert _retention(r, "default", on_task.id) == 60
    assert _retention(r, "default", zero_on_task.id) == 0
    assert _retention(r, "default", per_call.id) == 5
    assert [_retention(r, "default", i.id) for i in many] == [1800, 7]
    assert _retention(r, "default", many_call[0].id) == 9


def test_without_the_variable_tasks_keep_no_retention(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, r: redis.Redis
) -> None:
    monkeypatch.delenv("FASTQ_RETENTION_MINUTES", raising=False)
    monkeypatch.delenv("ASYNQ_RETENTION_MINUTES", raising=False)
    with fastq.Client(redis_url) as client:
        one = client.enqueue(fastq.Task("t"))
        (many,) = client.enqueue_many([fastq.Task("t")])
    assert _retention(r, "default", one.id) == 0
    assert _retention(r, "default", many.id) == 0


def test_the_async_client_honours_the_asynq_alias(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, r: redis.Redis
) -> None:
    monkeypatch.delenv("FASTQ_RETENTION_MINUTES", raising=False)
    monkeypatch.setenv("ASYNQ_RETENTION_MINUTES", "10")

    async def go() -> tuple[str, str]:
        async with fastq.AsyncClient(redis_url) as client:
            one = await client.enqueue(fastq.Task("t"))
            (many,) = await client.enqueue_many([fastq.Task("t")])
            return one.id, many.id

    one_id, many_id = asyncio.run(go())
    assert _retention(r, "default", one_id) == 600
    assert _retention(r, "default", many_id) == 600
