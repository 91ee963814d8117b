"""A standalone worker process with the metrics hooks on, for ``bench_worker.py --metrics``.

    PROMETHEUS_MULTIPROC_DIR=/tmp/x python3 bench/metrics_worker.py module:app

Same as ``python3 -m fastq.worker module:app`` (settings from FASTQ_* env),
plus ``fastq.metrics.worker.WorkerMetrics`` as the engine's hooks, which is what a
``fastq-worker --metrics-port N`` child runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastq.apploader import AppLoader
from fastq.metrics.worker import WorkerMetrics
from fastq.worker.process import run_worker
from fastq.worker.standalone import settings_from_env


def main() -> int:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        print("set PROMETHEUS_MULTIPROC_DIR", file=sys.stderr)
        return 2
    sys.path.insert(0, os.getcwd())
    hooks = WorkerMetrics()
    maintenance = os.environ.get("FASTQ_MAINTENANCE", "1") != "0"
    try:
        return run_worker(
            AppLoader(sys.argv[1]).load(), settings_from_env(), maintenance=maintenance, hooks=hooks
        )
    finally:
        hooks.publish()


if __name__ == "__main__":
    sys.exit(main())
