"""Inspector.search_tasks: a filtered search in resumable, bounded steps."""

from __future__ import annotations

import pytest
import redis
from asynq_writer import put_task

from fastq.errors import InvalidOptionError, QueueNotFoundError
from fastq.inspect.inspector import AsyncInspector, Inspector


@pytest.fixture
def needles(r: redis.Redis) -> list[str]:
    """50 archived tasks in score order; the ones at 5, 23 and 41 failed on SMTP."""
    out = []
    for i in range(50):
        err = "smtp: 550 Mailbox unavailable" if i in (5, 23, 41) else "timeout"
        tid = put_task(r, "default", "archived", error_msg=err, score=1000 + i)
        if i in (5, 23, 41):
            out.append(tid)
    return out


def test_steps_cover_the_state_and_report_progress(redis_url: str, needles: list[str]) -> None:
    with Inspector(redis_url) as insp:
        found, offset, steps = [], 0, []
        while True:
            page = insp.search_tasks(
                "default",
                "archived",
                offset,
                budget=10,
                size=30,
                error_contains="MAILBOX",
                scan_chunk=3,
            )
            found += [t.id for t in page.tasks]
            steps.append((offset, page.next_offset, page.done))
            offset = page.next_offset
            if page.done:
                break
    assert found == needles
    assert steps[0] == (0, 10, False) and steps[-1][1:] == (50, True) and len(steps) == 5
    assert page.total == 50


def test_stops_after_size_matches_and_resumes_after_the_last(
    redis_url: str, needles: list[str]
) -> None:
    with Inspector(redis_url) as insp:
        first = insp.search_tasks("default", "archived", size=1, error_contains="mailbox")
        assert [t.id for t in first.tasks] == needles[:1]
        assert first.next_offset == 6 and not first.done  # just past the match at 5
        second = insp.search_tasks(
            "default", "archived", first.next_offset, size=5, error_contains="mailbox"
        )
        assert [t.id for t in second.tasks] == needles[1:] and second.done


async def test_async_and_checks(redis_url: str, needles: list[str]) -> None:
    async with AsyncInspector(redis_url) as insp:
        page = await insp.search_tasks("default", "archived", task_type="email:send", size=100)
        assert len(page.tasks) == 50 and page.done
        with pytest.raises(InvalidOptionError):
            await insp.search_tasks("default", "aggregating")
        with pytest.raises(InvalidOptionError):
            await insp.search_tasks("default", "archived", -1)
        with pytest.raises(QueueNotFoundError):
            await insp.search_tasks("nope", "archived")
