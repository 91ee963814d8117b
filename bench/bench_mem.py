"""Memory of each process of a ``fastq-worker`` tree, at rest and after a drain.

    python3 bench/bench_mem.py [--runs 3] [--drain 20000] [--compare CHECKOUT] [--floor]

Starts its own redis-server. Each run starts ``fastq-worker fastq_peer:app
--processes 2 --concurrency 50`` (the bench's command), waits for its first task
and 2 s more ("rest"), then enqueues ``--drain`` tasks, waits for the last one and
1 s more ("drained"). For each process (supervisor, worker 1, worker 2, and the
maintenance process with ``FASTQ_MAINTENANCE_IN=process``) it reads
``/proc/PID/smaps_rollup``: RSS, USS (private pages), PSS (shared pages split among
their sharers) and PSS split into anonymous and file-backed pages. Prints each run
and the median of each figure per process.

``--floor`` first measures what a process costs before fastq's code, with the
same interpreter: ``python -c pass``, one that imports asyncio, and the cheapest
process that could do a worker's job (imports asyncio and redis.asyncio, pings
Redis and waits in BLPOP).
``--pages`` classifies each child's resident writable pages against the
supervisor's (``/proc/PID/pagemap``, needs root): still shared with the
supervisor, copied (a write on either side since the fork: reference counts,
3.11's specialised bytecode, allocations into partly used pages), or new.
``--imports`` prints how a process grows, step by step, as it imports what the
supervisor holds at its first fork (RSS and anonymous memory after each step).
``--compare`` names another fastq checkout (its ``_core`` built), alternated with
this one. fastq's bytecode is compiled first, as ``bench/run.py`` does.
"""

from __future__ import annotations

import argparse
import compileall
import os
import signal
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH / "peers"), str(BENCH), str(ROOT)]

from common import QUEUES, numbered, start_fastq_worker, wait_done  # noqa: E402

from fastq.devredis import RedisServer  # noqa: E402

FIELDS = ("Rss", "USS", "Pss", "Pss_Anon", "Pss_File")
FLOOR = {
    "python -c pass": "import sys, time; time.sleep(60)",
    "import asyncio": "import asyncio, sys, time; time.sleep(60)",
    "asyncio + redis.asyncio, BLPOP loop": """
import asyncio, sys
import redis.asyncio as aredis
async def main(url):
    r = aredis.Redis.from_url(url)
    await r.ping()
    while True:
        await r.blpop(["bench:floor"], timeout=1)
asyncio.run(main(sys.argv[1]))
""",
}
PAGE = 4096
# What the supervisor imports before its first fork, in the order that shows each
# part's own cost (fastq's imports go through fastq._lazyrich first, as in fastq).
IMPORT_STEPS = [
    ("interpreter", ""),
    (
        "stdlib basics",
        "typing,re,dataclasses,enum,inspect,logging,threading,subprocess,socket,json",
    ),
    ("ssl", "ssl"),
    ("asyncio", "asyncio"),
    ("importlib.metadata (redis.utils)", "importlib.metadata"),
    ("redis-py", "redis,redis.asyncio"),
    ("uvloop", "uvloop"),
    ("fastq, structlog", "fastq,fastq.supervisor"),
    ("click", "click"),
    ("fastq CLI, options, supervisor", "fastq.supervisor.cli"),
    ("fastq engine, client", "fastq.client,fastq.worker.process,fastq.supervisor.runtime"),
    ("the bench's helpers (statistics, decimal)", "common"),
    ("the bench's app module", "fastq_peer"),
]
STEPS_CODE = """
import ctypes, importlib, sys
def roll():
    f = {}
    for line in open("/proc/self/smaps_rollup"):
        p = line.split()
        if len(p) == 3 and p[2] == "kB":
            f[p[0].rstrip(":")] = int(p[1]) / 1024
    return f
prev = None
for arg in sys.argv[1:]:
    label, _, mods = arg.partition("=")
    for m in filter(None, mods.split(",")):
        importlib.import_module(m)
    if label == "malloc_trim":
        ctypes.CDLL(None).malloc_trim(0)
    cur = roll()
    d = "" if prev is None else f" (+{cur['Rss'] - prev['Rss']:.1f})"
    print(f"  {label:34s} RSS {cur['Rss']:5.1f}{d:8s} anon {cur['Anonymous']:5.1f}"
          f"  modules {len(sys.modules)}")
    prev = cur
"""

