"""One worker process (the engine): fetch -> run -> ack, leases, maintenance."""

from fastq._lazymeta import import_redis
from fastq._lazyrich import import_structlog

import_structlog()  # before any module of the package imports it: rich stays unloaded
import_redis()  # before fetcher imports it: importlib.metadata stays unloaded
