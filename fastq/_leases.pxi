# LeaseTable: the tasks a worker process holds and when each lease ends (included by _core.pyx).


@cython.final
@cython.freelist(64)
cdef class _Lease:
    cdef str queue
    cdef double deadline


@cython.final
cdef class LeaseTable:
    """task id -> (queue, lease deadline in unix seconds).

    The worker adds a task when it fetches it, extends leases in batches well before
    they end, and checks ``expired`` before acknowledging: a task whose lease ran out
    may already be recovered by another worker, so its result must not be written.
    """

    cdef dict _leases

    def __init__(self):
        self._leases = {}

    def __len__(self):
        return len(self._leases)

    def __contains__(self, task_id):
        return task_id in self._leases

    def add(self, str task_id, str queue, double deadline):
        """Track a task (or replace its entry).

        Args:
            task_id: the task's id.
            queue: the task's queue.
            deadline: lease end, unix seconds.
        """
        cdef _Lease lease = _Lease.__new__(_Lease)
        lease.queue = queue
        lease.deadline = deadline
        self._leases[task_id] = lease

    def remove(self, task_id):
        """Stop tracking a task; returns whether it was tracked.

        Args:
            task_id: the task's id.
        """
        return self._leases.pop(task_id, None) is not None

    def deadline(self, task_id):
        """Lease end of a task in unix seconds, or None when not tracked.

        Args:
            task_id: the task's id.
        """
        lease = self._leases.get(task_id)
        return None if lease is None else (<_Lease>lease).deadline

    def extend(self, task_ids, double deadline):
        """Set a new lease end for the tracked ones among ``task_ids`` (others are ignored).

        Args:
            task_ids: ids whose leases were extended in Redis.
            deadline: the new lease end, unix seconds.
        """
        cdef dict leases = self._leases
        for task_id in task_ids:
            lease = leases.get(task_id)
            if lease is not None:
                (<_Lease>lease).deadline = deadline

    def due_for_extension(self, double now, double margin):
        """Ids per queue whose lease ends within ``margin`` seconds of ``now``.

        Args:
            now: current unix time in seconds.
            margin: how far ahead to look, in seconds.
        """
        cdef double limit = now + margin
        cdef dict out = {}
        cdef _Lease lease
        for task_id, obj in self._leases.items():
            lease = <_Lease>obj
            if lease.deadline <= limit:
                ids = out.get(lease.queue)
                if ids is None:
                    out[lease.queue] = [task_id]
                else:
                    (<list>ids).append(task_id)
        return out

    def __repr__(self):
        return f"<LeaseTable: {len(self._leases)} leases>"
