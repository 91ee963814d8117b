"""fastq._core's protobuf codec against the official protobuf runtime, byte for byte."""

from __future__ import annotations

import asynq_pb as pb
import pytest

from fastq._core import TaskMessage, decode_messages
from fastq.errors import DecodeError


def test_task_message_round_trip_matches_runtime() -> None:
    fields = dict(
        type="email:send", payload=b'{"to":"a@b.c"}', id="5f1c", queue="default", retry=25,
        retried=-3, timeout=1800, deadline=1_700_000_000, headers={"b": "x", "": "y", "ab": "z"},
    )
    ours = TaskMessage(**fields).encode()  # type: ignore[arg-type]
    assert ours == pb.TaskMessage(**fields).SerializeToString(deterministic=True)
    back = TaskMessage.decode(ours)
    assert back == TaskMessage(**fields)  # type: ignore[arg-type]
    assert back.copy() == back


def test_decode_messages_keeps_bad_entries_in_place() -> None:
    good = TaskMessage(type="t", id="1").encode()
    out = decode_messages([good, None, b"\xff"])
    assert out[0] == TaskMessage(type="t", id="1")
    assert out[1] is None
    assert isinstance(out[2], DecodeError)


def test_bad_utf8_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        TaskMessage.decode(b"\x0a\x01\xff")
