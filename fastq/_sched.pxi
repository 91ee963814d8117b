# The scheduler messages SchedulerEntry and SchedulerEnqueueEvent (included by _core.pyx),
# written like the ones in _info.pxi.


@cython.final
cdef class SchedulerEntry:
    """Asynq's SchedulerEntry: one periodic task registered with a scheduler.

    Args:
        id: entry id.
        spec: schedule spec, e.g. ``"@every 30s"`` or a cron line.
        task_type: type of the task it enqueues.
        task_payload: payload of the task it enqueues.
        enqueue_options: option strings, e.g. ``'Queue("critical")'`` (copied to a list).
        next_enqueue_time: ``(seconds, nanos)`` or None.
        prev_enqueue_time: ``(seconds, nanos)`` or None.
        unknown: raw unknown fields, re-emitted after the known fields on encode.
    """

    cdef public str id
    cdef public str spec
    cdef public str task_type
    cdef public bytes task_payload
    cdef public list enqueue_options
    cdef public object next_enqueue_time
    cdef public object prev_enqueue_time
    cdef public bytes unknown

    def __init__(self, str id="", str spec="", str task_type="", bytes task_payload=b"",
                 enqueue_options=None, next_enqueue_time=None, prev_enqueue_time=None,
                 bytes unknown=b""):
        self.id = id
        self.spec = spec
        self.task_type = task_type
        self.task_payload = task_payload
        self.enqueue_options = [] if enqueue_options is None else list(enqueue_options)
        self.next_enqueue_time = _ts_arg(next_enqueue_time, "next_enqueue_time")
        self.prev_enqueue_time = _ts_arg(prev_enqueue_time, "prev_enqueue_time")
        self.unknown = unknown

    cpdef bytes encode(self):
        """Serialize to protobuf bytes (each enqueue option is its own field-5 entry)."""
        cdef str id_ = self.id, spec = self.spec, task_type = self.task_type
        cdef bytes payload = self.task_payload, unknown = self.unknown
        cdef object nxt = self.next_enqueue_time, prev = self.prev_enqueue_time
        if self.enqueue_options is None:
            raise TypeError("enqueue_options must be a list, not None")
        cdef list opts = list(self.enqueue_options)  # snapshot, see _map_items
        cdef Py_ssize_t size = (
            _str_size(id_, "id") + _str_size(spec, "spec") + _str_size(task_type, "task_type")
            + _bytes_size(payload, "task_payload") + _str_list_size(opts, "enqueue_options")
            + _ts_size(nxt, "next_enqueue_time") + _ts_size(prev, "prev_enqueue_time")
            + _raw_size(unknown)
        )
        cdef bytes out = _new_bytes(size)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
        p = _wstr(p, 0x0A, id_)
        p = _wstr(p, 0x12, spec)
        p = _wstr(p, 0x1A, task_type)
        p = _wbytes(p, 0x22, payload)
        p = _wstr_list(p, 0x2A, opts)
        p = _wts(p, 0x32, nxt)
        p = _wts(p, 0x3A, prev)
        p = _wraw(p, unknown)
        _check_written(out, p)
        return out

    @staticmethod
    def decode(data):
        """Parse protobuf bytes; raises fastq.errors.DecodeError when they are not a SchedulerEntry.

        Args:
            data: the encoded message.
        """
        return _decode_entry(_as_bytes(data))

    def __eq__(self, other):
        if type(other) is not SchedulerEntry:
            return NotImplemented
        return _entry_tuple(self) == _entry_tuple(<SchedulerEntry>other)

    __hash__ = None

    def __repr__(self):
        return _fields_repr("SchedulerEntry", _entry_tuple(self), self.unknown)

    def __reduce__(self):
        return (SchedulerEntry.decode, (self.encode(),))


cdef tuple _entry_tuple(SchedulerEntry s):
    return (("id", s.id), ("spec", s.spec), ("task_type", s.task_type),
            ("task_payload", s.task_payload), ("enqueue_options", s.enqueue_options),
            ("next_enqueue_time", s.next_enqueue_time),
            ("prev_enqueue_time", s.prev_enqueue_time), ("unknown", s.unknown))


