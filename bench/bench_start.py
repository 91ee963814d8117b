"""fastq-worker start-up and memory at rest.

    python3 bench/bench_start.py [--runs 5] [--processes 2] [--compare CHECKOUT]
                                 [--debug-log FILE]

Starts its own redis-server. Each run enqueues one task, then starts
``fastq-worker fastq_peer:app --processes N`` (the supervisor and N workers, one
hosting the maintenance duties; with ``FASTQ_MAINTENANCE_IN=process`` also the
maintenance child) and reports:

- start to first task: from just before the command is started to the moment
  the handler of that task records its completion (handler clock);
- memory at rest, 2 s later: RSS and PSS of every process in the tree (psutil
  ``memory_full_info``) and their sums. PSS splits pages shared after the fork
  among their sharers, so the sum of PSS is the tree's real footprint.

Prints each run and the medians (and the fastest start: on a loaded machine
the least disturbed one). ``--compare`` names another fastq checkout (with
its ``_core`` built): each run then starts that one too, the two alternated, and
the medians of both are printed. ``--debug-log`` runs the supervisor with
``--log-level debug`` and appends its log to FILE, each line prefixed with its
time since the start (the timeline of a start).

``--bytecode`` runs each checkout with its bytecode cached (a private
``PYTHONPYCACHEPREFIX`` per checkout, filled by one uncounted start), as an
installed fastq runs: pip compiles a package's bytecode when it installs it.
Without it, a checkout that has no ``__pycache__`` (``PYTHONDONTWRITEBYTECODE=1``,
as on the machine these numbers come from) compiles each of fastq's modules
from source at every start.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil
import redis

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH / "peers"), str(BENCH), str(ROOT)]

from common import BOUNDS, numbered, peer_env, start_fastq_worker, wait_done  # noqa: E402

from fastq.devredis import RedisServer  # noqa: E402


def one(
    url: str,
    r: redis.Redis,
    processes: int,
    root: Path = ROOT,
    debug_log: Path | None = None,
    pycache: Path | None = None,
) -> tuple[float, list[tuple[str, int, int]]]:
    """(seconds to the first task, [(process title, RSS, PSS)]) for one start of the
    fastq checkout at ``root`` (bytecode cached under ``pycache`` if given)."""
    import fastq_peer

    r.flushdb()
    fastq_peer.PEER.open(url)
    fastq_peer.PEER.enqueue(numbered(1))
    fastq_peer.PEER.close()
    env = peer_env(url, root)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    t0 = time.time()
    sup = start_fastq_worker(
        url,
        root,
        *("--processes", str(processes), "--redis-url", url),
        *(["--log-level", "debug"] if debug_log else []),
        env=env,
        stderr=subprocess.PIPE if debug_log else subprocess.DEVNULL,
        text=True,
    )
    first = float("nan")
    try:
        wait_done(r, 1, 30, None)
        first = float(r.zscore(BOUNDS, "first") or 0) - t0
        time.sleep(2.0)
        top = psutil.Process(sup.pid)
        mem = []
        for p in [top, *top.children(recursive=True)]:
            info = p.memory_full_info()
            mem.append((" ".join(p.cmdline())[:60], info.rss, info.pss))
        return first, mem
    finally:
        sup.send_signal(signal.SIGTERM)
        err = sup.communicate(timeout=15)[1] if debug_log else sup.wait(15)
        if debug_log:
            with debug_log.open("a") as f:
                f.write(f"# {root}: first task at {first:.3f} s\n")
                for line in str(err).splitlines():
                    f.write(f"{since(line, t0)} {line}\n")


def since(line: str, t0: float) -> str:
    """``+0.213`` for a log line stamped 0.213 s after ``t0``; blanks otherwise."""
    try:
        stamp = datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))
    except ValueError:
        return " " * 6
    return f"+{stamp.timestamp() - t0:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--compare", type=Path, help="another fastq checkout, alternated with this one")
    ap.add_argument("--debug-log", type=Path, help="append the supervisor's debug log here")
    ap.add_argument(
        "--bytecode", action="store_true", help="cache each checkout's bytecode (see above)"
    )
    args = ap.parse_args()
    roots = {"this": ROOT}
    if args.compare:
        roots["compare"] = args.compare.resolve()
    server = RedisServer()
    server.start()
    os.environ["BENCH_REDIS_URL"] = server.url
    mb = 2**20
    cache_dir = tempfile.TemporaryDirectory(prefix="bench-start-pyc-")
    pycache = {name: Path(cache_dir.name) / name for name in roots} if args.bytecode else {}
    try:
        r = redis.Redis.from_url(server.url)
        for name, root in roots.items():
            if name in pycache:  # fills the cache; not counted
                one(server.url, r, args.processes, root, None, pycache[name])
        got: dict[str, dict[str, list[float]]] = {
            name: {"first": [], "rss": [], "pss": [], "top": []} for name in roots
        }
        for i in range(args.runs):
            for name, root in roots.items():
                first, mem = one(
                    server.url, r, args.processes, root, args.debug_log, pycache.get(name)
                )
                g = got[name]
                g["first"].append(first)
                g["rss"].append(sum(m[1] for m in mem) / mb)
                g["pss"].append(sum(m[2] for m in mem) / mb)
                g["top"].append(max(m[1] for m in mem[1:]) / mb if len(mem) > 1 else 0.0)
                procs = ", ".join(f"{m[1] / mb:.1f}/{m[2] / mb:.1f}" for m in mem)
                label = f" ({name})" if args.compare else ""
                print(
                    f"run {i + 1}{label}: first task {first:.3f} s; RSS {g['rss'][-1]:.0f} MB,"
                    f" PSS {g['pss'][-1]:.0f} MB over {len(mem)} processes (RSS/PSS MB: {procs})",
                    flush=True,
                )
        for name, root in roots.items():
            g = got[name]
            label = f" ({name}: {root})" if args.compare else ""
            print(
                f"median{label}: start to first task {statistics.median(g['first']):.3f} s"
                f" (fastest {min(g['first']):.3f} s);"
                f" tree RSS {statistics.median(g['rss']):.0f} MB,"
                f" PSS {statistics.median(g['pss']):.0f} MB;"
                f" largest child RSS {statistics.median(g['top']):.1f} MB"
            )
    finally:
        server.cleanup()
        cache_dir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
