"""Type stub of the compiled core (fastq/_core.pyx): codec, queue order, lease table.

Timestamps (google.protobuf.Timestamp) are ``(seconds, nanos)`` tuples, or ``None``
when the field is absent; proto3 gives message fields presence, so ``None`` and
``(0, 0)`` encode differently and both round-trip.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from fastq.errors import DecodeError  # the core raises fastq.errors.DecodeError itself

Timestamp = tuple[int, int]
Buffer = bytes | bytearray | memoryview  # decode() copies non-bytes buffers first

class TaskMessage:
    type: str
    payload: bytes
    id: str
    queue: str
    retry: int
    retried: int
    error_msg: str
    timeout: int
    deadline: int
    unique_key: str
    last_failed_at: int
    retention: int
    completed_at: int
    group_key: str
    headers: dict[str, str]
    unknown: bytes  # raw unknown fields, re-emitted after the known ones on encode
    def __init__(
        self,
        type: str = "",
        payload: bytes = b"",
        id: str = "",
        queue: str = "",
        retry: int = 0,
        retried: int = 0,
        error_msg: str = "",
        timeout: int = 0,
        deadline: int = 0,
        unique_key: str = "",
        last_failed_at: int = 0,
        retention: int = 0,
        completed_at: int = 0,
        group_key: str = "",
        headers: Mapping[str, str] | None = None,
        unknown: bytes = b"",
    ) -> None: ...
    def encode(self) -> bytes: ...
    @staticmethod
    def decode(data: Buffer) -> TaskMessage: ...
    def copy(self) -> TaskMessage: ...
    def __eq__(self, other: object) -> bool: ...

class ServerInfo:
    host: str
    pid: int
    server_id: str
    concurrency: int
    queues: dict[str, int]
    strict_priority: bool
    status: str
    start_time: Timestamp | None
    active_worker_count: int
    unknown: bytes
    def __init__(
        self,
        host: str = "",
        pid: int = 0,
        server_id: str = "",
        concurrency: int = 0,
        queues: Mapping[str, int] | None = None,
        strict_priority: bool = False,
        status: str = "",
        start_time: Timestamp | None = None,
        active_worker_count: int = 0,
        unknown: bytes = b"",
    ) -> None: ...
    def encode(self) -> bytes: ...
    @staticmethod
    def decode(data: Buffer) -> ServerInfo: ...

class WorkerInfo:
    host: str
    pid: int
    server_id: str
    task_id: str
    task_type: str
    task_payload: bytes
    queue: str
    start_time: Timestamp | None
    deadline: Timestamp | None
    unknown: bytes
    def __init__(
        self,
        host: str = "",
        pid: int = 0,
        server_id: str = "",
        task_id: str = "",
        task_type: str = "",
        task_payload: bytes = b"",
        queue: str = "",
        start_time: Timestamp | None = None,
        deadline: Timestamp | None = None,
        unknown: bytes = b"",
    ) -> None: ...
    def encode(self) -> bytes: ...
    @staticmethod
    def decode(data: Buffer) -> WorkerInfo: ...

class SchedulerEntry:
    id: str
    spec: str
    task_type: str
    task_payload: bytes
    enqueue_options: list[str]
    next_enqueue_time: Timestamp | None
    prev_enqueue_time: Timestamp | None
    unknown: bytes
    def __init__(
        self,
        id: str = "",
        spec: str = "",
        task_type: str = "",
        task_payload: bytes = b"",
        enqueue_options: Sequence[str] | None = None,
        next_enqueue_time: Timestamp | None = None,
        prev_enqueue_time: Timestamp | None = None,
        unknown: bytes = b"",
    ) -> None: ...
    def encode(self) -> bytes: ...
    @staticmethod
    def decode(data: Buffer) -> SchedulerEntry: ...

class SchedulerEnqueueEvent:
    task_id: str
    enqueue_time: Timestamp | None
    unknown: bytes
    def __init__(
        self, task_id: str = "", enqueue_time: Timestamp | None = None, unknown: bytes = b""
    ) -> None: ...
    def encode(self) -> bytes: ...
    @staticmethod
    def decode(data: Buffer) -> SchedulerEnqueueEvent: ...

def decode_messages(datas: Sequence[Buffer | None]) -> list[TaskMessage | DecodeError | None]:
    """Decode many at once (worker batch fetch); a bad one yields its DecodeError in place."""

class QueueOrder:
    """Weighted (or strict) order in which a worker tries its queues."""

    queues: list[str]
    weights: list[int]  # reduced by their GCD
    strict: bool
    def __init__(
        self, weights: Mapping[str, int], strict: bool = False, seed: int | None = None
    ) -> None: ...
    def order(self) -> list[str]:
        """Strict: descending weight (ties by name). Weighted: a random permutation
        drawn without replacement, each pick with probability weight / remaining total."""

class LeaseTable:
    """task id -> (queue, lease deadline in unix seconds float)."""
    def __init__(self) -> None: ...
    def __len__(self) -> int: ...
    def __contains__(self, task_id: object) -> bool: ...
    def add(self, task_id: str, queue: str, deadline: float) -> None: ...
    def remove(self, task_id: str) -> bool: ...
    def deadline(self, task_id: str) -> float | None: ...
    def extend(self, task_ids: Iterable[str], deadline: float) -> None: ...
    def due_for_extension(self, now: float, margin: float) -> dict[str, list[str]]:
        """Ids per queue whose lease ends within ``margin`` seconds of ``now``."""

class RunSeries:
    """Unpublished counts of one (queue, task type)."""

    duration_sum: float
    pickup_sum: float
    succeeded: int
    runs_total: int
    runs: dict[str, int]
    failures: dict[str, int]
    def __init__(self, nd: int, np: int) -> None: ...
    def take_duration(self) -> list[int]: ...
    def take_pickup(self) -> list[int]: ...

class RunStats:
    """Run counts per (queue, task type), filled by ``finished`` on the hot path."""

    series: dict[str, dict[str, RunSeries]]
    max_series: int
    def __init__(
        self,
        duration_bounds: Sequence[float],
        pickup_bounds: Sequence[float],
        on_failure: Callable[[Any, BaseException, RunSeries], None],
        max_series: int = 1000,
        overflow: str = "other",
    ) -> None: ...
    def finished(self, running: Any, exc: BaseException | None) -> None: ...

# Slotted instances without __init__ (_slots.pxi)

class SlotBuilder:
    """Makes instances of ``cls`` with the slots ``names`` set from a tuple."""

    def __init__(self, cls: type, names: Iterable[str]) -> None: ...
    def build(self, values: tuple[Any, ...]) -> Any: ...

# Producer requests (_enqreq.pxi)

def plain_text(s: object) -> bool:
    """True when ``s`` is an exact ASCII str with a non-space character."""

def uuid4_strings(rnd: bytes) -> list[str]:
    """Version 4 UUID strings, one per 16 bytes of ``rnd``."""

def enqueue_request(
    head: bytes,
    key_prefix: bytes,
    queue_keys: bytes,
    task_id: str,
    encoded: bytes,
    now_ns: int,
    tail: bytes,
) -> bytes:
    """The RESP request of enqueue.lua for one task (see _enqreq.pxi)."""

def enqueue_batch_request(
    sha: bytes,
    key_prefix: bytes,
    queue_keys: bytes,
    ids: list[str],
    encoded: list[bytes],
    now_ns: int,
    wake_tokens: int,
) -> bytes:
    """The RESP request of enqueue_batch.lua for tasks of one queue."""
