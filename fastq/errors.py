"""The one exception tree: everything fastq raises derives from FastqError."""

from __future__ import annotations

from fastq.redact import redact_text


class FastqError(Exception):
    """Base class of every error fastq raises."""


class InvalidOptionError(FastqError, ValueError):
    """An option or argument is invalid; raised before anything touches Redis."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        self.detail = message  # the reason alone, without the "invalid option" prefix
        super().__init__(f"invalid option {option!r}: {message}")


class PayloadTooLargeError(InvalidOptionError):
    """The encoded task is larger than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        FastqError.__init__(self, f"task payload is {size} bytes, over the limit of {limit} bytes")
        self.option = "payload"


class DecodeError(FastqError, ValueError):
    """Bytes could not be decoded as the expected protobuf message."""


class BrokerError(FastqError):
    """Redis answered with an error fastq did not expect."""


def _cause_text(cause: BaseException | None) -> str:
    """``Class: message`` of a cause, its passwords masked ('' for no cause)."""
    if cause is None:
        return ""
    message = redact_text(str(cause)).strip()
    return f"{type(cause).__name__}: {message}" if message else type(cause).__name__


class BrokerConnectionError(BrokerError, ConnectionError):
    """Redis could not be reached (down, refused, timed out, TLS handshake failed).

    ``target`` is the redacted URL, ``reason`` the cause's class and message
    (redacted); the redis-py exception itself is chained as ``__cause__``.
    """

    def __init__(self, target: str, cause: BaseException | None = None) -> None:
        self.target = target  # always redacted: never carries a password
        self.reason = _cause_text(cause)
        detail = f": {self.reason}" if self.reason else ""
        super().__init__(f"cannot reach Redis at {target}{detail}")


class NotReplicatedError(BrokerError):
    """An ``enqueue(..., wait_replicas=n)`` write reached the master, but fewer than
    ``n`` replicas confirmed it in time (Redis WAIT): the task exists and will run
    unless the master fails before replicating it. ``info`` is its TaskInfo."""

    def __init__(self, info: object, wanted: int, acked: int) -> None:
        self.info, self.wanted, self.acked = info, wanted, acked
        super().__init__(f"task written, but {acked} of {wanted} replicas confirmed it")


class BrokerConfigError(BrokerError):
    """Redis refused the connection settings (DB index out of range, ACL): permanent."""

    what = "Redis refused the connection settings"

    def __init__(self, target: str, cause: BaseException | None = None) -> None:
        self.target = target  # always redacted; '' when the caller does not know it
        self.reason = _cause_text(cause)
        where = f" for {target}" if target else ""
        detail = f": {self.reason}" if self.reason else ""
        super().__init__(f"{self.what}{where}{detail}")


class BrokerAuthError(BrokerConfigError):
    """Redis refused the credentials (wrong or missing password, unknown user): permanent."""

    what = "Redis refused the credentials"


class BrokerWriteRefusedError(BrokerError):
    """Redis refused a write; the condition may pass (memory freed, failover done)."""

    what = "Redis refused the write"

    def __init__(self, cause: BaseException | str) -> None:
        self.reason = redact_text(str(cause))  # Redis's own words
        super().__init__(f"{self.what}: {self.reason}")


class BrokerOutOfMemoryError(BrokerWriteRefusedError):
    """Redis is out of memory (OOM: used memory over maxmemory): writes are refused."""

    what = "Redis is out of memory (maxmemory reached)"


class BrokerReadOnlyError(BrokerWriteRefusedError):
    """Redis is a read-only replica (READONLY, e.g. after a failover): writes are refused."""

    what = "Redis is a read-only replica"


class EnqueueError(FastqError):
    """A task could not be enqueued."""


class TaskIDConflictError(EnqueueError):
    """A task with the same id already exists in the queue."""

    def __init__(self, queue: str, task_id: str) -> None:
        self.queue = queue
        self.task_id = task_id
        super().__init__(f"task id {task_id!r} already exists in queue {queue!r}")


