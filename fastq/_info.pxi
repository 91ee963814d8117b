# The status messages ServerInfo and WorkerInfo (included by _core.pyx). Not a hot path,
# but they share the TaskMessage rules: proto3 defaults omitted, Timestamps as
# (seconds, nanos) or None, unknown fields kept.


cdef object _ts_arg(object ts, str field):
    """Validate a Timestamp argument early: None or a (seconds, nanos) pair of ints."""
    cdef int64_t secs
    cdef int32_t nanos
    if ts is None:
        return None
    if isinstance(ts, list):
        ts = tuple(ts)
    _ts_parts(ts, field, &secs, &nanos)
    return (secs, nanos)


cdef str _fields_repr(str name, tuple pairs, bytes unknown):
    parts = [f"{k}={_short_repr(v) if type(v) is bytes else repr(v)}"
             for k, v in pairs if v and k != "unknown"]
    if unknown:
        parts.append(f"unknown=<{len(unknown)} bytes>")
    return f"{name}({', '.join(parts)})"


@cython.final
cdef class ServerInfo:
    """Asynq's ServerInfo: one running worker server, written by its heartbeat.

    Args:
        host: host name.
        pid: process id (int32).
        server_id: unique server id.
        concurrency: number of task slots (int32).
        queues: queue name -> priority weight (int32), copied.
        strict_priority: whether queues are served in strict priority order.
        status: ``"active"``, ``"stopped"``, ...
        start_time: ``(seconds, nanos)`` or None.
        active_worker_count: tasks running now (int32).
        unknown: raw unknown fields, re-emitted after the known fields on encode.
    """

    cdef public str host
    cdef public int32_t pid
    cdef public str server_id
    cdef public int32_t concurrency
    cdef public dict queues
    cdef public bint strict_priority
    cdef public str status
    cdef public object start_time
    cdef public int32_t active_worker_count
    cdef public bytes unknown

    def __init__(self, str host="", int32_t pid=0, str server_id="", int32_t concurrency=0,
                 queues=None, bint strict_priority=False, str status="", start_time=None,
                 int32_t active_worker_count=0, bytes unknown=b""):
        self.host = host
        self.pid = pid
        self.server_id = server_id
        self.concurrency = concurrency
        self.queues = {} if queues is None else dict(queues)
        self.strict_priority = strict_priority
        self.status = status
        self.start_time = _ts_arg(start_time, "start_time")
        self.active_worker_count = active_worker_count
        self.unknown = unknown

    cpdef bytes encode(self):
        """Serialize to protobuf bytes (queues sorted like the runtime's deterministic mode)."""
        cdef str host = self.host, server_id = self.server_id, status = self.status
        cdef int32_t pid = self.pid, conc = self.concurrency, active = self.active_worker_count
        cdef bint strict = self.strict_priority
        cdef object start = self.start_time
        cdef bytes unknown = self.unknown
        cdef list queues = _map_items(self.queues, "queues")
        cdef Py_ssize_t size = (
            _str_size(host, "host") + _int_size(pid) + _str_size(server_id, "server_id")
            + _int_size(conc) + _int_map_size(queues, "queues") + _int_size(strict)
            + _str_size(status, "status") + _ts_size(start, "start_time") + _int_size(active)
            + _raw_size(unknown)
        )
        cdef bytes out = _new_bytes(size)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
        p = _wstr(p, 0x0A, host)
        p = _wint(p, 0x10, pid)
        p = _wstr(p, 0x1A, server_id)
        p = _wint(p, 0x20, conc)
        p = _wint_map(p, 0x2A, queues)
        p = _wint(p, 0x30, strict)
        p = _wstr(p, 0x3A, status)
        p = _wts(p, 0x42, start)
        p = _wint(p, 0x48, active)
        p = _wraw(p, unknown)
        _check_written(out, p)
        return out

    @staticmethod
    def decode(data):
        """Parse protobuf bytes; raises fastq.errors.DecodeError when they are not a ServerInfo.

        Args:
            data: the encoded message.
        """
        return _decode_server(_as_bytes(data))

    def __eq__(self, other):
        if type(other) is not ServerInfo:
            return NotImplemented
        return _server_tuple(self) == _server_tuple(<ServerInfo>other)

    __hash__ = None

    def __repr__(self):
        return _fields_repr("ServerInfo", _server_tuple(self), self.unknown)

    def __reduce__(self):
        return (ServerInfo.decode, (self.encode(),))


cdef tuple _server_tuple(ServerInfo s):
    return (("host", s.host), ("pid", s.pid), ("server_id", s.server_id),
            ("concurrency", s.concurrency), ("queues", s.queues),
            ("strict_priority", s.strict_priority), ("status", s.status),
            ("start_time", s.start_time), ("active_worker_count", s.active_worker_count),
            ("unknown", s.unknown))


cdef ServerInfo _decode_server(bytes data):
    cdef cbuf p = <cbuf>PyBytes_AS_STRING(data)
    cdef cbuf end = p + PyBytes_GET_SIZE(data)
    cdef cbuf start
    cdef uint32_t t
    cdef uint64_t v
    cdef list unk = None
    cdef ServerInfo m = ServerInfo.__new__(ServerInfo)
    m.host = m.server_id = m.status = ""
    m.queues = {}
    while p < end:
        start = p
        _rtag(&p, end, &t)
        if t == 0x0A:
            m.host = _rstr(&p, end)
        elif t == 0x10:
            _rvarint(&p, end, &v)
            m.pid = <int32_t><uint32_t>v
        elif t == 0x1A:
            m.server_id = _rstr(&p, end)
        elif t == 0x20:
            _rvarint(&p, end, &v)
            m.concurrency = <int32_t><uint32_t>v
        elif t == 0x2A:
            unk = _rint_map_entry(&p, end, m.queues, unk, 0x2A)
        elif t == 0x30:
            _rvarint(&p, end, &v)
            m.strict_priority = v != 0
        elif t == 0x3A:
            m.status = _rstr(&p, end)
        elif t == 0x42:
            m.start_time = _rts(&p, end, m.start_time)
        elif t == 0x48:
            _rvarint(&p, end, &v)
            m.active_worker_count = <int32_t><uint32_t>v
        else:
            _skip(&p, end, t, _MAX_DEPTH)
            unk = _keep(unk, start, p)
    m.unknown = _joined(unk)
    return m


