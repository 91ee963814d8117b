"""A fastq.App whose handler forks a process that would outlive everything."""

from __future__ import annotations

import os
import time

import redis

from fastq.app import App, Context, IncomingTask

app = App()

FORKED_KEY = "test:forked"


@app.task("fork_sleeper")
def fork_sleeper(task: IncomingTask, ctx: Context) -> None:
    """Fork a process that sleeps for ten minutes, record its pid, return at once."""
    pid = os.fork()
    if pid == 0:  # the forked process: no Redis, no cleanup, just outlive everyone
        time.sleep(600)
        os._exit(0)
    client = redis.Redis.from_url(os.environ["FASTQ_REDIS_URL"])
    client.rpush(FORKED_KEY, pid)
    client.close()
