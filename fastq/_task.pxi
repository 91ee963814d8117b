# TaskMessage: the per-task hot path (included by _core.pyx). Field table: DESIGN.md.

cimport cython


cdef inline str _short_repr(bytes b):
    # Payloads can be megabytes; a repr shows their start and size only.
    if b is None or PyBytes_GET_SIZE(b) <= 48:
        return repr(b)
    return f"{b[:48]!r}...<{PyBytes_GET_SIZE(b)} bytes>"


@cython.final
@cython.freelist(32)
cdef class TaskMessage:
    """Asynq's TaskMessage (protobuf, proto3). ``encode()`` writes what the protobuf runtime writes.

    Args:
        type: task type name, e.g. ``"email:send"``.
        payload: opaque task payload.
        id: task id (unique within its queue).
        queue: queue name.
        retry: maximum number of retries (int32).
        retried: retries done so far (int32).
        error_msg: error message of the last failure.
        timeout: timeout in seconds, 0 = none (int64).
        deadline: deadline in unix seconds, 0 = none (int64).
        unique_key: Redis key of the uniqueness lock, "" = none.
        last_failed_at: unix seconds of the last failure.
        retention: seconds to keep the task once completed.
        completed_at: unix seconds of completion.
        group_key: aggregation group, "" = none.
        headers: string metadata (copied into a new dict).
        unknown: raw unknown fields, re-emitted after the known fields on encode.
    """

    cdef public str type
    cdef public bytes payload
    cdef public str id
    cdef public str queue
    cdef public int32_t retry
    cdef public int32_t retried
    cdef public str error_msg
    cdef public int64_t timeout
    cdef public int64_t deadline
    cdef public str unique_key
    cdef public int64_t last_failed_at
    cdef public int64_t retention
    cdef public int64_t completed_at
    cdef public str group_key
    cdef dict _headers  # None until needed: most tasks carry no headers
    cdef public bytes unknown

    def __init__(self, str type="", bytes payload=b"", str id="", str queue="",
                 int32_t retry=0, int32_t retried=0, str error_msg="", int64_t timeout=0,
                 int64_t deadline=0, str unique_key="", int64_t last_failed_at=0,
                 int64_t retention=0, int64_t completed_at=0, str group_key="",
                 headers=None, bytes unknown=b""):
        self.type = type
        self.payload = payload
        self.id = id
        self.queue = queue
        self.retry = retry
        self.retried = retried
        self.error_msg = error_msg
        self.timeout = timeout
        self.deadline = deadline
        self.unique_key = unique_key
        self.last_failed_at = last_failed_at
        self.retention = retention
        self.completed_at = completed_at
        self.group_key = group_key
        self._headers = dict(headers) if headers else None
        self.unknown = unknown

    @property
    def headers(self):
        """String metadata (a dict, created on first access)."""
        if self._headers is None:
            self._headers = {}
        return self._headers

    @headers.setter
    def headers(self, value):
        if value is not None and not isinstance(value, dict):
            raise TypeError(f"headers must be a dict, not {type(value).__name__}")
        self._headers = value

    cpdef bytes encode(self):
        """Serialize to protobuf bytes (fields in number order, defaults omitted, headers sorted)."""
        # Local snapshots: sizing and writing must see the same values.
        cdef str ty = self.type, id_ = self.id, queue = self.queue, err = self.error_msg
        cdef str ukey = self.unique_key, group = self.group_key
        cdef bytes payload = self.payload, unknown = self.unknown
        cdef int32_t retry = self.retry, retried = self.retried
        cdef int64_t timeout = self.timeout, deadline = self.deadline
        cdef int64_t failed_at = self.last_failed_at, retention = self.retention
        cdef int64_t completed_at = self.completed_at
        cdef list headers = _map_items(self._headers, "headers")
        cdef Py_ssize_t size = (
            _str_size(ty, "type") + _bytes_size(payload, "payload") + _str_size(id_, "id")
            + _str_size(queue, "queue") + _int_size(retry) + _int_size(retried)
            + _str_size(err, "error_msg") + _int_size(timeout) + _int_size(deadline)
            + _str_size(ukey, "unique_key") + _int_size(failed_at) + _int_size(retention)
            + _int_size(completed_at) + _str_size(group, "group_key")
            + _str_map_size(headers, "headers") + _raw_size(unknown)
        )
        cdef bytes out = _new_bytes(size)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
        p = _wstr(p, 0x0A, ty)
        p = _wbytes(p, 0x12, payload)
        p = _wstr(p, 0x1A, id_)
        p = _wstr(p, 0x22, queue)
        p = _wint(p, 0x28, retry)
        p = _wint(p, 0x30, retried)
        p = _wstr(p, 0x3A, err)
        p = _wint(p, 0x40, timeout)
        p = _wint(p, 0x48, deadline)
        p = _wstr(p, 0x52, ukey)
        p = _wint(p, 0x58, failed_at)
        p = _wint(p, 0x60, retention)
        p = _wint(p, 0x68, completed_at)
        p = _wstr(p, 0x72, group)
        p = _wstr_map(p, 0x7A, headers)
        p = _wraw(p, unknown)
        _check_written(out, p)
        return out

    @staticmethod
    def decode(data):
        """Parse protobuf bytes.

        Args:
            data: the encoded message (``bytes``; other buffers are copied first).

        Raises:
            fastq.errors.DecodeError: the bytes are not a valid TaskMessage.
        """
        return _decode_task(_as_bytes(data))

    def copy(self):
        """Shallow copy with its own ``headers`` dict."""
        cdef TaskMessage c = TaskMessage.__new__(TaskMessage)
        c.type = self.type
        c.payload = self.payload
        c.id = self.id
        c.queue = self.queue
        c.retry = self.retry
        c.retried = self.retried
        c.error_msg = self.error_msg
        c.timeout = self.timeout
        c.deadline = self.deadline
        c.unique_key = self.unique_key
        c.last_failed_at = self.last_failed_at
        c.retention = self.retention
        c.completed_at = self.completed_at
        c.group_key = self.group_key
        c._headers = dict(self._headers) if self._headers else None
        c.unknown = self.unknown
        return c

    def __eq__(self, other):
        if type(other) is not TaskMessage:
            return NotImplemented
        cdef TaskMessage o = <TaskMessage>other
        return (
            self.id == o.id and self.type == o.type and self.payload == o.payload
            and self.queue == o.queue and self.retry == o.retry and self.retried == o.retried
            and self.error_msg == o.error_msg and self.timeout == o.timeout
            and self.deadline == o.deadline and self.unique_key == o.unique_key
            and self.last_failed_at == o.last_failed_at and self.retention == o.retention
            and self.completed_at == o.completed_at and self.group_key == o.group_key
            and (self._headers or {}) == (o._headers or {}) and self.unknown == o.unknown
        )

    __hash__ = None  # mutable

    def __repr__(self):
        parts = [f"type={self.type!r}", f"id={self.id!r}", f"queue={self.queue!r}",
                 f"payload={_short_repr(self.payload)}"]
        for name, value in (("retry", self.retry), ("retried", self.retried),
                            ("error_msg", self.error_msg), ("timeout", self.timeout),
                            ("deadline", self.deadline), ("unique_key", self.unique_key),
                            ("last_failed_at", self.last_failed_at),
                            ("retention", self.retention), ("completed_at", self.completed_at),
                            ("group_key", self.group_key), ("headers", self._headers)):
            if value:
                parts.append(f"{name}={value!r}")
        if self.unknown:
            parts.append(f"unknown=<{len(self.unknown)} bytes>")
        return f"TaskMessage({', '.join(parts)})"

    def __reduce__(self):
        return (_task_from_bytes, (self.encode(),))


