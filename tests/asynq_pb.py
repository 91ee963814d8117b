"""Reference protobuf classes for Asynq's messages, built without protoc.

The official ``protobuf`` runtime is the byte-for-byte reference for fastq's codec.
We describe asynq.proto in code (a FileDescriptorProto) so tests need no generated
``_pb2`` file. Other test files import this to decode what sits in Redis::

    from asynq_pb import TaskMessage
    msg = TaskMessage.FromString(r.hget(key, "msg"))
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

_F = descriptor_pb2.FieldDescriptorProto
_STRING, _BYTES, _INT32, _INT64, _BOOL, _MSG = (
    _F.TYPE_STRING,
    _F.TYPE_BYTES,
    _F.TYPE_INT32,
    _F.TYPE_INT64,
    _F.TYPE_BOOL,
    _F.TYPE_MESSAGE,
)
_TS = ".google.protobuf.Timestamp"

# message -> [(field, number, type, extra)]; extra: None, "repeated", a message type
# name, or ("map", value type) for map<string, V>
_MESSAGES: dict[str, list[tuple[str, int, int, Any]]] = {
    "TaskMessage": [
        ("type", 1, _STRING, None),
        ("payload", 2, _BYTES, None),
        ("id", 3, _STRING, None),
        ("queue", 4, _STRING, None),
        ("retry", 5, _INT32, None),
        ("retried", 6, _INT32, None),
        ("error_msg", 7, _STRING, None),
        ("timeout", 8, _INT64, None),
        ("deadline", 9, _INT64, None),
        ("unique_key", 10, _STRING, None),
        ("last_failed_at", 11, _INT64, None),
        ("retention", 12, _INT64, None),
        ("completed_at", 13, _INT64, None),
        ("group_key", 14, _STRING, None),
        ("headers", 15, _MSG, ("map", _STRING)),
    ],
    "ServerInfo": [
        ("host", 1, _STRING, None),
        ("pid", 2, _INT32, None),
        ("server_id", 3, _STRING, None),
        ("concurrency", 4, _INT32, None),
        ("queues", 5, _MSG, ("map", _INT32)),
        ("strict_priority", 6, _BOOL, None),
        ("status", 7, _STRING, None),
        ("start_time", 8, _MSG, _TS),
        ("active_worker_count", 9, _INT32, None),
    ],
    "WorkerInfo": [
        ("host", 1, _STRING, None),
        ("pid", 2, _INT32, None),
        ("server_id", 3, _STRING, None),
        ("task_id", 4, _STRING, None),
        ("task_type", 5, _STRING, None),
        ("task_payload", 6, _BYTES, None),
        ("queue", 7, _STRING, None),
        ("start_time", 8, _MSG, _TS),
        ("deadline", 9, _MSG, _TS),
    ],
    "SchedulerEntry": [
        ("id", 1, _STRING, None),
        ("spec", 2, _STRING, None),
        ("task_type", 3, _STRING, None),
        ("task_payload", 4, _BYTES, None),
        ("enqueue_options", 5, _STRING, "repeated"),
        ("next_enqueue_time", 6, _MSG, _TS),
        ("prev_enqueue_time", 7, _MSG, _TS),
    ],
    "SchedulerEnqueueEvent": [
        ("task_id", 1, _STRING, None),
        ("enqueue_time", 2, _MSG, _TS),
    ],
}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(
        name="fastq_tests/asynq.proto",
        package="asynq",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    for msg_name, fields in _MESSAGES.items():
        msg = f.message_type.add(name=msg_name)
        for fname, number, ftype, extra in fields:
            field = msg.field.add(name=fname, number=number, type=ftype, label=_F.LABEL_OPTIONAL)
            if extra == "repeated":
                field.label = _F.LABEL_REPEATED
            elif isinstance(extra, tuple):  # map<string, V>: a nested *Entry message
                entry_name = _camel(fname) + "Entry"
                entry = msg.nested_type.add(name=entry_name)
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, type=_STRING, label=_F.LABEL_OPTIONAL)
                entry.field.add(name="value", number=2, type=extra[1], label=_F.LABEL_OPTIONAL)
                field.label = _F.LABEL_REPEATED
                field.type_name = f".asynq.{msg_name}.{entry_name}"
            elif extra is not None:
                field.type_name = extra
    return f


_pool = descriptor_pool.DescriptorPool()
_pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
_pool.AddSerializedFile(_build_file().SerializeToString())


def _cls(name: str) -> Any:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"asynq.{name}"))


TaskMessage: Any = _cls("TaskMessage")
ServerInfo: Any = _cls("ServerInfo")
WorkerInfo: Any = _cls("WorkerInfo")
SchedulerEntry: Any = _cls("SchedulerEntry")
SchedulerEnqueueEvent: Any = _cls("SchedulerEnqueueEvent")
Timestamp: Any = message_factory.GetMessageClass(
    _pool.FindMessageTypeByName("google.protobuf.Timestamp")
)

__all__ = [
    "SchedulerEnqueueEvent",
    "SchedulerEntry",
    "ServerInfo",
    "TaskMessage",
    "Timestamp",
    "WorkerInfo",
]
