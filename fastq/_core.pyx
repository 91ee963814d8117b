"""fastq's compiled hot path: the Asynq protobuf codec, the weighted queue order,
the lease table and the per-run metrics counts. The contract is fastq/_core.pyi; the pieces live in the .pxi files."""

include "_wire.pxi"
include "_composite.pxi"
include "_task.pxi"
include "_info.pxi"
include "_sched.pxi"
include "_order.pxi"
include "_leases.pxi"
include "_runstats.pxi"
include "_enqreq.pxi"
include "_slots.pxi"