cdef SchedulerEntry _decode_entry(bytes data):
    cdef cbuf p = <cbuf>PyBytes_AS_STRING(data)
    cdef cbuf end = p + PyBytes_GET_SIZE(data)
    cdef cbuf start
    cdef uint32_t t
    cdef list unk = None
    cdef SchedulerEntry m = SchedulerEntry.__new__(SchedulerEntry)
    m.id = m.spec = m.task_type = ""
    m.task_payload = b""
    m.enqueue_options = []
    while p < end:
        start = p
        _rtag(&p, end, &t)
        if t == 0x0A:
            m.id = _rstr(&p, end)
        elif t == 0x12:
            m.spec = _rstr(&p, end)
        elif t == 0x1A:
            m.task_type = _rstr(&p, end)
        elif t == 0x22:
            m.task_payload = _rbytes(&p, end)
        elif t == 0x2A:
            m.enqueue_options.append(_rstr(&p, end))
        elif t == 0x32:
            m.next_enqueue_time = _rts(&p, end, m.next_enqueue_time)
        elif t == 0x3A:
            m.prev_enqueue_time = _rts(&p, end, m.prev_enqueue_time)
        else:
            _skip(&p, end, t, _MAX_DEPTH)
            unk = _keep(unk, start, p)
    m.unknown = _joined(unk)
    return m


@cython.final
cdef class SchedulerEnqueueEvent:
    """Asynq's SchedulerEnqueueEvent: one enqueue done by a periodic entry.

    Args:
        task_id: id of the enqueued task.
        enqueue_time: ``(seconds, nanos)`` or None.
        unknown: raw unknown fields, re-emitted after the known fields on encode.
    """

    cdef public str task_id
    cdef public object enqueue_time
    cdef public bytes unknown

    def __init__(self, str task_id="", enqueue_time=None, bytes unknown=b""):
        self.task_id = task_id
        self.enqueue_time = _ts_arg(enqueue_time, "enqueue_time")
        self.unknown = unknown

    cpdef bytes encode(self):
        """Serialize to protobuf bytes."""
        cdef str task_id = self.task_id
        cdef object when = self.enqueue_time
        cdef bytes unknown = self.unknown
        cdef Py_ssize_t size = (
            _str_size(task_id, "task_id") + _ts_size(when, "enqueue_time")
            + _raw_size(unknown)
        )
        cdef bytes out = _new_bytes(size)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
        p = _wstr(p, 0x0A, task_id)
        p = _wts(p, 0x12, when)
        p = _wraw(p, unknown)
        _check_written(out, p)
        return out

    @staticmethod
    def decode(data):
        """Parse protobuf bytes; raises fastq.errors.DecodeError when they are not an event.

        Args:
            data: the encoded message.
        """
        return _decode_event(_as_bytes(data))

    def __eq__(self, other):
        if type(other) is not SchedulerEnqueueEvent:
            return NotImplemented
        cdef SchedulerEnqueueEvent o = <SchedulerEnqueueEvent>other
        return (self.task_id == o.task_id and self.enqueue_time == o.enqueue_time
                and self.unknown == o.unknown)

    __hash__ = None

    def __repr__(self):
        return _fields_repr("SchedulerEnqueueEvent",
                            (("task_id", self.task_id), ("enqueue_time", self.enqueue_time)),
                            self.unknown)

    def __reduce__(self):
        return (SchedulerEnqueueEvent.decode, (self.encode(),))


cdef SchedulerEnqueueEvent _decode_event(bytes data):
    cdef cbuf p = <cbuf>PyBytes_AS_STRING(data)
    cdef cbuf end = p + PyBytes_GET_SIZE(data)
    cdef cbuf start
    cdef uint32_t t
    cdef list unk = None
    cdef SchedulerEnqueueEvent m = SchedulerEnqueueEvent.__new__(SchedulerEnqueueEvent)
    m.task_id = ""
    while p < end:
        start = p
        _rtag(&p, end, &t)
        if t == 0x0A:
            m.task_id = _rstr(&p, end)
        elif t == 0x12:
            m.enqueue_time = _rts(&p, end, m.enqueue_time)
        else:
            _skip(&p, end, t, _MAX_DEPTH)
            unk = _keep(unk, start, p)
    m.unknown = _joined(unk)
    return m
