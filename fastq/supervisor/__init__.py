"""The ``fastq-worker`` daemon: a prefork supervisor around the worker engine."""

from fastq._lazyrich import import_structlog

import_structlog()  # before any module of the package imports it: rich stays unloaded
