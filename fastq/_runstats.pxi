# RunStats: per-task run statistics counted on the hot path (included by _core.pyx).
#
# The worker's metrics hook (fastq.metrics.worker) calls ``RunStats.finished`` once per
# finished task. It buckets the handler duration and the pickup latency into C arrays
# and counts successes; a failure is handed to a Python callback (rare, needs the
# error's class). Publishing to prometheus_client happens elsewhere, once a second.

from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

cdef enum:
    MAX_BOUNDS = 31


@cython.final
cdef class RunSeries:
    """Unpublished counts of one (queue, task type); ``take_*`` read and reset them."""

    cdef long long _duration[MAX_BOUNDS + 1]
    cdef long long _pickup[MAX_BOUNDS + 1]
    cdef int _nd, _np
    cdef public double duration_sum
    cdef public double pickup_sum
    cdef public long long succeeded
    cdef public long long runs_total
    cdef public dict runs
    cdef public dict failures

    def __init__(self, int nd, int np):
        self._nd = nd
        self._np = np
        self.runs = {}
        self.failures = {}

    def take_duration(self):
        """Bucket counts of the durations (last: above every bound), then zero them."""
        out = [self._duration[i] for i in range(self._nd + 1)]
        for i in range(self._nd + 1):
            self._duration[i] = 0
        return out

    def take_pickup(self):
        """Bucket counts of the pickup latencies, then zero them."""
        out = [self._pickup[i] for i in range(self._np + 1)]
        for i in range(self._np + 1):
            self._pickup[i] = 0
        return out


cdef inline int _bucket(double *bounds, int n, double value) noexcept:
    # Prometheus buckets are "value <= bound": the first bound not below value.
    cdef int i = 0
    while i < n and value > bounds[i]:
        i += 1
    return i


@cython.final
cdef class RunStats:
    """Run counts per (queue, task type), filled by ``finished`` on the hot path.

    Args:
        duration_bounds: upper bounds of the duration buckets (ascending, at most 31).
        pickup_bounds: upper bounds of the pickup latency buckets.
        on_failure: called as ``on_failure(running, exc, series)`` for a failed run.
        max_series: (queue, task type) pairs kept; later task types count as ``overflow``.
        overflow: the task type label of the pairs past ``max_series``.
    """

    cdef double _dbounds[MAX_BOUNDS]
    cdef double _pbounds[MAX_BOUNDS]
    cdef int _nd, _np, _count
    cdef public dict series  # queue -> {task type -> RunSeries}
    cdef public int max_series
    cdef str _overflow
    cdef object _on_failure

    def __init__(self, duration_bounds, pickup_bounds, on_failure, int max_series=1000,
                 str overflow="other"):
        if len(duration_bounds) > MAX_BOUNDS or len(pickup_bounds) > MAX_BOUNDS:
            raise ValueError(f"at most {MAX_BOUNDS} bucket bounds")
        self._nd = len(duration_bounds)
        self._np = len(pickup_bounds)
        for i, b in enumerate(duration_bounds):
            self._dbounds[i] = b
        for i, b in enumerate(pickup_bounds):
            self._pbounds[i] = b
        self._on_failure = on_failure
        self.max_series = max_series
        self._overflow = overflow
        self.series = {}
        self._count = 0

    cdef RunSeries _get(self, str queue, str task_type):
        cdef dict by_type = <dict>self.series.get(queue)
        if by_type is None:
            by_type = {}
            self.series[queue] = by_type
        cdef object s = by_type.get(task_type)
        if s is not None:
            return <RunSeries>s
        if self._count >= self.max_series:
            task_type = self._overflow
            s = by_type.get(task_type)
            if s is not None:
                return <RunSeries>s
        s = RunSeries(self._nd, self._np)
        by_type[task_type] = s
        self._count += 1
        return <RunSeries>s

    def finished(self, running, exc):
        """Count a finished run: ``running.started`` (unix s) to now, and
        ``running.pending_since`` (unix ns, 0: unknown) to ``running.started``."""
        cdef timespec ts
        clock_gettime(CLOCK_REALTIME, &ts)
        cdef double now = ts.tv_sec + ts.tv_nsec * 1e-9
        cdef RunSeries s = self._get(running.queue, running.msg.type)
        cdef double started = running.started
        cdef double took = now - started
        if took < 0:
            took = 0
        s._duration[_bucket(self._dbounds, self._nd, took)] += 1
        s.duration_sum += took
        cdef long long since = running.pending_since
        cdef double wait
        if since:
            wait = started - since * 1e-9
            if wait < 0:
                wait = 0
            s._pickup[_bucket(self._pbounds, self._np, wait)] += 1
            s.pickup_sum += wait
        s.runs_total += 1
        if exc is None:
            s.succeeded += 1
        else:
            self._on_failure(running, exc, s)
