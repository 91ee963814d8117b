"""fastq._core's protobuf codec against the official protobuf runtime, byte for byte.

The runtime (upb) is the reference. We compare:
  * encode: our bytes == ``SerializeToString(deterministic=True)`` (map keys in upb's
    deterministic order, see fastq/_composite.pxi);
  * decode: fields of our decode == fields of the runtime's parse, for valid input,
    for input with unknown fields mixed in, and for random / corrupted wire data:
    we accept exactly what the runtime accepts, and raise DecodeError otherwise.

One deliberate difference: unknown fields *inside* a Timestamp are dropped (a
``(seconds, nanos)`` tuple has nowhere to keep them); the runtime keeps them. The
fuzz comparison strips them from the runtime's side before comparing re-encodings.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import asynq_pb as pb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastq import _core
from fastq._core import TaskMessage, decode_messages
from fastq.errors import DecodeError

I32 = st.integers(-(2**31), 2**31 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(max_size=40)  # hypothesis leaves out surrogates: every value is valid UTF-8
KEYS = st.text(alphabet=st.sampled_from("ab\x00é😀"), max_size=3) | TEXT
TS = st.none() | st.tuples(I64, I32)

# message name -> [(field, kind)], in field-number order (see DESIGN.md)
SPECS: dict[str, list[tuple[str, str]]] = {
    "TaskMessage": [
        ("type", "str"),
        ("payload", "bytes"),
        ("id", "str"),
        ("queue", "str"),
        ("retry", "i32"),
        ("retried", "i32"),
        ("error_msg", "str"),
        ("timeout", "i64"),
        ("deadline", "i64"),
        ("unique_key", "str"),
        ("last_failed_at", "i64"),
        ("retention", "i64"),
        ("completed_at", "i64"),
        ("group_key", "str"),
        ("headers", "map_str"),
    ],
    "ServerInfo": [
        ("host", "str"),
        ("pid", "i32"),
        ("server_id", "str"),
        ("concurrency", "i32"),
        ("queues", "map_i32"),
        ("strict_priority", "bool"),
        ("status", "str"),
        ("start_time", "ts"),
        ("active_worker_count", "i32"),
    ],
    "WorkerInfo": [
        ("host", "str"),
        ("pid", "i32"),
        ("server_id", "str"),
        ("task_id", "str"),
        ("task_type", "str"),
        ("task_payload", "bytes"),
        ("queue", "str"),
        ("start_time", "ts"),
        ("deadline", "ts"),
    ],
    "SchedulerEntry": [
        ("id", "str"),
        ("spec", "str"),
        ("task_type", "str"),
        ("task_payload", "bytes"),
        ("enqueue_options", "list_str"),
        ("next_enqueue_time", "ts"),
        ("prev_enqueue_time", "ts"),
    ],
    "SchedulerEnqueueEvent": [("task_id", "str"), ("enqueue_time", "ts")],
}
NAMES = list(SPECS)

KIND_STRATEGY: dict[str, st.SearchStrategy[Any]] = {
    "str": TEXT,
    "bytes": st.binary(max_size=300),
    "i32": I32,
    "i64": I64,
    "bool": st.booleans(),
    "ts": TS,
    "map_str": st.dictionaries(KEYS, TEXT, max_size=5),
    "map_i32": st.dictionaries(KEYS, I32, max_size=5),
    "list_str": st.lists(TEXT, max_size=4),
}


def ours_cls(name: str) -> Any:
    return getattr(_core, name)


def ref_cls(name: str) -> Any:
    return getattr(pb, name)


def to_ref(name: str, values: dict[str, Any]) -> Any:
    """The runtime message holding ``values``."""
    msg = ref_cls(name)()
    for field, kind in SPECS[name]:
        v = values[field]
        if kind == "ts":
            if v is not None:
                getattr(msg, field).CopyFrom(pb.Timestamp(seconds=v[0], nanos=v[1]))
        elif kind.startswith("map"):
            getattr(msg, field).update(v)
        elif kind == "list_str":
            getattr(msg, field).extend(v)
        else:
            setattr(msg, field, v)
    return msg


def from_ref(name: str, msg: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, kind in SPECS[name]:
        v = getattr(msg, field)
        if kind == "ts":
            out[field] = (v.seconds, v.nanos) if msg.HasField(field) else None
        elif kind.startswith("map"):
            out[field] = dict(v)
        elif kind == "list_str":
            out[field] = list(v)
        else:
            out[field] = v
    return out


def from_ours(name: str, obj: Any) -> dict[str, Any]:
    return {field: getattr(obj, field) for field, _ in SPECS[name]}


def values_of(name: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({f: KIND_STRATEGY[k] for f, k in SPECS[name]})


def ref_bytes(msg: Any) -> bytes:
    return bytes(msg.SerializeToString(deterministic=True))


# ---------------------------------------------------------------- raw wire helpers


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def ld(number: int, body: bytes) -> bytes:
    return tag(number, 2) + varint(len(body)) + body


# ---------------------------------------------------------------- valid messages


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_encode_and_decode_match_runtime(name: str, data: st.DataObject) -> None:
    values = data.draw(values_of(name))
    ours = ours_cls(name)(**values)
    expected = ref_bytes(to_ref(name, values))
    assert ours.encode() == expected
    back = ours_cls(name).decode(expected)
    assert from_ours(name, back) == from_ref(name, ref_cls(name).FromString(expected))
    assert back == ours
    assert back.unknown == b""


def unknown_field() -> st.SearchStrategy[bytes]:
    """One valid field with a number no message uses, of any wire type."""
    number = st.integers(16, 2**29 - 1)
    return st.one_of(
        st.tuples(number, st.integers(0, 2**64 - 1)).map(lambda t: tag(t[0], 0) + varint(t[1])),
        st.tuples(number, st.binary(min_size=8, max_size=8)).map(lambda t: tag(t[0], 1) + t[1]),
        st.tuples(number, st.binary(max_size=20)).map(lambda t: ld(t[0], t[1])),
        st.tuples(number, st.binary(min_size=4, max_size=4)).map(lambda t: tag(t[0], 5) + t[1]),
        st.tuples(number, st.integers(0, 5)).map(  # a group holding a varint field
            lambda t: tag(t[0], 3) + tag(1, 0) + varint(t[1]) + tag(t[0], 4)
        ),
    )


def field_chunks(name: str, values: dict[str, Any]) -> list[bytes]:
    """The message as separate one-field encodings (their concatenation is the message)."""
    blank = _defaults(name)
    chunks = []
    for field, kind in SPECS[name]:
        v = values[field]
        if kind.startswith("map"):
            chunks += [ref_bytes(to_ref(name, {**blank, field: {k: x}})) for k, x in v.items()]
        elif kind == "list_str":
            chunks += [ref_bytes(to_ref(name, {**blank, field: [x]})) for x in v]
        else:
            chunks.append(ref_bytes(to_ref(name, {**blank, field: v})))
    return [c for c in chunks if c]


def _defaults(name: str) -> dict[str, Any]:
    blank = ours_cls(name)()
    return from_ours(name, blank)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_unknown_fields_are_kept_and_reemitted_like_the_runtime(
    name: str, data: st.DataObject
) -> None:
    values = data.draw(values_of(name))
    unknown = data.draw(st.lists(unknown_field(), min_size=1, max_size=4))
    chunks = field_chunks(name, values)
    # Unknown fields at random places among the known ones, in their own order.
    places = sorted(
        data.draw(
            st.lists(st.integers(0, len(chunks)), min_size=len(unknown), max_size=len(unknown))
        )
    )
    mixed: list[bytes] = list(chunks)
    for i, (place, u) in enumerate(zip(places, unknown, strict=True)):
        mixed.insert(place + i, u)
    wire = b"".join(mixed)
    ref = ref_cls(name).FromString(wire)
    ours = ours_cls(name).decode(wire)
    assert from_ours(name, ours) == from_ref(name, ref)
    assert ours.unknown == b"".join(unknown)
    assert ours.encode() == ref_bytes(ref)


def test_ten_megabyte_payload() -> None:
    payload = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    ours = TaskMessage(type="big", payload=payload, id="x")
    data = ours.encode()
    assert data == ref_bytes(pb.TaskMessage(type="big", payload=payload, id="x"))
    assert TaskMessage.decode(data).payload == payload


def test_empty_message_is_empty_bytes() -> None:
    for name in NAMES:
        assert ours_cls(name)().encode() == b""
        assert ours_cls(name).decode(b"") == ours_cls(name)()


def test_timestamp_presence_round_trips() -> None:
    present = _core.SchedulerEnqueueEvent(task_id="t", enqueue_time=(0, 0))
    assert present.encode() == b"\x0a\x01t\x12\x00"
    assert _core.SchedulerEnqueueEvent.decode(present.encode()).enqueue_time == (0, 0)
    assert _core.SchedulerEnqueueEvent.decode(b"\x0a\x01t").enqueue_time is None


def test_map_entries_with_default_key_and_value_are_written_in_full() -> None:
    assert TaskMessage(headers={"": ""}).encode() == bytes.fromhex("7a040a001200")
    assert _core.ServerInfo(queues={"": 0}).encode() == bytes.fromhex("2a040a001000")


# ---------------------------------------------------------------- odd but valid input


def same_as_runtime(name: str, data: bytes) -> None:
    """Both accept and agree on every field, or both refuse (ours with DecodeError)."""
    try:
        ref = ref_cls(name).FromString(data)
    except Exception:  # the runtime's own DecodeError class
        ref = None
    try:
        ours = ours_cls(name).decode(data)
    except DecodeError:
        ours = None
    if ref is None or ours is None:
        assert ref is None and ours is None, (name, data.hex(), ref, ours)
        return
    assert from_ours(name, ours) == from_ref(name, ref), data.hex()
    assert ours.encode() == ref_bytes(_without_timestamp_unknowns(name, ref)), data.hex()


def _without_timestamp_unknowns(name: str, ref: Any) -> Any:
    # The one allowed difference (module docstring): rebuild Timestamps from their fields.
    for field, kind in SPECS[name]:
        if kind == "ts" and ref.HasField(field):
            ts = getattr(ref, field)
            getattr(ref, field).CopyFrom(pb.Timestamp(seconds=ts.seconds, nanos=ts.nanos))
    return ref


ODD_VALID = [
    ("TaskMessage", "0801"),  # known number, foreign wire type: kept as unknown
    ("TaskMessage", "0a01610a0162"),  # repeated scalar: last one wins
    ("TaskMessage", "28ffffffff1f"),  # int32 from a wide varint: low 32 bits
    ("TaskMessage", "2880808080808080808002"),  # 10th varint byte with spare high bits
    ("TaskMessage", "40ffffffffffffffffff7f"),
    ("TaskMessage", "888080800000"),  # non-canonical 5-byte tag
    ("TaskMessage", "f8ffffff0f00"),  # highest field number
    ("TaskMessage", "a306a306a406a406"),  # nested unknown groups
    ("TaskMessage", "0b0c"),  # group under a known number
    ("TaskMessage", "0b0809000000000c"),  # field number 0 inside a group passes (upb)
    ("TaskMessage", "0b02000c"),
    ("TaskMessage", "7a00"),  # empty map entry: key "" -> ""
    ("TaskMessage", "7a03120162"),  # entry without key
    ("TaskMessage", "7a0418011200"),  # entry with an unknown field: moved to unknown, re-encoded
    ("TaskMessage", "7a051201781801"),
    ("TaskMessage", "7a050a01611001"),  # value with a foreign wire type
    ("TaskMessage", "7a04a306a406"),  # group inside an entry
    ("TaskMessage", "7a050a016112007a060a01611201627a021801"),  # duplicate key: last wins
    ("ServerInfo", "3002"),  # bool from any non-zero varint
    ("ServerInfo", "308001"),
    ("ServerInfo", "308080808010"),  # only bit 32 set: still true
    ("ServerInfo", "3080808080808080808002"),  # the 10th byte's spare bit is dropped: false
    ("ServerInfo", "1080808080808080808002"),
    ("ServerInfo", "2a060a0161120178"),  # int32 value with a foreign wire type
    ("ServerInfo", "2a090a016110ffffffff0f"),  # int32 map value -1 as 5-byte varint
    ("ServerInfo", "4206080110011001"),  # repeated Timestamp merges
    ("ServerInfo", "42020801420210024200"),
    ("ServerInfo", "420408011801"),  # unknown field inside a Timestamp (dropped by us)
    ("ServerInfo", "4204a306a406"),
    ("SchedulerEntry", "2a00"),  # empty repeated string item
    ("SchedulerEntry", "2a01612a0010012a0162"),
    ("SchedulerEnqueueEvent", "12001200"),
]


@pytest.mark.parametrize(("name", "hexdata"), ODD_VALID)
def test_odd_but_valid_input_decodes_like_the_runtime(name: str, hexdata: str) -> None:
    data = bytes.fromhex(hexdata)
    ref_cls(name).FromString(data)  # the case really is valid
    same_as_runtime(name, data)


# ---------------------------------------------------------------- malformed input

MALFORMED = [
    "08",  # truncated varint value
    "0880",  # truncated varint
    "28808080808080808080800",  # 11-byte varint (odd length: also truncated)
    "2880808080808080808080",  # varint with an 11th byte pending
    "0a05616263",  # length past the end
    "0a80808080808080808001",  # huge length
    "12ffffffff0f",
    "0500000000",  # field number 0
    "a406",  # stray end-group
    "a306a506",  # mismatched end-group
    "a306",  # unterminated group
    "0e",  # wire type 6
    "0f",  # wire type 7
    "0d000000",  # truncated fixed32
    "0900000000000000",  # truncated fixed64
    "f8ffffff1f00",  # field number past 2**29 - 1
    "888080801000",  # tag value past 32 bits
    "88808080800000",  # 6-byte tag (upb stops at 5)
    "99c280c28000000000000000000000",
    "0a01ff",  # bad UTF-8 in a string
    "0a02c0af",  # overlong UTF-8
    "0a03eda080",  # UTF-16 surrogate in UTF-8
    "7a050a03ff6161",  # bad UTF-8 in a map key
    "7a0512037a7aff",  # bad UTF-8 in a map value
    "7a020a05",  # map entry field past the entry's end
    "7a0100",  # field 0 inside a map entry
    "7a021301",  # end-group inside an entry
]


@pytest.mark.parametrize("hexdata", MALFORMED)
def test_malformed_task_message_raises_decode_error(hexdata: str) -> None:
    data = bytes.fromhex(hexdata) if len(hexdata) % 2 == 0 else bytes.fromhex(hexdata[:-1])
    with pytest.raises(Exception):  # noqa: B017 - the runtime's DecodeError class
        pb.TaskMessage.FromString(data)
    with pytest.raises(DecodeError):
        TaskMessage.decode(data)
    assert isinstance(decode_messages([data])[0], DecodeError)


@pytest.mark.parametrize(
    ("name", "hexdata"),
    [
        ("ServerInfo", "4201"),  # Timestamp past the end
        ("ServerInfo", "42010c"),  # end-group inside a Timestamp
        ("ServerInfo", "2a0100"),
        ("WorkerInfo", "0a01ff"),
        ("SchedulerEntry", "2a01ff"),  # bad UTF-8 in a repeated string
        ("SchedulerEnqueueEvent", "1202080"),
    ],
)
def test_malformed_other_messages_raise_decode_error(name: str, hexdata: str) -> None:
    data = bytes.fromhex(hexdata if len(hexdata) % 2 == 0 else hexdata[:-1])
    with pytest.raises(DecodeError):
        ours_cls(name).decode(data)
    same_as_runtime(name, data)


@pytest.mark.parametrize("depth", [99, 100, 101])
@pytest.mark.parametrize("where", ["top", "timestamp", "map_entry"])
def test_group_nesting_limit_matches_runtime(depth: int, where: str) -> None:
    groups = tag(100, 3) * depth + tag(100, 4) * depth
    name, data = {
        "top": ("TaskMessage", groups),
        "timestamp": ("ServerInfo", ld(8, groups)),
        "map_entry": ("TaskMessage", ld(15, groups)),
    }[where]
    same_as_runtime(name, data)


# Random wire data built from plausible pieces, so that the fuzz reaches deep into the
# decoder (known numbers with every wire type, map entries and Timestamps holding
# junk, groups) instead of failing on the first byte.
def _wire(depth: int) -> st.SearchStrategy[bytes]:
    number = st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 99, 0])
    value = st.integers(0, 2**64 - 1).map(varint) | st.binary(max_size=11)
    body = st.binary(max_size=12) | st.text(max_size=6).map(str.encode)
    if depth > 0:
        body = body | _wire(depth - 1)
    one = st.one_of(
        st.tuples(number, value).map(lambda t: tag(t[0], 0) + t[1]),
        st.tuples(number, body).map(lambda t: ld(t[0], t[1])),
        st.tuples(number, st.sampled_from([1, 5]), st.binary(min_size=4, max_size=8)).map(
            lambda t: tag(t[0], t[1]) + t[2]
        ),
        st.tuples(number, st.integers(3, 7)).map(lambda t: tag(t[0], t[1])),
        st.tuples(number, body, st.booleans()).map(
            lambda t: tag(t[0], 3) + t[1] + tag(t[0] if t[2] else t[0] + 1, 4)
        ),
    )
    return st.lists(one, max_size=5).map(b"".join)


FUZZ = st.one_of(
    st.binary(max_size=40),
    _wire(2),
    st.tuples(_wire(2), st.integers(0, 60)).map(lambda t: t[0][: t[1]]),  # truncated
)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(data=FUZZ)
@example(data=b"\x7a\x04\x0a\x00\x12\x00")
def test_fuzz_accepts_exactly_what_the_runtime_accepts(name: str, data: bytes) -> None:
    same_as_runtime(name, data)


# ---------------------------------------------------------------- the Python API


def test_decode_accepts_other_buffers() -> None:
    data = TaskMessage(type="t").encode()
    assert TaskMessage.decode(bytearray(data)) == TaskMessage.decode(memoryview(data))


def test_decode_messages_keeps_bad_entries_in_place() -> None:
    good = TaskMessage(type="t", id="1").encode()
    out = decode_messages([good, None, b"\xff", bytearray(good)])
    assert out[0] == TaskMessage(type="t", id="1")
    assert out[1] is None
    assert isinstance(out[2], DecodeError)
    assert out[3] == out[0]


def test_copy_has_its_own_headers() -> None:
    m = TaskMessage(type="t", headers={"a": "1"})
    c = m.copy()
    c.headers["b"] = "2"
    c.retried = 3
    assert m.headers == {"a": "1"} and m.retried == 0
    assert c != m and m.copy() == m


@pytest.mark.parametrize("field", [f for f, _ in SPECS["TaskMessage"]] + ["unknown"])
def test_equality_compares_every_field(field: str) -> None:
    changed: dict[str, Any] = {
        "str": "x",
        "bytes": b"x",
        "i32": 1,
        "i64": 1,
        "map_str": {"k": "v"},
    }
    kind = dict(SPECS["TaskMessage"]).get(field, "bytes")
    assert ours_cls("TaskMessage")(**{field: changed[kind]}) != TaskMessage()


def test_repr_does_not_dump_big_payloads() -> None:
    text = repr(TaskMessage(type="t", payload=b"x" * 100_000))
    assert len(text) < 300 and "100000 bytes" in text


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip(name: str) -> None:
    obj = ours_cls(name)(unknown=b"\xf8\xff\x03\x01")
    assert pickle.loads(pickle.dumps(obj)) == obj


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: TaskMessage(retry=2**31), OverflowError),
        (lambda: TaskMessage(timeout=2**63), OverflowError),
        (lambda: TaskMessage(type=b"x"), TypeError),  # type: ignore[arg-type]
        (lambda: TaskMessage(headers={"a": 1}).encode(), TypeError),  # type: ignore[dict-item]
        (lambda: TaskMessage(headers={1: "a"}).encode(), TypeError),  # type: ignore[dict-item]
        (lambda: _core.ServerInfo(queues={"a": 2**31}).encode(), OverflowError),
        (lambda: _core.ServerInfo(queues={"a": "1"}).encode(), TypeError),  # type: ignore[dict-item]
        (lambda: _core.WorkerInfo(start_time=(1,)), TypeError),  # type: ignore[arg-type]
        (lambda: _core.WorkerInfo(start_time=(1, 2**31)), OverflowError),
        (lambda: _core.SchedulerEntry(enqueue_options=[1]).encode(), TypeError),  # type: ignore[list-item]
        (lambda: TaskMessage.decode("text"), TypeError),  # type: ignore[arg-type]
        (lambda: TaskMessage.decode(5), TypeError),  # type: ignore[arg-type]
        (lambda: decode_messages([5]), TypeError),  # type: ignore[list-item]
    ],
)
def test_bad_values_raise_typed_errors(make: Callable[[], object], error: type) -> None:
    with pytest.raises(error):
        make()


def test_attribute_changes_after_construction_are_checked_on_encode() -> None:
    m = TaskMessage(type="t")
    m.type = None  # type: ignore[assignment]
    with pytest.raises(TypeError):
        m.encode()
    with pytest.raises(OverflowError):
        m.retry = 2**31
    e = _core.SchedulerEnqueueEvent()
    e.enqueue_time = [1, 2]  # type: ignore[assignment]
    with pytest.raises(TypeError):
        e.encode()


def test_repeated_type_and_queue_names_decode_correctly() -> None:
    # Decoding goes through a small cache of recent ASCII names: values must never mix up.
    names = ["email:send", "email:sent", "a", "b", "é:x", "x" * 64, "x" * 65, "q" * 63 + "r"]
    names += [f"type{i}" for i in range(200)]
    for _ in range(3):
        for name in names:
            data = TaskMessage(type=name, queue=name[::-1], group_key=name + "g").encode()
            m = TaskMessage.decode(data)
            assert (m.type, m.queue, m.group_key) == (name, name[::-1], name + "g")


def test_headers_attribute() -> None:
    m = TaskMessage()
    assert m.headers == {}
    m.headers["k"] = "v"
    assert TaskMessage.decode(m.encode()).headers == {"k": "v"}
    m.headers = None  # type: ignore[assignment]
    assert m.headers == {} and m.encode() == b""
    with pytest.raises(TypeError):
        m.headers = [("k", "v")]  # type: ignore[assignment]
    assert TaskMessage(headers={}) == TaskMessage()


@pytest.mark.parametrize("name", NAMES)
def test_none_in_any_field_is_a_type_error_never_a_crash(name: str) -> None:
    fields = [f for f, _ in SPECS[name]] + ["unknown"]
    for field in fields:
        obj = ours_cls(name)()
        try:
            setattr(obj, field, None)
        except TypeError:
            continue  # a C-typed field refuses None outright
        repr(obj)
        assert obj == obj
        if name == "TaskMessage":
            obj.copy()
        try:
            data = obj.encode()
        except TypeError:
            continue
        assert ours_cls(name).decode(data) == ours_cls(name)()  # None maps/timestamps = empty
