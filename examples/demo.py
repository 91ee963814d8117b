"""One command to see fastq run: `make demo` (or `python3 examples/demo.py`).

Starts a private redis-server when FASTQ_REDIS_URL is not set, a real fastq-worker
(2 processes) on the demo app, and a producer that enqueues a mixed workload over
four weighted queues, with the dashboard (`fastq dash`) beside them at
http://127.0.0.1:8085/. Prints queue stats every two seconds; Ctrl-C stops all of it
(the worker drains gracefully).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fastq  # noqa: E402
from fastq.config import redact_url  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402

QUEUES = "critical=6,high=4,default=2,low=1"
WORKLOAD = [  # (type, queue, share)
    ("payment:process", "critical", 0.2),
    ("inventory:update", "high", 0.3),
    ("email:confirmation", "default", 0.3),
    ("analytics:track", "low", 0.2),
]


def enqueue_burst(client: fastq.Client, n: int, seq: int) -> int:
    tasks = []
    shares = [share for _, _, share in WORKLOAD]
    for i in range(n):
        task_type, queue, _ = random.choices(WORKLOAD, weights=shares)[0]
        body = {"order_id": f"ORD-{seq + i}", "bad": random.random() < 0.02}
        opts: dict[str, object] = {"queue": queue, "max_retry": 3, "retention": 600}
        if random.random() < 0.1:
            opts["process_in"] = random.randint(2, 20)
        tasks.append(fastq.Task.json(task_type, body, **opts))  # type: ignore[arg-type]
    client.enqueue_many(tasks)
    return seq + n


def print_stats(inspector: fastq.Inspector) -> None:
    rows = []
    for q in sorted(inspector.queues()):
        info = inspector.queue_info(q)
        rows.append(
            f"{q:<9} pending {info.pending:>6}  active {info.active:>4}  "
            f"scheduled {info.scheduled:>5}  retry {info.retry:>4}  archived {info.archived:>4}  "
            f"completed {info.completed:>6}  processed today {info.processed:>7}"
        )
    print("\n".join(rows) + "\n", flush=True)


def produce_forever(url: str | None, rate: int) -> int:
    seq = 0
    with fastq.Client(url) as client:
        while True:
            try:
                seq = enqueue_burst(client, max(1, rate // 10), seq)
            except fastq.BrokerConnectionError as exc:
                print(f"{exc}; retrying in 1 s", flush=True)
                time.sleep(1)
            time.sleep(0.1)


def start_dash(env: dict[str, str], port: int) -> subprocess.Popen[bytes] | None:
    """The dashboard beside the worker (needs the `dash` extra, which `make demo` installs)."""
    if not port:
        return None
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastq.dash", "--port", str(port), "--interval", "1"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    print(f"dashboard: http://127.0.0.1:{port}/ (pid {proc.pid})")
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--duration", type=float, default=0, help="seconds to run (0: until Ctrl-C)"
    )
    parser.add_argument("--rate", type=int, default=200, help="tasks enqueued per second")
    parser.add_argument(
        "--producer-only",
        action="store_true",
        help="only enqueue the workload into FASTQ_REDIS_URL (workers run elsewhere)",
    )
    parser.add_argument(
        "--dash-port", type=int, default=8085, help="dashboard port (0: no dashboard)"
    )
    args = parser.parse_args()
    if args.producer_only:
        return produce_forever(os.environ.get("FASTQ_REDIS_URL"), args.rate)

    server = None
    url = os.environ.get("FASTQ_REDIS_URL")
    if not url:
        server = RedisServer()
        server.start()
        url = server.url
        print(f"started a private redis-server on {url}")
    else:
        print(f"using Redis at {redact_url(url)}")

    env = dict(os.environ, FASTQ_REDIS_URL=url, PYTHONPATH=str(ROOT))
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fastq.supervisor",
            "examples.demo_app:app",
            "--processes",
            "2",
            "--concurrency",
            "20",
            "--queues",
            QUEUES,
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,  # only the demo signals it: one graceful SIGTERM
    )
    print(f"started fastq-worker (pid {worker.pid}); Ctrl-C to stop")
    dash = start_dash(env, args.dash_port)
    print()
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    seq = 0
    try:
        with fastq.Client(url) as client:
            inspector = fastq.Inspector(url)
            last_print = 0.0
            while not stop and worker.poll() is None:
                seq = enqueue_burst(client, max(1, args.rate // 10), seq)
                time.sleep(0.1)
                now = time.monotonic()
                if now - last_print >= 2:
                    print_stats(inspector)
                    last_print = now
                if args.duration and now - started >= args.duration:
                    break
    finally:
        if dash is not None and dash.poll() is None:
            dash.terminate()
            dash.wait(10)
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)  # graceful drain
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if server is not None:
            server.cleanup()
    print(f"enqueued {seq} tasks; worker exited with {worker.returncode}")
    return 0 if worker.returncode in (0, None) else 1


if __name__ == "__main__":
    sys.exit(main())
