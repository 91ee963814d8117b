"""Flow control and waiting for results, end to end (see docs/flow-control.md).

    python3 examples/flow.py

starts a private redis-server and a fastq-worker on ``examples.flow_app:app`` with
``--queue-limits stripe=5 --rate-limits stripe=50/s``, then enqueues charges, per-user
syncs, rate-limited mails and two tasks whose results it waits for, and checks what
the handlers did. Against your own Redis, start the worker as ``flow_app.py`` says,
then run this with ``--redis-url``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fastq  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402


def produce(url: str) -> None:
    with fastq.Client(url) as client:
        # 100 charges on the capped, rate-limited "stripe" queue.
        client.enqueue_many([fastq.Task("charge") for _ in range(100)], queue="stripe")
        # 30 syncs over 3 users: one sync per user at a time.
        syncs = [fastq.Task.json("sync:user", {"user_id": n % 3}) for n in range(30)]
        client.enqueue_many(syncs)
        client.enqueue_many([fastq.Task("email:send") for _ in range(25)])

        # Wait for a result: enqueue with result=True, then block until it is final.
        info = client.enqueue(fastq.Task.json("report:sum", {"numbers": [1, 2, 3]}), result=True)
        done = client.wait(info, timeout=30)
        print(f"report:sum {done.state.value}: {json.loads(done.result or b'{}')}")

        # RetryAfter: retried a second later without counting a failure.
        info = client.enqueue(fastq.Task("upstream:poll"), result=True)
        done = client.wait(info, timeout=30)
        print(f"upstream:poll {done.state.value} with retried={done.retried}: {done.result!r}")

        try:
            client.wait("no-such-task", timeout=1)
        except fastq.WaitError as exc:
            print(f"clear error: {exc}")


def start_worker(url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, FASTQ_REDIS_URL=url, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "fastq.supervisor", "examples.flow_app:app"]
    argv += ["--processes", "2", "--queues", "stripe,default"]
    argv += ["--queue-limits", "stripe=5", "--rate-limits", "stripe=50/s"]
    return subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)


def wait_drained(url: str, timeout: float) -> int:
    with fastq.Inspector(url) as inspector:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = inspector.all_queue_info()
            if not any(i.pending or i.active or i.scheduled or i.retry for i in infos):
                return sum(i.processed for i in infos)
            time.sleep(0.2)
    raise SystemExit("the tasks did not drain in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("FASTQ_REDIS_URL"))
    args = parser.parse_args()
    if args.redis_url is not None:
        produce(args.redis_url)
        return 0
    server = RedisServer()
    server.start()
    worker = start_worker(server.url)
    try:
        produce(server.url)
        print(f"processed {wait_drained(server.url, 60)} tasks")
        return 0
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.cleanup()


if __name__ == "__main__":
    sys.exit(main())
