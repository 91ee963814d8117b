"""The directory of prometheus_client's multiprocess mode, owned by the supervisor.

Each worker process writes its metrics to files named by its pid in
``PROMETHEUS_MULTIPROC_DIR``; the supervisor's ``/metrics`` sums them. The
supervisor creates the directory before the first fork and removes it on exit.

When a child dies its live gauges are dropped (``mark_process_dead``, as gunicorn
setups do) and its counter and histogram files are folded into one ``*_retired.db``
file per type, so totals never go down and the directory does not grow with every
restart. Folding and scraping both run on the supervisor's loop, so a scrape never
sees a half-folded file.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"
_FOLDED = ("counter", "histogram")


class MultiprocDir:
    """Creates the directory and points ``PROMETHEUS_MULTIPROC_DIR`` at it.

    Must run before prometheus_client is first imported in this process (it picks
    its value storage at import), so the forked children inherit the right mode.

    Args:
        parent: where to create it (default: the system temp directory).
    """

    def __init__(self, parent: str | None = None) -> None:
        if "prometheus_client" in sys.modules and os.environ.get(ENV) is None:
            raise RuntimeError("prometheus_client was imported before the multiprocess dir was set")
        self.path = tempfile.mkdtemp(prefix="fastq-metrics-", dir=parent)
        os.environ[ENV] = self.path

    def child_dead(self, pid: int) -> None:
        """Drop a dead child's live gauges and fold its counters into the retired files."""
        from prometheus_client.mmap_dict import MmapedDict
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid, self.path)
        for kind in _FOLDED:
            src = os.path.join(self.path, f"{kind}_{pid}.db")
            if not os.path.exists(src):
                continue
            values = MmapedDict.read_all_values_from_file(src)
            dst = MmapedDict(os.path.join(self.path, f"{kind}_retired.db"))
            try:
                for key, value, timestamp, _ in values:
                    old, _ts = dst.read_value(key)
                    dst.write_value(key, old + value, timestamp)
            finally:
                dst.close()
            os.remove(src)
        for name in os.listdir(self.path):  # gauges of other modes keep no meaning either
            if name.startswith("gauge_") and name.endswith(f"_{pid}.db"):
                os.remove(os.path.join(self.path, name))

    def close(self) -> None:
        """Remove the directory."""
        shutil.rmtree(self.path, ignore_errors=True)
        if os.environ.get(ENV) == self.path:
            del os.environ[ENV]
