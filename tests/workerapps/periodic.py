"""An app with one ``@every 1s`` periodic entry, for the scheduler fleet test."""

from __future__ import annotations

from fastq import App, Context, IncomingTask

app = App()


@app.periodic("@every 1s", type="fleet:tick", queue="fleet")
def tick(task: IncomingTask, ctx: Context) -> None:
    """Never run in the fleet test: it only counts what the schedulers enqueue."""
