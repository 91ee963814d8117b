# Maps and google.protobuf.Timestamp, on top of _wire.pxi (included by _core.pyx).
#
# Map order: proto3 leaves the order of map entries open, and the Python runtime's
# default order is not stable. We write entries in the order of the runtime's
# SerializeToString(deterministic=True) so the tests can compare bytes: upb sorts
# keys by their UTF-8 bytes, except that a key which is a prefix of another comes
# AFTER it ("ab" before "a", "b" before ""). Appending 0xFF (never in UTF-8) to each
# key and sorting bytewise gives exactly that order.
#
# Map entries always carry both key and value, even defaults (upb writes "0a00 1200").
# An entry holding any other field (or key/value with a foreign wire type) is not a
# map entry to upb: it moves, re-encoded, to the message's unknown fields. We do the same.


cdef list _NO_ITEMS = []  # shared and never mutated: empty maps are the common case


def _map_sort_key(item):
    return (<str>item[0]).encode() + b"\xff"


cdef list _map_items(object m, str field):
    """Snapshot a map's (key, value) pairs in upb's deterministic order.

    Sizing and writing both walk this snapshot, so the dict changing in between
    can never make the writer overrun the buffer it sized.
    """
    if m is None or (isinstance(m, dict) and not m):
        return _NO_ITEMS
    if not isinstance(m, dict):
        raise TypeError(f"{field} must be a dict, not {type(m).__name__}")
    cdef list items = list((<dict>m).items())
    if len(items) > 1:
        items.sort(key=_map_sort_key)
    return items


cdef inline bytes _len_prefixed(unsigned char tag, bytes body):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(body)
    cdef bytes out = _new_bytes(1 + _vsize(<uint64_t>n) + n)
    _check_written(out, _wlen(<unsigned char*>PyBytes_AS_STRING(out), tag,
                              PyBytes_AS_STRING(body), n))
    return out


# ---------------------------------------------------------------- map<string, string>

cdef Py_ssize_t _str_map_size(list items, str field) except -1:
    cdef Py_ssize_t total = 0, kn, vn, entry
    for k, v in items:
        _utf8(k, field + " key", &kn)
        _utf8(v, field + " value", &vn)
        entry = 2 + _vsize(<uint64_t>kn) + kn + _vsize(<uint64_t>vn) + vn
        total += 1 + _vsize(<uint64_t>entry) + entry
    return total


cdef unsigned char* _wstr_map(unsigned char* p, unsigned char tag, list items) except NULL:
    cdef Py_ssize_t kn, vn
    cdef const char* kc
    cdef const char* vc
    for k, v in items:
        kc = _as_utf8(k, &kn)
        vc = _as_utf8(v, &vn)
        p[0] = tag
        p = _wvarint(p + 1, <uint64_t>(2 + _vsize(<uint64_t>kn) + kn + _vsize(<uint64_t>vn) + vn))
        p = _wlen(p, 0x0A, kc, kn)
        p = _wlen(p, 0x12, vc, vn)
    return p


cdef list _rstr_map_entry(cbuf* pp, cbuf end, dict out, list unk, unsigned char tag):
    cdef Py_ssize_t n
    cdef uint32_t t
    cdef cbuf start
    _rlen(pp, end, &n)
    cdef cbuf p = pp[0]
    cdef cbuf e = p + n
    pp[0] = e
    cdef str key = ""
    cdef str val = ""
    cdef list eunk = None
    while p < e:
        start = p
        _rtag(&p, e, &t)
        if t == 0x0A:
            key = _rstr(&p, e)
        elif t == 0x12:
            val = _rstr(&p, e)
        else:
            _skip(&p, e, t, _MAX_DEPTH - 1)
            eunk = _keep(eunk, start, p)
    if eunk is None:
        out[key] = val
        return unk
    body = b""
    if key:
        body += _len_prefixed(0x0A, key.encode())
    if val:
        body += _len_prefixed(0x12, val.encode())
    return _keep_bytes(unk, _len_prefixed(tag, body + _joined(eunk)))


# ---------------------------------------------------------------- map<string, int32>

cdef Py_ssize_t _int_map_size(list items, str field) except -1:
    cdef Py_ssize_t total = 0, kn, entry
    cdef int32_t v
    for k, val in items:
        _utf8(k, field + " key", &kn)
        if not isinstance(val, int):
            raise TypeError(f"{field} values must be int, not {type(val).__name__}")
        v = val  # OverflowError outside int32
        entry = 2 + _vsize(<uint64_t>kn) + kn + _vsize(<uint64_t><int64_t>v)
        total += 1 + _vsize(<uint64_t>entry) + entry
    return total


cdef unsigned char* _wint_map(unsigned char* p, unsigned char tag, list items) except NULL:
    cdef Py_ssize_t kn
    cdef const char* kc
    cdef int32_t v
    for k, val in items:
        v = val
        kc = _as_utf8(k, &kn)
        p[0] = tag
        p = _wvarint(p + 1, <uint64_t>(2 + _vsize(<uint64_t>kn) + kn + _vsize(<uint64_t><int64_t>v)))
        p = _wlen(p, 0x0A, kc, kn)
        p[0] = 0x10
        p = _wvarint(p + 1, <uint64_t><int64_t>v)
    return p


