"""An app whose one task appends its id to $FASTQ_RECORD_FILE (failover tests count
lost and duplicate runs from it)."""

from __future__ import annotations

import os

from fastq.app import App, Context, IncomingTask

app = App()


@app.task("record")
def record(task: IncomingTask, ctx: Context) -> None:
    # One O_APPEND write per run: lines of concurrent runs never interleave.
    fd = os.open(os.environ["FASTQ_RECORD_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, task.id.encode() + b"\n")
    finally:
        os.close(fd)