@cython.final
cdef class WorkerInfo:
    """Asynq's WorkerInfo: one task running on a server.

    Args:
        host: host name.
        pid: process id (int32).
        server_id: id of the server running the task.
        task_id: the task's id.
        task_type: the task's type.
        task_payload: the task's payload.
        queue: the task's queue.
        start_time: ``(seconds, nanos)`` when processing started, or None.
        deadline: ``(seconds, nanos)`` by which it must finish, or None.
        unknown: raw unknown fields, re-emitted after the known fields on encode.
    """

    cdef public str host
    cdef public int32_t pid
    cdef public str server_id
    cdef public str task_id
    cdef public str task_type
    cdef public bytes task_payload
    cdef public str queue
    cdef public object start_time
    cdef public object deadline
    cdef public bytes unknown

    def __init__(self, str host="", int32_t pid=0, str server_id="", str task_id="",
                 str task_type="", bytes task_payload=b"", str queue="", start_time=None,
                 deadline=None, bytes unknown=b""):
        self.host = host
        self.pid = pid
        self.server_id = server_id
        self.task_id = task_id
        self.task_type = task_type
        self.task_payload = task_payload
        self.queue = queue
        self.start_time = _ts_arg(start_time, "start_time")
        self.deadline = _ts_arg(deadline, "deadline")
        self.unknown = unknown

    cpdef bytes encode(self):
        """Serialize to protobuf bytes."""
        cdef str host = self.host, server_id = self.server_id, task_id = self.task_id
        cdef str task_type = self.task_type, queue = self.queue
        cdef bytes payload = self.task_payload, unknown = self.unknown
        cdef int32_t pid = self.pid
        cdef object start = self.start_time, deadline = self.deadline
        cdef Py_ssize_t size = (
            _str_size(host, "host") + _int_size(pid) + _str_size(server_id, "server_id")
            + _str_size(task_id, "task_id") + _str_size(task_type, "task_type")
            + _bytes_size(payload, "task_payload") + _str_size(queue, "queue")
            + _ts_size(start, "start_time") + _ts_size(deadline, "deadline")
            + _raw_size(unknown)
        )
        cdef bytes out = _new_bytes(size)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
        p = _wstr(p, 0x0A, host)
        p = _wint(p, 0x10, pid)
        p = _wstr(p, 0x1A, server_id)
        p = _wstr(p, 0x22, task_id)
        p = _wstr(p, 0x2A, task_type)
        p = _wbytes(p, 0x32, payload)
        p = _wstr(p, 0x3A, queue)
        p = _wts(p, 0x42, start)
        p = _wts(p, 0x4A, deadline)
        p = _wraw(p, unknown)
        _check_written(out, p)
        return out

    @staticmethod
    def decode(data):
        """Parse protobuf bytes; raises fastq.errors.DecodeError when they are not a WorkerInfo.

        Args:
            data: the encoded message.
        """
        return _decode_worker(_as_bytes(data))

    def __eq__(self, other):
        if type(other) is not WorkerInfo:
            return NotImplemented
        return _worker_tuple(self) == _worker_tuple(<WorkerInfo>other)

    __hash__ = None

    def __repr__(self):
        return _fields_repr("WorkerInfo", _worker_tuple(self), self.unknown)

    def __reduce__(self):
        return (WorkerInfo.decode, (self.encode(),))


cdef tuple _worker_tuple(WorkerInfo w):
    return (("host", w.host), ("pid", w.pid), ("server_id", w.server_id),
            ("task_id", w.task_id), ("task_type", w.task_type),
            ("task_payload", w.task_payload), ("queue", w.queue),
            ("start_time", w.start_time), ("deadline", w.deadline), ("unknown", w.unknown))


cdef WorkerInfo _decode_worker(bytes data):
    cdef cbuf p = <cbuf>PyBytes_AS_STRING(data)
    cdef cbuf end = p + PyBytes_GET_SIZE(data)
    cdef cbuf start
    cdef uint32_t t
    cdef uint64_t v
    cdef list unk = None
    cdef WorkerInfo m = WorkerInfo.__new__(WorkerInfo)
    m.host = m.server_id = m.task_id = m.task_type = m.queue = ""
    m.task_payload = b""
    while p < end:
        start = p
        _rtag(&p, end, &t)
        if t == 0x0A:
            m.host = _rstr(&p, end)
        elif t == 0x10:
            _rvarint(&p, end, &v)
            m.pid = <int32_t><uint32_t>v
        elif t == 0x1A:
            m.server_id = _rstr(&p, end)
        elif t == 0x22:
            m.task_id = _rstr(&p, end)
        elif t == 0x2A:
            m.task_type = _rstr(&p, end)
        elif t == 0x32:
            m.task_payload = _rbytes(&p, end)
        elif t == 0x3A:
            m.queue = _rstr(&p, end)
        elif t == 0x42:
            m.start_time = _rts(&p, end, m.start_time)
        elif t == 0x4A:
            m.deadline = _rts(&p, end, m.deadline)
        else:
            _skip(&p, end, t, _MAX_DEPTH)
            unk = _keep(unk, start, p)
    m.unknown = _joined(unk)
    return m
