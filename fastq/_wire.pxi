# Protobuf wire-format primitives shared by every message codec (included by _core.pyx).
#
# The reference is the official `protobuf` runtime (upb backend); where the wire
# format leaves a choice, these helpers do what upb does, so the tests can compare
# byte for byte:
#   * tags are varints of at most 5 bytes whose value must fit 32 bits, field 0 is invalid
#     (except inside an unknown group);
#   * a varint's 10th byte may carry extra high bits (ignored), an 11th byte is an error;
#   * unknown groups (wire type 3) are skipped to their matching end tag, nested up
#     to _MAX_DEPTH deep; a stray or mismatched end tag (4) and wire types 6/7 are errors.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy


cdef extern from "Python.h":
    # Returns the str's cached UTF-8 form: no copy for ASCII, no allocation after the first call.
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    # ASCII str objects hold their bytes inline: read them without a function call.
    bint PyUnicode_IS_COMPACT_ASCII(object s)
    object PyUnicode_New(Py_ssize_t size, unsigned int maxchar)
    void* PyUnicode_DATA(object s)
    Py_ssize_t PyUnicode_GET_LENGTH(object s)
    Py_ssize_t _raw_len "PyUnicode_GET_LENGTH" (PyObject* s)
    void* _raw_data "PyUnicode_DATA" (PyObject* s)


from fastq.errors import DecodeError

ctypedef const unsigned char* cbuf

cdef enum:
    # upb's default recursion limit: 100 nested groups/messages below the top level.
    _MAX_DEPTH = 100

cdef enum WireType:
    WT_VARINT = 0
    WT_I64 = 1
    WT_LEN = 2
    WT_SGROUP = 3
    WT_EGROUP = 4
    WT_I32 = 5


cdef int _fail(str why) except -1:
    raise DecodeError(why)


# ---------------------------------------------------------------- reading

cdef inline int _rvarint(cbuf* pp, cbuf end, uint64_t* out) except -1:
    cdef cbuf p = pp[0]
    cdef uint64_t v = 0
    cdef unsigned int shift = 0
    cdef unsigned char b
    if p < end and p[0] < 0x80:  # one-byte fast path: most tags, small ints, short lengths
        out[0] = p[0]
        pp[0] = p + 1
        return 0
    while True:
        if p >= end:
            _fail("truncated varint")
        b = p[0]
        p += 1
        v |= (<uint64_t>(b & 0x7F)) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            _fail("varint longer than 10 bytes")
    out[0] = v
    pp[0] = p
    return 0


cdef inline int _rtag(cbuf* pp, cbuf end, uint32_t* out, bint in_group=False) except -1:
    cdef cbuf p = pp[0]
    cdef uint64_t v = 0
    cdef unsigned int shift = 0
    cdef unsigned char b
    if p < end and p[0] < 0x80:
        v = p[0]
        p += 1
    else:
        while True:  # like upb: a tag ends within 5 bytes
            if p >= end:
                _fail("truncated field tag")
            b = p[0]
            p += 1
            v |= (<uint64_t>(b & 0x7F)) << shift
            if b < 0x80:
                break
            shift += 7
            if shift > 28:
                _fail("field tag longer than 5 bytes")
    # upb lets field number 0 pass inside a skipped group, nowhere else.
    if v > 0xFFFFFFFFu or ((v >> 3) == 0 and not in_group):
        _fail("invalid field tag")
    out[0] = <uint32_t>v
    pp[0] = p
    return 0


cdef inline int _rlen(cbuf* pp, cbuf end, Py_ssize_t* out) except -1:
    cdef uint64_t v
    _rvarint(pp, end, &v)
    if v > <uint64_t>(end - pp[0]):
        _fail("length runs past the end of the data")
    out[0] = <Py_ssize_t>v
    return 0


cdef inline bint _is_ascii(cbuf p, Py_ssize_t n) noexcept nogil:
    cdef uint64_t acc = 0, word
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        memcpy(&word, p + i, 8)
        acc |= word
        i += 8
    while i < n:
        acc |= p[i]
        i += 1
    return (acc & 0x8080808080808080ULL) == 0