Mem = dict[str, float]  # field -> MB


def rollup(pid: int) -> Mem:
    """One process's ``/proc/PID/smaps_rollup`` in MB, with USS added."""
    f: Mem = {}
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                f[parts[0].rstrip(":")] = int(parts[1]) / 1024
    f["USS"] = f.get("Private_Clean", 0.0) + f.get("Private_Dirty", 0.0)
    return f


def role(proc: psutil.Process) -> str:
    """``supervisor``, ``worker 1``, ... from the process title fastq sets."""
    title = " ".join(proc.cmdline())
    if "supervisor" in title:
        return "supervisor"
    if title.startswith("fastq-worker: maintenance"):  # its own process
        return "maintenance"
    if "worker " in title:  # "worker 1 +maintenance" hosts the duties
        name = "worker " + title.split("worker ", 1)[1].split()[0]
        return name + " +maintenance" if "+maintenance" in title else name
    return title[:30]


def tree(pid: int) -> dict[str, Mem]:
    top = psutil.Process(pid)
    return {role(p): rollup(p.pid) for p in [top, *top.children(recursive=True)]}


def frames(pid: int) -> dict[int, int]:
    """Virtual address -> physical frame of each resident page of ``pid``'s
    writable mappings (anonymous memory, heap, the data of its libraries)."""
    out: dict[int, int] = {}
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pm:
        for line in maps:
            parts = line.split()
            if "w" not in parts[1] or line.rstrip().endswith("[vsyscall]"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            pm.seek(lo // PAGE * 8)
            data = pm.read((hi - lo) // PAGE * 8)
            for i, (entry,) in enumerate(struct.iter_unpack("<Q", data)):
                if entry >> 63:  # present
                    out[lo + i * PAGE] = entry & ((1 << 55) - 1)
    return out


def pages(pid: int) -> str:
    """Each child's writable resident pages against the supervisor's, in MB."""
    top = psutil.Process(pid)
    parent = frames(pid)
    parts = []
    for child in top.children(recursive=True):
        mine = frames(child.pid)
        shared = sum(1 for a, f in mine.items() if parent.get(a) == f)
        new = sum(1 for a in mine if a not in parent)
        copied = len(mine) - shared - new
        mb = PAGE / 2**20
        parts.append(
            f"{role(child)}: shared {shared * mb:.1f}, copied {copied * mb:.1f}, new {new * mb:.1f}"
        )
    return "; ".join(parts)


def show(label: str, mem: dict[str, Mem]) -> str:
    total = {k: sum(m[k] for m in mem.values()) for k in FIELDS}
    parts = [
        f"{name} {m['Rss']:.1f}/{m['USS']:.1f}/{m['Pss']:.1f}"
        f" ({m['Pss_Anon']:.1f}+{m['Pss_File']:.1f})"
        for name, m in sorted(mem.items())
    ]
    return (
        f"{label}: tree RSS {total['Rss']:.1f} USS {total['USS']:.1f} PSS {total['Pss']:.1f}"
        f" MB; RSS/USS/PSS (PSS anon+file): " + ", ".join(parts)
    )


def one(
    url: str, r: redis.Redis, root: Path, drain: int, show_pages: bool = False
) -> dict[str, dict[str, Mem]]:
    """{"rest": per-process memory, "drained": ...} for one start of ``root``;
    ``show_pages``: print the page classification of each (``pages``)."""
    import fastq_peer

    r.flushdb()
    fastq_peer.PEER.open(url)
    fastq_peer.PEER.enqueue(numbered(1))
    queues = ",".join(f"{q}={w}" for q, w in QUEUES.items())
    sup = start_fastq_worker(
        url,
        root,
        *("--processes", "2", "--concurrency", "50", "--queues", queues, "--redis-url", url),
        start_new_session=True,
    )
    try:
        wait_done(r, 1, 30, None)
        time.sleep(2.0)
        got = {"rest": tree(sup.pid)}
        if show_pages:
            print(f"  pages at rest (MB): {pages(sup.pid)}", flush=True)
        if drain:
            fastq_peer.PEER.enqueue_bulk(numbered(drain, start=1))
            wait_done(r, drain + 1, 120, None)
            time.sleep(1.0)
            got["drained"] = tree(sup.pid)
            if show_pages:
                print(f"  pages drained (MB): {pages(sup.pid)}", flush=True)
        return got
    finally:
        fastq_peer.PEER.close()
        os.killpg(sup.pid, signal.SIGTERM)
        try:
            sup.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(sup.pid, signal.SIGKILL)
            sup.wait()


def import_steps(url: str) -> None:
    args = [f"{label}={mods}" for label, mods in IMPORT_STEPS] + ["malloc_trim="]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(BENCH / "peers"), str(BENCH), str(ROOT)])
    )
    env["BENCH_REDIS_URL"] = url
    subprocess.run(
        [sys.executable, "-c", STEPS_CODE, *args], env=env, cwd=BENCH / "peers", check=True
    )


