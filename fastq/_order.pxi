# QueueOrder: the order in which a worker tries its queues on each fetch (included by _core.pyx).

import os as _os

from libc.stdlib cimport free, malloc

from fastq.errors import InvalidOptionError


cdef extern from "unistd.h":
    int getpid() nogil

cdef extern from *:
    """
    static inline uint64_t fastq_mulhi64(uint64_t a, uint64_t b) {
        return (uint64_t)(((unsigned __int128)a * b) >> 64);
    }
    """
    uint64_t fastq_mulhi64(uint64_t a, uint64_t b) nogil


cdef inline uint64_t _splitmix64(uint64_t* state) noexcept nogil:
    # splitmix64: tiny, fast and statistically fine for picking queues; not for secrets.
    state[0] += 0x9E3779B97F4A7C15ULL
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t _below(uint64_t* state, uint64_t n) noexcept nogil:
    """Uniform in [0, n) (Lemire's multiply-shift; the bias is < n / 2**64)."""
    return fastq_mulhi64(_splitmix64(state), n)


cdef uint64_t _gcd(uint64_t a, uint64_t b) noexcept nogil:
    while b:
        a, b = b, a % b
    return a


@cython.final
cdef class QueueOrder:
    """Weighted (or strict) order in which a worker tries its queues.

    Args:
        weights: queue name -> positive integer weight. Weights are divided by
            their GCD (6/4/2 behaves as 3/2/1, and Asynq shows them that way).
        strict: try queues in descending weight (ties by name) every time,
            instead of a weighted random order.
        seed: integer seed for reproducible orders (tests); by default the generator is
            seeded from ``os.urandom`` and reseeded in a forked child.
    """

    cdef tuple _names  # immutable: the C draw indexes it without bounds checks
    cdef tuple _weights
    cdef readonly bint strict
    cdef uint64_t* _w  # weights, aligned with self.queues
    cdef Py_ssize_t _n
    cdef uint64_t _total
    cdef uint64_t _state
    cdef bint _seeded  # an explicit seed: never reseed on fork
    cdef int _pid

    def __cinit__(self):
        self._w = NULL

    def __init__(self, weights, bint strict=False, seed=None):
        cdef uint64_t g = 0
        cdef Py_ssize_t i
        if self._w != NULL:  # the C arrays are sized once; a second __init__ could not keep them safe
            raise TypeError("QueueOrder is immutable: create a new one")
        items = list(weights.items())
        if not items:
            raise InvalidOptionError("queues", "at least one queue is required")
        for name, w in items:
            if type(name) is not str or not name:
                raise InvalidOptionError("queues", f"queue names must be non-empty str: {name!r}")
            if type(w) is not int or w <= 0 or w > 0xFFFFFFFF:
                raise InvalidOptionError("queues", f"weight of {name!r} must be a positive int: {w!r}")
            g = _gcd(g, <uint64_t>w)
        # Strict order once, here; the weighted draw starts from the same list.
        items.sort(key=lambda kv: (-kv[1], kv[0]))
        self._names = tuple([name for name, _ in items])
        self._weights = tuple([w // g for _, w in items])
        self.strict = strict
        self._n = len(items)
        self._w = <uint64_t*>malloc(self._n * sizeof(uint64_t))
        if self._w == NULL:
            raise MemoryError()
        self._total = 0
        for i in range(self._n):
            self._w[i] = self._weights[i]
            self._total += self._w[i]
        self._seeded = seed is not None
        self._pid = getpid()
        if seed is None:
            self._state = int.from_bytes(_os.urandom(8), "little")
        else:
            self._state = <uint64_t>(int(seed) & 0xFFFFFFFFFFFFFFFF)

    def __dealloc__(self):
        free(self._w)

    @property
    def queues(self):
        """Queue names, by descending weight then name."""
        return list(self._names)

    @property
    def weights(self):
        """Weights aligned with :attr:`queues`, divided by their GCD."""
        return list(self._weights)

    def order(self):
        """A fresh order for one fetch: strict, or a weighted draw without replacement."""
        if self.strict:
            return list(self._names)
        return self._draw()

    cdef list _draw(self):
        cdef Py_ssize_t n = self._n, i, k
        cdef uint64_t total = self._total, r, acc
        cdef uint64_t stack_buf[32]
        cdef uint64_t* w = &stack_buf[0]
        if n > 32:
            w = <uint64_t*>malloc(n * sizeof(uint64_t))
        cdef list out = []
        if w == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                w[i] = self._w[i]
            if not self._seeded and getpid() != self._pid:
                self._reseed()
            while total > 0:
                # Pick index i with probability w[i] / total, then take it out.
                r = _below(&self._state, total)
                acc = 0
                k = 0
                for i in range(n):
                    acc += w[i]
                    if r < acc:
                        k = i
                        break
                out.append(self._names[k])
                total -= w[k]
                w[k] = 0
        finally:
            if w != &stack_buf[0]:
                free(w)
        return out

    cdef int _reseed(self) except -1:
        # A forked child must not replay its parent's sequence.
        self._pid = getpid()
        self._state ^= int.from_bytes(_os.urandom(8), "little")
        return 0

    def __repr__(self):
        pairs = ", ".join(f"{q!r}: {w}" for q, w in zip(self._names, self._weights))
        return f"QueueOrder({{{pairs}}}, strict={bool(self.strict)})"
