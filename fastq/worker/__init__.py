"""One worker process (the engine): fetch -> run -> ack, leases, maintenance."""

from fastq._lazyrich import import_structlog

import_structlog()  # before any module of the package imports it: rich stays unloaded
