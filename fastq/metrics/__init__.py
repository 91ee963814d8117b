"""Prometheus metrics, health endpoints and tracing for fastq.

- Queue metrics (the Redis view): ``asgi_app`` / ``wsgi_app`` to mount at
  ``/metrics``, or ``fastq metrics --port 9812`` standalone (``fastq.metrics.exporter``).
- Worker metrics (the process view): ``fastq-worker --metrics-port N``
  (``fastq.metrics.worker``, ``fastq.metrics.multiproc``, ``fastq.metrics.server``).
- Tracing: ``pip install fastq-asynq[otel]`` (``fastq.metrics.tracing``).

Names are imported lazily: prometheus_client picks its multiprocess mode when it is
first imported, so importing this package must not import it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["asgi_app", "queue_registry", "serve", "wsgi_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from fastq.metrics import exporter

        return getattr(exporter, name)
    raise AttributeError(f"module 'fastq.metrics' has no attribute {name!r}")