def floor(url: str, code: str) -> Mem:
    proc = subprocess.Popen([sys.executable, "-c", code, url])
    try:
        time.sleep(2.0)
        return rollup(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--drain", type=int, default=20000, help="tasks drained (0: rest only)")
    ap.add_argument("--compare", type=Path, help="another fastq checkout, alternated")
    ap.add_argument("--floor", action="store_true", help="first the bare processes (above)")
    ap.add_argument("--pages", action="store_true", help="children's pages: shared/copied/new")
    ap.add_argument("--imports", action="store_true", help="the pre-fork imports, step by step")
    args = ap.parse_args()
    roots = {"this": ROOT}
    if args.compare:
        roots["compare"] = args.compare.resolve()
    for root in roots.values():
        compileall.compile_dir(str(root / "fastq"), quiet=1)
    server = RedisServer()
    server.start()
    os.environ["BENCH_REDIS_URL"] = server.url
    try:
        r = redis.Redis.from_url(server.url)
        if args.imports:
            print("a process importing what the supervisor holds at its first fork:")
            import_steps(server.url)
        for label, code in FLOOR.items() if args.floor else ():
            fl = [floor(server.url, code) for _ in range(args.runs)]
            med = {k: statistics.median(f[k] for f in fl) for k in FIELDS}
            print(show(f"floor: {label}", {"process": med}))
        runs: dict[str, list[dict[str, dict[str, Mem]]]] = {name: [] for name in roots}
        for i in range(args.runs):
            for name, root in roots.items():
                got = one(server.url, r, root, args.drain, args.pages)
                runs[name].append(got)
                for when, mem in got.items():
                    print(show(f"run {i + 1} {name} {when}", mem), flush=True)
        for name, got_runs in runs.items():
            for when in got_runs[0]:
                procs = sorted({p for g in got_runs for p in g[when]})
                med = {
                    p: {
                        k: statistics.median(g[when][p][k] for g in got_runs if p in g[when])
                        for k in FIELDS
                    }
                    for p in procs
                }
                tot = [sum(m["Pss"] for m in g[when].values()) for g in got_runs]
                top = [max(m["Rss"] for m in g[when].values()) for g in got_runs]
                print(show(f"median {name} ({roots[name]}) {when}", med))
                print(
                    f"  tree PSS median {statistics.median(tot):.1f} MB,"
                    f" largest process RSS median {statistics.median(top):.1f} MB"
                )
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