cdef list _rint_map_entry(cbuf* pp, cbuf end, dict out, list unk, unsigned char tag):
    cdef Py_ssize_t n
    cdef uint32_t t
    cdef uint64_t raw
    cdef cbuf start
    _rlen(pp, end, &n)
    cdef cbuf p = pp[0]
    cdef cbuf e = p + n
    pp[0] = e
    cdef str key = ""
    cdef int32_t val = 0
    cdef list eunk = None
    while p < e:
        start = p
        _rtag(&p, e, &t)
        if t == 0x0A:
            key = _rstr(&p, e)
        elif t == 0x10:
            _rvarint(&p, e, &raw)
            val = <int32_t><uint32_t>raw
        else:
            _skip(&p, e, t, _MAX_DEPTH - 1)
            eunk = _keep(eunk, start, p)
    if eunk is None:
        out[key] = val
        return unk
    body = b""
    if key:
        body += _len_prefixed(0x0A, key.encode())
    if val:
        raw = <uint64_t><int64_t>val
        vb = _new_bytes(1 + _vsize(raw))
        (<unsigned char*>PyBytes_AS_STRING(vb))[0] = 0x10
        _wvarint(<unsigned char*>PyBytes_AS_STRING(vb) + 1, raw)
        body += vb
    return _keep_bytes(unk, _len_prefixed(tag, body + _joined(eunk)))


cdef inline list _keep_bytes(list unk, bytes raw):
    if unk is None:
        unk = []
    unk.append(raw)
    return unk


# ---------------------------------------------------------------- repeated string

cdef Py_ssize_t _str_list_size(list items, str field) except -1:
    cdef Py_ssize_t total = 0, n
    for s in items:
        _utf8(s, field + " item", &n)
        total += 1 + _vsize(<uint64_t>n) + n  # empty items are still written
    return total


cdef unsigned char* _wstr_list(unsigned char* p, unsigned char tag, list items) except NULL:
    cdef Py_ssize_t n
    cdef const char* c
    for s in items:
        c = _as_utf8(s, &n)
        p = _wlen(p, tag, c, n)
    return p


# ---------------------------------------------------------------- Timestamp
# A (seconds, nanos) tuple, or None when absent. Unknown fields *inside* a
# Timestamp are skipped and dropped (the one place we do not keep them: a tuple
# has nowhere to hold them, and no Timestamp writer emits any).

cdef inline int _ts_parts(object ts, str field, int64_t* secs, int32_t* nanos) except -1:
    if type(ts) is not tuple or len(<tuple>ts) != 2:
        raise TypeError(f"{field} must be a (seconds, nanos) tuple or None")
    secs[0] = (<tuple>ts)[0]
    nanos[0] = (<tuple>ts)[1]
    return 0


cdef inline Py_ssize_t _ts_inner_size(int64_t secs, int32_t nanos) noexcept nogil:
    return _int_size(secs) + _int_size(nanos)


cdef Py_ssize_t _ts_size(object ts, str field) except -1:
    cdef int64_t secs
    cdef int32_t nanos
    if ts is None:
        return 0
    _ts_parts(ts, field, &secs, &nanos)
    cdef Py_ssize_t inner = _ts_inner_size(secs, nanos)
    return 1 + _vsize(<uint64_t>inner) + inner  # present: written even when (0, 0)


cdef unsigned char* _wts(unsigned char* p, unsigned char tag, object ts) except NULL:
    cdef int64_t secs
    cdef int32_t nanos
    if ts is None:
        return p
    _ts_parts(ts, "timestamp", &secs, &nanos)
    p[0] = tag
    p = _wvarint(p + 1, <uint64_t>_ts_inner_size(secs, nanos))
    p = _wint(p, 0x08, secs)
    return _wint(p, 0x10, nanos)


cdef tuple _rts(cbuf* pp, cbuf end, object prev):
    """Read a Timestamp; a repeated occurrence merges into the previous one, as protobuf does."""
    cdef Py_ssize_t n
    cdef uint32_t t
    cdef uint64_t raw
    cdef int64_t secs = 0
    cdef int32_t nanos = 0
    if prev is not None:
        secs = (<tuple>prev)[0]
        nanos = (<tuple>prev)[1]
    _rlen(pp, end, &n)
    cdef cbuf p = pp[0]
    cdef cbuf e = p + n
    pp[0] = e
    while p < e:
        _rtag(&p, e, &t)
        if t == 0x08:
            _rvarint(&p, e, &raw)
            secs = <int64_t>raw
        elif t == 0x10:
            _rvarint(&p, e, &raw)
            nanos = <int32_t><uint32_t>raw
        else:
            _skip(&p, e, t, _MAX_DEPTH - 1)
    return (secs, nanos)