cdef inline str _utf8_str(cbuf p, Py_ssize_t n):
    cdef str s
    if _is_ascii(p, n):
        # Most protocol strings (ids, types, queues) are ASCII: build the str directly.
        s = PyUnicode_New(n, 127)
        memcpy(PyUnicode_DATA(s), p, n)
        return s
    try:
        return PyUnicode_DecodeUTF8(<const char*>p, n, NULL)
    except UnicodeDecodeError:
        # proto3 string fields must be valid UTF-8; upb refuses them too.
        raise DecodeError("string field is not valid UTF-8") from None


cdef inline str _rstr(cbuf* pp, cbuf end):
    cdef Py_ssize_t n
    _rlen(pp, end, &n)
    cdef cbuf p = pp[0]
    pp[0] = p + n
    if n == 0:
        return ""
    return _utf8_str(p, n)


# A worker decodes the same few task types and queue names over and over: a tiny
# direct-mapped cache of ASCII str objects turns those into a hash and a memcmp
# instead of a new str each time. Entries are always verified byte for byte.
cdef enum:
    _CACHE_BITS = 6
    _CACHE_MAX_LEN = 64
cdef PyObject* _str_cache[1 << _CACHE_BITS]


cdef inline str _rstr_cached(cbuf* pp, cbuf end):
    cdef Py_ssize_t n
    _rlen(pp, end, &n)
    cdef cbuf p = pp[0]
    pp[0] = p + n
    if n == 0:
        return ""
    if n > _CACHE_MAX_LEN:
        return _utf8_str(p, n)
    cdef uint32_t h = (<uint32_t>n) ^ p[0] ^ (<uint32_t>p[n - 1] << 8) ^ (<uint32_t>p[n >> 1] << 16)
    h = (h * 2654435761u) >> (32 - _CACHE_BITS)
    cdef PyObject* hit = _str_cache[h]
    if hit != NULL and _raw_len(hit) == n and memcmp(_raw_data(hit), p, n) == 0:
        return <str>hit
    cdef str s = _utf8_str(p, n)
    if PyUnicode_IS_COMPACT_ASCII(s):  # then its data is exactly the UTF-8 bytes compared above
        Py_INCREF(s)
        Py_XDECREF(hit)
        _str_cache[h] = <PyObject*>s
    return s


cdef inline bytes _as_bytes(object data):
    """The bytes to decode: bytes as is, other buffers copied; anything else is a TypeError."""
    if type(data) is bytes:
        return <bytes>data
    return bytes(memoryview(data))


cdef inline bytes _rbytes(cbuf* pp, cbuf end):
    cdef Py_ssize_t n
    _rlen(pp, end, &n)
    cdef cbuf p = pp[0]
    pp[0] = p + n
    if n == 0:
        return b""
    return PyBytes_FromStringAndSize(<const char*>p, n)


cdef int _skip(cbuf* pp, cbuf end, uint32_t tag, int depth) except -1:
    """Move past one field we do not decode (unknown, or a known number with a foreign wire type)."""
    cdef uint32_t wt = tag & 7
    cdef uint32_t inner
    cdef uint64_t v
    cdef Py_ssize_t n
    if wt == WT_VARINT:
        _rvarint(pp, end, &v)
    elif wt == WT_I64 or wt == WT_I32:
        n = 8 if wt == WT_I64 else 4
        if end - pp[0] < n:
            _fail("truncated fixed-width field")
        pp[0] += n
    elif wt == WT_LEN:
        _rlen(pp, end, &n)
        pp[0] += n
    elif wt == WT_SGROUP:
        if depth <= 0:
            _fail("groups nested too deeply")
        while True:
            if pp[0] >= end:
                _fail("unterminated group")
            _rtag(pp, end, &inner, True)
            if (inner & 7) == WT_EGROUP:
                if (inner >> 3) != (tag >> 3):
                    _fail("mismatched end-group tag")
                break
            _skip(pp, end, inner, depth - 1)
    else:
        _fail("invalid wire type")
    return 0


