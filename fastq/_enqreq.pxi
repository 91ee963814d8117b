# Producer requests (included by _core.pyx): task ids and whole EVALSHA requests in
# Redis's wire protocol (RESP), each built into one buffer. The producer sends them
# as they are on a kept connection (fastq/rdb/conn.py), so an enqueue makes no
# argument tuple, no key strings and no per-argument bytes objects.

cdef char* _HEX = b"0123456789abcdef"


def plain_text(object s):
    """True when ``s`` is an exact ASCII str with a non-whitespace character: a name
    ``fastq.options.non_blank`` would return unchanged, checked without building
    anything. False means "ask non_blank" (it accepts other Unicode or raises).
    """
    if type(s) is not str or not PyUnicode_IS_COMPACT_ASCII(s):
        return False
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(s)
    cdef const unsigned char* c = <const unsigned char*>PyUnicode_DATA(s)
    cdef unsigned char ch
    for i in range(n):
        ch = c[i]
        # str.isspace() in ASCII: \t \n \v \f \r, \x1c-\x1f and the space.
        if not (ch == 32 or 9 <= ch <= 13 or 28 <= ch <= 31):
            return True
    return False


def uuid4_strings(bytes rnd):
    """Version 4 UUID strings (``uuid.NewString()``'s form), one per 16 bytes of ``rnd``.

    Args:
        rnd: random bytes (``os.urandom``), a multiple of 16 long.
    """
    cdef Py_ssize_t n = PyBytes_GET_SIZE(rnd) // 16, i, j, k
    cdef cbuf src = <cbuf>PyBytes_AS_STRING(rnd)
    cdef unsigned char b
    cdef unsigned char* out
    cdef list ids = []
    cdef object s
    for i in range(n):
        s = PyUnicode_New(36, 127)
        out = <unsigned char*>PyUnicode_DATA(s)
        k = 0
        for j in range(16):
            b = src[16 * i + j]
            if j == 6:
                b = (b & 0x0F) | 0x40  # version 4
            elif j == 8:
                b = (b & 0x3F) | 0x80  # RFC 4122 variant
            if j == 4 or j == 6 or j == 8 or j == 10:
                out[k] = 45  # '-'
                k += 1
            out[k] = _HEX[b >> 4]
            out[k + 1] = _HEX[b & 15]
            k += 2
        ids.append(s)
    return ids


cdef inline Py_ssize_t _digits(uint64_t v) noexcept nogil:
    cdef Py_ssize_t n = 1
    while v >= 10:
        v //= 10
        n += 1
    return n


cdef inline Py_ssize_t _int_arg_size(int64_t v) noexcept nogil:
    """Digits (and sign) of ``v`` in decimal."""
    if v < 0:
        return 1 + _digits(<uint64_t>(-(v + 1)) + 1)
    return _digits(<uint64_t>v)


cdef inline char* _wdec(char* p, int64_t v) noexcept nogil:
    cdef uint64_t u
    cdef Py_ssize_t n
    if v < 0:
        p[0] = 45  # '-'
        p += 1
        u = <uint64_t>(-(v + 1)) + 1
    else:
        u = <uint64_t>v
    n = _digits(u)
    cdef char* end = p + n
    while n > 0:
        n -= 1
        p[n] = <char>(48 + u % 10)
        u //= 10
    return end


cdef inline Py_ssize_t _bulk_size(Py_ssize_t n) noexcept nogil:
    """``$<n>\\r\\n<n bytes>\\r\\n``"""
    return 1 + _digits(<uint64_t>n) + 2 + n + 2


cdef inline char* _wbulk_head(char* p, Py_ssize_t n) noexcept nogil:
    p[0] = 36  # '$'
    p = _wdec(p + 1, n)
    p[0] = 13
    p[1] = 10
    return p + 2


cdef inline char* _wcrlf(char* p) noexcept nogil:
    p[0] = 13
    p[1] = 10
    return p + 2


cdef inline char* _wraw_c(char* p, const char* s, Py_ssize_t n) noexcept nogil:
    memcpy(p, s, n)
    return p + n


cdef inline char* _wbulk(char* p, const char* s, Py_ssize_t n) noexcept nogil:
    return _wcrlf(_wraw_c(_wbulk_head(p, n), s, n))


cdef inline char* _wbulk_int(char* p, int64_t v) noexcept nogil:
    return _wcrlf(_wdec(_wbulk_head(p, _int_arg_size(v)), v))


cdef inline const char* _id_utf8(object task_id, Py_ssize_t* n) except NULL:
    if type(task_id) is not str:
        raise TypeError(f"task id must be str, not {type(task_id).__name__}")
    return _as_utf8(task_id, n)