def _task_from_bytes(bytes data):
    return _decode_task(data)


cdef inline unsigned char* _wraw(unsigned char* p, bytes raw) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(raw)
    memcpy(p, PyBytes_AS_STRING(raw), n)
    return p + n


cdef TaskMessage _decode_task(bytes data):
    cdef cbuf p = <cbuf>PyBytes_AS_STRING(data)
    cdef cbuf end = p + PyBytes_GET_SIZE(data)
    cdef cbuf start
    cdef uint32_t t
    cdef uint64_t v
    cdef list unk = None
    cdef TaskMessage m = TaskMessage.__new__(TaskMessage)
    m.type = m.id = m.queue = m.error_msg = m.unique_key = m.group_key = ""
    m.payload = b""
    while p < end:
        start = p
        _rtag(&p, end, &t)
        # The full tag (number << 3 | wire type): a known number with a foreign
        # wire type falls through to "unknown", which is what upb does.
        if t == 0x0A:
            m.type = _rstr_cached(&p, end)
        elif t == 0x12:
            m.payload = _rbytes(&p, end)
        elif t == 0x1A:
            m.id = _rstr(&p, end)
        elif t == 0x22:
            m.queue = _rstr_cached(&p, end)
        elif t == 0x28:
            _rvarint(&p, end, &v)
            m.retry = <int32_t><uint32_t>v
        elif t == 0x30:
            _rvarint(&p, end, &v)
            m.retried = <int32_t><uint32_t>v
        elif t == 0x3A:
            m.error_msg = _rstr(&p, end)
        elif t == 0x40:
            _rvarint(&p, end, &v)
            m.timeout = <int64_t>v
        elif t == 0x48:
            _rvarint(&p, end, &v)
            m.deadline = <int64_t>v
        elif t == 0x52:
            m.unique_key = _rstr(&p, end)
        elif t == 0x58:
            _rvarint(&p, end, &v)
            m.last_failed_at = <int64_t>v
        elif t == 0x60:
            _rvarint(&p, end, &v)
            m.retention = <int64_t>v
        elif t == 0x68:
            _rvarint(&p, end, &v)
            m.completed_at = <int64_t>v
        elif t == 0x72:
            m.group_key = _rstr_cached(&p, end)
        elif t == 0x7A:
            if m._headers is None:
                m._headers = {}
            unk = _rstr_map_entry(&p, end, m._headers, unk, 0x7A)
        else:
            _skip(&p, end, t, _MAX_DEPTH)
            unk = _keep(unk, start, p)
    m.unknown = _joined(unk)
    return m


def decode_messages(datas):
    """Decode a batch of TaskMessages (a worker's batch fetch).

    Args:
        datas: a sequence of encoded messages; ``None`` entries (a task hash that
            vanished) stay ``None``.

    Returns:
        A list of the same length: a TaskMessage, or the DecodeError instance for
        an entry that is not a valid message (one bad task never fails the batch).
    """
    cdef list out = []
    for d in datas:
        if d is None:
            out.append(None)
            continue
        try:
            out.append(_decode_task(_as_bytes(d)))
        except DecodeError as e:
            out.append(e)
    return out
