"""Task, option validation and resolution, TaskInfo: no Redis needed."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from fastq import config, keys
from fastq._core import TaskMessage
from fastq.errors import InvalidOptionError, PayloadTooLargeError
from fastq.task import (
    OPTION_NAMES,
    Task,
    TaskInfo,
    TaskState,
    info_from_prepared,
    merge_options,
    new_task_id,
    new_task_ids,
    normalize_options,
    prepare,
)

BIG = 1 << 24


def prep(task: Task, now: float | None = None, **overrides: Any):  # type: ignore[no-untyped-def]
    now_ns = int((time.time() if now is None else now) * 1e9)
    return prepare(task, normalize_options(overrides), now_ns, BIG)


def test_task_state_values_are_asynq_strings() -> None:
    assert [s.value for s in TaskState] == [
        "pending",
        "active",
        "scheduled",
        "retry",
        "archived",
        "completed",
        "aggregating",
    ]
    assert TaskState("retry") is TaskState.RETRY
    assert str(TaskState.PENDING) == "pending"
    assert TaskState.PENDING == "pending"


def test_defaults_match_asynq() -> None:
    p = prep(Task("email:send", b"x"))
    m = p.msg
    assert (m.type, m.payload, m.queue) == ("email:send", b"x", config.DEFAULT_QUEUE)
    assert m.retry == config.DEFAULT_MAX_RETRY == 25
    assert m.timeout == config.DEFAULT_TIMEOUT == 1800
    assert (m.deadline, m.retention, m.unique_key, m.group_key) == (0, 0, "", "")
    assert uuid.UUID(m.id).version == 4
    assert p.state is TaskState.PENDING
    assert p.unique_ttl == 0
    assert p.encoded == m.encode()


def test_each_enqueue_gets_a_fresh_id() -> None:
    t = Task("x")
    assert prep(t).msg.id != prep(t).msg.id


def test_new_task_id_is_uuid4() -> None:
    for _ in range(200):
        s = new_task_id()
        u = uuid.UUID(s)
        assert (u.version, u.variant, str(u)) == (4, uuid.RFC_4122, s)


def test_deadline_alone_means_no_default_timeout() -> None:
    dl = datetime(2030, 1, 1, tzinfo=timezone.utc)
    m = prep(Task("x", deadline=dl)).msg
    assert (m.timeout, m.deadline) == (0, int(dl.timestamp()))


def test_timeout_alone_means_no_deadline() -> None:
    m = prep(Task("x", timeout=timedelta(minutes=2))).msg
    assert (m.timeout, m.deadline) == (120, 0)


def test_timeout_zero_is_unset_so_the_default_applies() -> None:
    assert prep(Task("x", timeout=0)).msg.timeout == config.DEFAULT_TIMEOUT


def test_durations_accept_seconds_and_timedelta_and_truncate() -> None:
    m = prep(Task("x", timeout=90.9, retention=timedelta(hours=1, seconds=0.5))).msg
    assert (m.timeout, m.retention) == (90, 3600)


def test_naive_datetime_is_utc() -> None:
    naive = datetime(2031, 5, 6, 7, 8, 9)
    aware = naive.replace(tzinfo=timezone.utc)
    assert prep(Task("x", deadline=naive)).msg.deadline == int(aware.timestamp())
    other_tz = aware.astimezone(timezone(timedelta(hours=5)))
    assert prep(Task("x", deadline=other_tz)).msg.deadline == int(aware.timestamp())


def test_all_fields_land_in_the_message() -> None:
    t = Task(
        "report",
        b"p",
        queue="critical",
        max_retry=3,
        timeout=10,
        deadline=2_000_000_000.7,
        task_id="my-id",
        retention=60,
        headers={"trace": "abc"},
    )
    m = prep(t).msg
    assert (m.queue, m.retry, m.timeout, m.deadline, m.id, m.retention) == (
        "critical",
        3,
        10,
        2_000_000_000,
        "my-id",
        60,
    )
    assert m.headers == {"trace": "abc"}


def test_enqueue_options_override_task_options() -> None:
    t = Task("x", queue="low", max_retry=1, headers={"a": "1"})
    m = prep(t, queue="high", headers={"b": "2"}).msg
    assert (m.queue, m.retry, m.headers) == ("high", 1, {"b": "2"})


def test_none_override_means_not_given() -> None:
    t = Task("x", queue="low")
    assert prep(t, queue=None, max_retry=None).msg.queue == "low"


def test_process_in_override_replaces_task_process_at() -> None:
    now = time.time()
    t = Task("x", process_at=now + 3600)
    p = prep(t, now=now, process_in=0)
    assert p.state is TaskState.PENDING
    t2 = Task("x", process_in=3600)
    p2 = prep(t2, now=now, process_at=now + 60)
    assert p2.state is TaskState.SCHEDULED and p2.process_at == pytest.approx(now + 60)


def test_merge_options_is_a_pure_merge() -> None:
    base = normalize_options({"queue": "a", "process_at": 5.0})
    assert merge_options(base, {"process_in": 1.0}) == {"queue": "a", "process_in": 1.0}
    assert base == {"queue": "a", "process_at": 5.0}


def test_paths() -> None:
    now = time.time()
    assert prep(Task("x"), now=now).state is TaskState.PENDING
    assert prep(Task("x", process_in=0), now=now).state is TaskState.PENDING
    assert prep(Task("x", process_at=now - 100), now=now).state is TaskState.PENDING
    sched = prep(Task("x", process_in=30), now=now)
    assert sched.state is TaskState.SCHEDULED
    assert sched.process_at == pytest.approx(now + 30)
    assert prep(Task("x", group="g"), now=now).state is TaskState.AGGREGATING
    # A future process-at wins over the group: the forwarder moves it into the group later.
    assert prep(Task("x", group="g", process_in=5), now=now).state is TaskState.SCHEDULED


def test_unique_key_and_ttl() -> None:
    now = time.time()
    p = prep(Task("t", b"payload", unique=timedelta(minutes=1)), now=now)
    assert p.msg.unique_key == keys.unique_key("default", "t", b"payload")
    assert p.unique_ttl == 60
    # Scheduled: the lock covers the wait plus the unique window (Asynq).
    s = prep(Task("t", b"payload", unique=10, process_in=100), now=now)
    assert s.unique_ttl in (109, 110)
    assert s.msg.unique_key.startswith("asynq:{default}:unique:t:")


def test_payload_too_large() -> None:
    t = Task("x", b"a" * 100)
    with pytest.raises(PayloadTooLargeError) as exc:
        prepare(t, {}, time.time_ns(), 50)
    assert exc.value.limit == 50 and exc.value.size > 100
    assert isinstance(exc.value, InvalidOptionError)
    prepare(t, {}, time.time_ns(), 200)  # under the limit: fine


BAD_OPTIONS = [
    ("queue", ""),
    ("queue", "   "),
    ("queue", "a{b"),
    ("queue", "a}b"),
    ("queue", "tab\there"),
    ("queue", "new\nline"),
    ("queue", "x" * (config.MAX_QUEUE_NAME_LENGTH + 1)),
    ("queue", 5),
    ("max_retry", -1),
    ("max_retry", 1.5),
    ("max_retry", True),
    ("max_retry", 2**31),
    ("timeout", -1),
    ("timeout", 0.5),
    ("timeout", "10"),
    ("timeout", float("inf")),
    ("timeout", True),
    ("deadline", "tomorrow"),
    ("deadline", 0),
    ("deadline", -5),
    ("process_at", float("nan")),
    ("process_at", "now"),
    ("process_in", -1),
    ("process_in", timedelta(seconds=-1)),
    ("unique", 0),
    ("unique", 0.5),
    ("unique", timedelta(milliseconds=999)),
    ("task_id", ""),
    ("task_id", "  "),
    ("task_id", 12),
    ("retention", -1),
    ("group", ""),
    ("group", " "),
    ("headers", {"a": 1}),
    ("headers", {1: "a"}),
    ("headers", [("a", "b")]),
]


@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS)
def test_bad_option_on_task(name: str, value: Any) -> None:
    with pytest.raises(InvalidOptionError) as exc:
        Task("x", **{name: value})
    assert exc.value.option == name


@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS)
def test_bad_option_at_enqueue(name: str, value: Any) -> None:
    with pytest.raises(InvalidOptionError) as exc:
        normalize_options({name: value})
    assert exc.value.option == name


def test_good_edge_values() -> None:
    Task("x", queue="x" * config.MAX_QUEUE_NAME_LENGTH, max_retry=0, unique=1, retention=0)
    Task("x", queue="with space", timeout=1, process_in=0)
    Task("x", queue="naïve-ünïcode")


def test_unknown_option_lists_valid_ones() -> None:
    with pytest.raises(InvalidOptionError) as exc:
        normalize_options({"retries": 3})
    assert exc.value.option == "retries"
    for name in OPTION_NAMES:
        assert name in str(exc.value)


def test_process_at_and_in_together_is_an_error() -> None:
    with pytest.raises(InvalidOptionError):
        Task("x", process_at=time.time() + 5, process_in=5)


@pytest.mark.parametrize(
    "tname", ["", "  ", None, 3, "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ", "\u2003", b"x"]
)
def test_bad_type(tname: Any) -> None:
    with pytest.raises(InvalidOptionError) as exc:
        Task(tname)
    assert exc.value.option == "type"


class _Str(str):
    pass


@pytest.mark.parametrize("tname", ["x", " x ", "\x00", "naïve", "\u2003x", _Str("x")])
def test_good_type_is_kept_as_given(tname: str) -> None:
    # The compiled ASCII check and non_blank must agree (plain_text only skips work).
    assert Task(tname).type == tname == normalize_options({"group": tname})["group"]


@pytest.mark.parametrize("payload", ["text", {"a": 1}, 5, 1.5])
def test_payload_must_be_bytes(payload: Any) -> None:
    with pytest.raises(InvalidOptionError) as exc:
        Task("x", payload)
    assert exc.value.option == "payload"


def test_bytearray_payload_is_copied_to_bytes() -> None:
    buf = bytearray(b"ab")
    t = Task("x", buf)
    buf[0] = 0
    assert t.payload == b"ab"


def test_prepare_refuses_a_non_task() -> None:
    with pytest.raises(InvalidOptionError):
        prepare("x", {}, time.time_ns(), BIG)  # type: ignore[arg-type]


def test_task_json_is_compact_utf8() -> None:
    t = Task.json("greet", {"name": "Zoë", "n": [1, 2]}, queue="low")
    assert t.payload == '{"name":"Zoë","n":[1,2]}'.encode()
    assert t.json_payload() == {"name": "Zoë", "n": [1, 2]}
    assert t.options == {"queue": "low"}


def test_task_json_errors() -> None:
    with pytest.raises(InvalidOptionError) as exc:
        Task.json("x", {"s": {1, 2}})
    assert exc.value.option == "payload"
    with pytest.raises(InvalidOptionError) as exc:
        Task.json("x", {}, qeue="a")
    assert exc.value.option == "qeue"


def test_task_headers_and_repr() -> None:
    t = Task("x", b"p", headers={"a": "b"})
    h = t.headers
    h["c"] = "d"
    assert t.headers == {"a": "b"}
    assert "Task('x'" in repr(t)


def test_taskinfo_from_message() -> None:
    msg = TaskMessage(
        type="t",
        payload=b'{"a":1}',
        id="i",
        queue="q",
        retry=5,
        retried=2,
        error_msg="boom",
        timeout=30,
        deadline=2_000_000_000,
        last_failed_at=1_700_000_000,
        retention=3600,
        completed_at=1_700_000_100,
        group_key="g",
        headers={"h": "v"},
    )
    info = TaskInfo.from_message(msg, "retry", next_process_at=1_700_000_500.0, result=b"r")
    assert info.state is TaskState.RETRY
    assert (info.id, info.queue, info.type, info.payload) == ("i", "q", "t", b'{"a":1}')
    assert (info.max_retry, info.retried, info.last_err) == (5, 2, "boom")
    assert info.last_failed_at == datetime.fromtimestamp(1_700_000_000, timezone.utc)
    assert info.deadline == datetime.fromtimestamp(2_000_000_000, timezone.utc)
    assert info.completed_at == datetime.fromtimestamp(1_700_000_100, timezone.utc)
    assert info.next_process_at == datetime.fromtimestamp(1_700_000_500, timezone.utc)
    assert info.next_process_at.tzinfo is timezone.utc
    assert (info.timeout, info.retention, info.group) == (30, 3600, "g")
    assert (info.result, info.headers, info.is_orphaned) == (b"r", {"h": "v"}, False)
    assert info.json() == {"a": 1}
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.queue = "other"  # type: ignore[misc]


def test_taskinfo_zero_times_are_none() -> None:
    info = TaskInfo.from_message(
        TaskMessage(type="t", id="i", queue="q"), TaskState.ACTIVE, is_orphaned=True
    )
    assert (info.deadline, info.last_failed_at, info.completed_at) == (None, None, None)
    assert info.next_process_at is None and info.is_orphaned
    assert info.headers == {} and info.result is None


def test_taskinfo_json_helper_on_bad_json() -> None:
    info = TaskInfo(id="i", queue="q", type="t", payload=b"\xff", state=TaskState.PENDING)
    with pytest.raises(ValueError):
        info.json()


def test_fresh_info_matches_the_dataclass_constructor() -> None:
    now = time.time()
    for task in (
        Task("x", b"p", headers={"a": "b"}, deadline=2_000_000_000, retention=5, max_retry=3),
        Task("x", group="g"),
        Task("x", process_in=30, unique=10),
    ):
        p = prep(task, now=now)
        fast = info_from_prepared(p)
        assert type(fast) is TaskInfo
        m = p.msg
        slow = TaskInfo(
            id=m.id,
            queue=m.queue,
            type=m.type,
            payload=m.payload,
            state=p.state,
            max_retry=m.retry,
            timeout=m.timeout,
            deadline=datetime.fromtimestamp(m.deadline, timezone.utc) if m.deadline else None,
            group=m.group_key,
            next_process_at=fast.next_process_at,
            retention=m.retention,
            headers=dict(m.headers),
        )
        assert fast == slow
        assert dataclasses.asdict(fast) == dataclasses.asdict(slow)  # every slot is filled
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.id = "y"  # type: ignore[misc]


def test_new_task_ids_are_distinct_uuid4() -> None:
    ids = new_task_ids(500) + [new_task_id() for _ in range(500)]
    assert len(set(ids)) == 1000
    for i in ids:
        u = uuid.UUID(i)
        assert (u.version, u.variant, str(u)) == (4, uuid.RFC_4122, i)


def test_a_forked_child_never_reuses_its_parents_task_ids() -> None:
    new_task_id()  # the parent now holds ids drawn ahead
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first id
        os.write(write, new_task_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent_ids = {new_task_id() for _ in range(200)}
    assert uuid.UUID(child_id).version == 4
    assert child_id not in parent_ids


def test_task_type_and_payload_are_read_only() -> None:
    t = Task("x", b"p")
    with pytest.raises(AttributeError):
        t.payload = "not bytes"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        t.type = ""  # type: ignore[misc]


def test_unique_key_nil_vs_empty_payload_as_go() -> None:
    # Go: base.UniqueKey(q, t, nil) has no checksum; []byte{} hashes to md5("").
    assert keys.unique_key("q", "t", None) == "asynq:{q}:unique:t:"
    assert keys.unique_key("q", "t", b"") == "asynq:{q}:unique:t:d41d8cd98f00b204e9800998ecf8427e"
    assert prep(Task("t", unique=5)).msg.unique_key == "asynq:{default}:unique:t:"
    empty = prep(Task("t", b"", unique=5)).msg
    assert empty.unique_key.endswith(":d41d8cd98f00b204e9800998ecf8427e")
    assert (Task("t").payload, Task("t").payload_is_nil, Task("t", b"").payload_is_nil) == (
        b"",
        True,
        False,
    )


LONE_SURROGATES = [
    ("task_id", "id\ud800"),
    ("group", "g\udc80"),
    ("queue", "q\udfff"),
    ("headers", {"k\udc80": "v"}),
    ("headers", {"k": "v\ud800"}),
]


def test_a_type_with_a_lone_surrogate_is_an_invalid_option() -> None:
    with pytest.raises(InvalidOptionError) as exc:
        Task("email:\udc80send")
    assert exc.value.option == "type"


@pytest.mark.parametrize(("name", "value"), LONE_SURROGATES)
def test_strings_with_a_lone_surrogate_are_invalid_options(name: str, value: Any) -> None:
    with pytest.raises(InvalidOptionError) as exc:
        Task("x", **{name: value})
    assert exc.value.option == name
    with pytest.raises(InvalidOptionError) as exc:
        normalize_options({name: value})
    assert exc.value.option == name


def test_client_refuses_a_surrogate_task_id_before_touching_redis() -> None:
    from fastq import Client

    client = Client("redis://127.0.0.1:1")  # nothing listens: a Redis call would fail differently
    try:
        with pytest.raises(InvalidOptionError):
            client.enqueue(Task("ok"), task_id="\udc80")
    finally:
        client.close()


def test_a_task_naming_only_its_queue_resolves_as_with_any_other_option() -> None:
    from fastq.options import resolve

    for _ in range(2):  # the second time from the per-name cache
        t = Task("x", b"1", queue="mail")
        assert t._resolved == resolve(normalize_options({"queue": "mail"}))
        assert t._options == {"queue": "mail"}
        assert prep(t).msg.queue == "mail"
    t._options["max_retry"] = 1  # a task's options are its own, never shared
    assert Task("x", queue="mail")._options == {"queue": "mail"}
    for bad in ("a{b}", " ", "x\n"):
        for _ in range(2):  # refused every time: a bad name is never kept
            with pytest.raises(InvalidOptionError):
                Task("x", queue=bad)
    with pytest.raises(InvalidOptionError):
        Task("x", queue=5)  # type: ignore[arg-type]
    # The same at enqueue time: a queue given alone for a task with no options.
    general = prep(Task("x", b"1", max_retry=25), queue="mail").msg
    for _ in range(2):
        m = prep(Task("x", b"1"), queue="mail").msg
        assert (m.queue, m.retry, m.timeout, m.deadline) == ("mail", 25, 1800, 0)
        assert (m.queue, m.retry, m.timeout) == (general.queue, general.retry, general.timeout)
    assert prep(Task("x", queue="low", max_retry=1), queue="mail").msg.retry == 1


def test_slot_builder_matches_the_constructor_and_refuses_what_it_cannot_fill() -> None:
    from fastq._core import SlotBuilder

    p = prep(Task("x", b"p"))
    names = [f.name for f in dataclasses.fields(p)]
    built = SlotBuilder(type(p), names).build(tuple(getattr(p, n) for n in names))
    assert type(built) is type(p) and built == p
    with pytest.raises(ValueError):
        SlotBuilder(type(p), names).build((1, 2))
    with pytest.raises(TypeError):
        SlotBuilder(type(p), ["nope"])

    class Plain:  # a __dict__, no slots
        pass

    with pytest.raises(TypeError):
        SlotBuilder(Plain, [])