cdef inline list _keep(list unk, cbuf start, cbuf stop):
    """Append the raw bytes of one unknown field; the list is created on first use."""
    if unk is None:
        unk = []
    unk.append(PyBytes_FromStringAndSize(<const char*>start, stop - start))
    return unk


cdef inline bytes _joined(list unk):
    return b"".join(unk) if unk is not None else b""


# ---------------------------------------------------------------- writing

cdef inline const char* _as_utf8(object s, Py_ssize_t* n) except NULL:
    """UTF-8 bytes of an exact str (the caller checked the type)."""
    if PyUnicode_IS_COMPACT_ASCII(s):
        n[0] = PyUnicode_GET_LENGTH(s)
        return <const char*>PyUnicode_DATA(s)
    return PyUnicode_AsUTF8AndSize(s, n)


cdef inline Py_ssize_t _vsize(uint64_t v) noexcept nogil:
    cdef Py_ssize_t n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


cdef inline unsigned char* _wvarint(unsigned char* p, uint64_t v) noexcept nogil:
    while v >= 0x80:
        p[0] = <unsigned char>(v | 0x80)
        p += 1
        v >>= 7
    p[0] = <unsigned char>v
    return p + 1


cdef inline unsigned char* _wlen(unsigned char* p, unsigned char tag, const char* s,
                                 Py_ssize_t n) noexcept nogil:
    p[0] = tag
    p = _wvarint(p + 1, <uint64_t>n)
    memcpy(p, s, n)
    return p + n


cdef inline const char* _utf8(object s, str field, Py_ssize_t* n) except NULL:
    if type(s) is not str:
        raise TypeError(f"{field} must be str, not {type(s).__name__}")
    return _as_utf8(s, n)


cdef inline Py_ssize_t _len_field_size(Py_ssize_t n) noexcept nogil:
    """Size of a length-delimited field with a one-byte tag, omitted when empty (proto3)."""
    return 0 if n == 0 else 1 + _vsize(<uint64_t>n) + n


cdef inline Py_ssize_t _str_size(object s, str field) except -1:
    cdef Py_ssize_t n
    _utf8(s, field, &n)
    return _len_field_size(n)


cdef inline unsigned char* _wstr(unsigned char* p, unsigned char tag, object s) except NULL:
    """Write a str field (size already validated by _str_size), nothing when empty."""
    cdef Py_ssize_t n
    cdef const char* c = _as_utf8(s, &n)
    if n == 0:
        return p
    return _wlen(p, tag, c, n)


cdef inline Py_ssize_t _bytes_size(object b, str field) except -1:
    if type(b) is not bytes:
        raise TypeError(f"{field} must be bytes, not {type(b).__name__}")
    return _len_field_size(PyBytes_GET_SIZE(b))


cdef inline Py_ssize_t _raw_size(object b) except -1:
    """Size of the raw unknown-fields blob, written as is after the known fields."""
    if type(b) is not bytes:
        raise TypeError(f"unknown must be bytes, not {type(b).__name__}")
    return PyBytes_GET_SIZE(b)


cdef inline unsigned char* _wbytes(unsigned char* p, unsigned char tag, bytes b) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(b)
    if n == 0:
        return p
    return _wlen(p, tag, PyBytes_AS_STRING(b), n)


cdef inline Py_ssize_t _int_size(int64_t v) noexcept nogil:
    """Size of a varint field (int32 and int64 alike: negatives take 10 bytes), omitted when 0."""
    return 0 if v == 0 else 1 + _vsize(<uint64_t>v)


cdef inline unsigned char* _wint(unsigned char* p, unsigned char tag, int64_t v) noexcept nogil:
    if v == 0:
        return p
    p[0] = tag
    return _wvarint(p + 1, <uint64_t>v)


cdef inline bytes _new_bytes(Py_ssize_t n):
    return PyBytes_FromStringAndSize(NULL, n)


cdef inline int _check_written(bytes out, unsigned char* end) except -1:
    # A size/write mismatch would mean a codec bug; never hand out a half-written buffer.
    if <char*>end != PyBytes_AS_STRING(out) + PyBytes_GET_SIZE(out):
        raise AssertionError("fastq._core: encoded size mismatch")
    return 0