class DuplicateTaskError(EnqueueError):
    """A unique task is refused while its uniqueness lock is held."""

    def __init__(self, queue: str, unique_key: str) -> None:
        self.queue = queue
        self.unique_key = unique_key
        super().__init__(f"duplicate task: uniqueness lock {unique_key!r} is held")


class EnqueueManyError(EnqueueError):
    """Some tasks of an ``enqueue_many`` batch were refused; the others are enqueued."""

    def __init__(self, results: list[object]) -> None:
        self.results = results  # in input order: a TaskInfo, or the exception for that task
        self.errors = {i: r for i, r in enumerate(results) if isinstance(r, BaseException)}
        first = next(iter(self.errors.items()), None)
        detail = f"; first: tasks[{first[0]}]: {first[1]}" if first else ""
        super().__init__(f"{len(self.errors)} of {len(results)} tasks were not enqueued{detail}")

    @property
    def enqueued(self) -> list[object]:
        """The TaskInfo of every task that was enqueued, in input order."""
        return [r for r in self.results if not isinstance(r, BaseException)]


class NotFoundError(FastqError, LookupError):
    """A queue or task the caller named does not exist."""


class QueueNotFoundError(NotFoundError):
    """The queue does not exist."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(f"queue {queue!r} does not exist")


class TaskNotFoundError(NotFoundError):
    """The task does not exist in the queue."""

    def __init__(self, queue: str, task_id: str) -> None:
        self.queue = queue
        self.task_id = task_id
        super().__init__(f"task {task_id!r} not found in queue {queue!r}")


class QueueNotEmptyError(FastqError):
    """A queue with tasks in it cannot be removed without force."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(f"queue {queue!r} is not empty (use force to remove it)")


class QueueBusyError(QueueNotEmptyError):
    """A queue with active tasks cannot be removed, even with force."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        FastqError.__init__(self, f"queue {queue!r} has active tasks; it cannot be removed")


class InvalidStateError(FastqError):
    """The operation does not apply to a task in its current state."""

    def __init__(self, task_id: str, state: str, operation: str) -> None:
        self.task_id = task_id
        self.state = state
        self.operation = operation
        super().__init__(f"cannot {operation} task {task_id!r}: it is {state}")


class UnknownTaskTypeError(FastqError):
    """No handler is registered for the task's type."""

    def __init__(self, task_type: str) -> None:
        self.task_type = task_type
        super().__init__(f"no handler registered for task type {task_type!r}")


class LeaseLostError(FastqError):
    """This worker no longer holds the task's lease; its result is not written."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"lease on task {task_id!r} was lost; result not acknowledged")


class TaskTimeoutError(FastqError, TimeoutError):
    """The handler ran past its timeout or deadline."""


class TaskCanceledError(FastqError):
    """The task was canceled while it ran."""


class TaskControl(FastqError):
    """Raised by a handler to steer what happens to its task instead of a normal failure."""


class SkipRetry(TaskControl):
    """Archive the task now, without retrying."""


class RevokeTask(TaskControl):
    """Drop the task: no retry, no archive."""


class RetryAfter(TaskControl):
    """Run the task again in ``seconds`` without counting a failure or using a retry."""

    def __init__(self, seconds: float) -> None:
        if not seconds >= 0:
            raise InvalidOptionError("seconds", f"must be >= 0, got {seconds!r}")
        self.seconds = float(seconds)
        super().__init__(f"retry after {self.seconds:g} s")


class WaitError(FastqError):
    """``wait`` cannot give a task's outcome."""

    def __init__(self, queue: str, task_id: str, reason: str) -> None:
        self.queue = queue
        self.task_id = task_id
        self.reason = reason
        super().__init__(f"cannot wait for task {task_id!r} in queue {queue!r}: {reason}")


class WaitTimeoutError(WaitError, TimeoutError):
    """The task did not reach a final state within the wait's timeout."""


class ConfigError(FastqError):
    """Worker or application configuration is invalid or cannot be loaded."""


class AppImportError(ConfigError):
    """The worker's APP (``module:attribute``) cannot be imported or is not a fastq.App."""

    def __init__(self, spec: str, reason: str) -> None:
        self.spec = spec
        self.reason = reason
        super().__init__(f"cannot load APP {spec!r}: {reason}")