def enqueue_request(bytes head, bytes key_prefix, bytes queue_keys, str task_id,
                    bytes encoded, int64_t now_ns, bytes tail):
    """The EVALSHA request of enqueue.lua for one task, as one bytes object.

    Args:
        head: ``*10``, ``EVALSHA``, the script's sha and ``3`` (keys), as RESP.
        key_prefix: the queue's task-key prefix (``asynq:{q}:t:``), raw.
        queue_keys: the queue's pending and wake keys, as RESP bulk strings.
        task_id: the task id (KEYS[1] is ``key_prefix + task_id``, ARGV[2] the id).
        encoded: the encoded TaskMessage (ARGV[1]).
        now_ns: unix nanoseconds (ARGV[3]).
        tail: the wake-token cap (ARGV[4]), as a RESP bulk string.
    """
    cdef Py_ssize_t nid, nprefix = PyBytes_GET_SIZE(key_prefix)
    cdef const char* idp = _id_utf8(task_id, &nid)
    cdef Py_ssize_t nenc = PyBytes_GET_SIZE(encoded)
    cdef Py_ssize_t size = (
        PyBytes_GET_SIZE(head) + _bulk_size(nprefix + nid) + PyBytes_GET_SIZE(queue_keys)
        + _bulk_size(nenc) + _bulk_size(nid) + _bulk_size(_int_arg_size(now_ns))
        + PyBytes_GET_SIZE(tail)
    )
    cdef bytes out = _new_bytes(size)
    cdef char* p = PyBytes_AS_STRING(out)
    p = _wraw_c(p, PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head))
    p = _wbulk_head(p, nprefix + nid)
    p = _wraw_c(p, PyBytes_AS_STRING(key_prefix), nprefix)
    p = _wcrlf(_wraw_c(p, idp, nid))
    p = _wraw_c(p, PyBytes_AS_STRING(queue_keys), PyBytes_GET_SIZE(queue_keys))
    p = _wbulk(p, PyBytes_AS_STRING(encoded), nenc)
    p = _wbulk(p, idp, nid)
    p = _wbulk_int(p, now_ns)
    p = _wraw_c(p, PyBytes_AS_STRING(tail), PyBytes_GET_SIZE(tail))
    _check_written(out, <unsigned char*>p)
    return out


def enqueue_batch_request(bytes sha, bytes key_prefix, bytes queue_keys, list ids,
                          list encoded, int64_t now_ns, int64_t wake_tokens):
    """The EVALSHA request of enqueue_batch.lua for tasks of one queue.

    Args:
        sha: the script's sha1 (hex).
        key_prefix: the queue's task-key prefix (``asynq:{q}:t:``), raw.
        queue_keys: the queue's pending and wake keys (KEYS[1], KEYS[2]), as RESP.
        ids: the task ids, in order (str).
        encoded: their encoded TaskMessages (bytes), in the same order.
        now_ns: unix nanoseconds (ARGV[1]).
        wake_tokens: the wake-token cap (ARGV[2]).
    """
    cdef Py_ssize_t n = len(ids), i, nid
    if len(encoded) != n:
        raise ValueError("ids and encoded differ in length")
    cdef Py_ssize_t nprefix = PyBytes_GET_SIZE(key_prefix), nsha = PyBytes_GET_SIZE(sha)
    cdef Py_ssize_t nargs = 3 + (2 + n) + 2 + 2 * n
    cdef Py_ssize_t size = (
        1 + _int_arg_size(nargs) + 2 + _bulk_size(7) + _bulk_size(nsha)
        + _bulk_size(_int_arg_size(2 + n)) + PyBytes_GET_SIZE(queue_keys)
        + _bulk_size(_int_arg_size(now_ns)) + _bulk_size(_int_arg_size(wake_tokens))
    )
    cdef object tid, enc
    for i in range(n):
        tid = ids[i]
        enc = encoded[i]
        if type(enc) is not bytes:
            raise TypeError(f"encoded message must be bytes, not {type(enc).__name__}")
        _id_utf8(tid, &nid)
        size += _bulk_size(nprefix + nid) + _bulk_size(nid) + _bulk_size(PyBytes_GET_SIZE(enc))
    cdef bytes out = _new_bytes(size)
    cdef char* p = PyBytes_AS_STRING(out)
    cdef const char* idp
    p[0] = 42  # '*'
    p = _wcrlf(_wdec(p + 1, nargs))
    p = _wbulk(p, b"EVALSHA", 7)
    p = _wbulk(p, PyBytes_AS_STRING(sha), nsha)
    p = _wbulk_int(p, 2 + n)
    p = _wraw_c(p, PyBytes_AS_STRING(queue_keys), PyBytes_GET_SIZE(queue_keys))
    for i in range(n):
        idp = _id_utf8(ids[i], &nid)
        p = _wbulk_head(p, nprefix + nid)
        p = _wraw_c(p, PyBytes_AS_STRING(key_prefix), nprefix)
        p = _wcrlf(_wraw_c(p, idp, nid))
    p = _wbulk_int(p, now_ns)
    p = _wbulk_int(p, wake_tokens)
    for i in range(n):
        enc = encoded[i]
        p = _wbulk(p, PyBytes_AS_STRING(enc), PyBytes_GET_SIZE(enc))
        idp = _id_utf8(ids[i], &nid)
        p = _wbulk(p, idp, nid)
    _check_written(out, <unsigned char*>p)
    return out
