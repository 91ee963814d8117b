"""Checked by tests/test_typed_typing.py with mypy --strict (and pyright): every line
marked as an error must be reported, no other line may be, and a reveal_type line
must reveal a type containing the name after its marker."""

from __future__ import annotations

from typing import reveal_type

import fastq

app = fastq.App()


@app.task("email:send", queue="default", max_retry=5)
async def send(
    ctx: fastq.Context, user_id: int, template: str, cc: list[str] | None = None
) -> None:
    pass


@app.task("sum")
def add(a: int, b: float) -> None:
    pass


@app.task("raw")
def raw(task: fastq.IncomingTask, ctx: fastq.Context) -> None:
    pass


@fastq.declare("report:build")
def build(day: str, *, force: bool = False) -> None: ...


async def calls() -> None:
    send.enqueue(user_id=1, template="welcome")
    send.enqueue(user_id=1, template="welcome", cc=["a@example.com"])
    await send.aenqueue(user_id=1, template="welcome")
    send.using(queue="critical", process_in=60).enqueue(user_id=2, template="x")
    add.enqueue(a=1, b=2.5)
    add.enqueue(1, 2)
    build.enqueue("2026-01-01", force=True)
    reveal_type(send.enqueue(user_id=1, template="w"))  # reveal: TaskInfo
    reveal_type(raw)  # reveal: IncomingTask
    send.enqueue(user_id="1", template="welcome")  # error
    send.enqueue(user_id=1)  # error
    send.enqueue(user_id=1, template="x", bcc=[])  # error
    add.enqueue(a=1, b="2")  # error
    build.enqueue(day=3)  # error
    await send.aenqueue(user_id=1, template=2)  # error
    send.using(queue="critical").enqueue(template="x")  # error
