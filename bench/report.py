"""Turn measurements into the JSON document, the console table and docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

# key -> (column title, unit, higher is better)
METRICS: dict[str, tuple[str, str, bool]] = {
    # real work first: the no-op rows measure the queue alone
    "rtt": ("1 Redis round trip", "tasks/s", True),
    "io": ("I/O 10 ms", "tasks/s", True),
    "io1k": ("I/O 10 ms x1000", "tasks/s", True),
    "enqueue": ("enqueue 1-by-1", "tasks/s", True),
    "enqueue_floor_ping": ("sequential floor: PING", "calls/s", True),
    "enqueue_floor_go": ("sequential floor: Go's enqueue script", "calls/s", True),
    "aenq": ("enqueue, 100 coroutines", "tasks/s", True),
    "bulk": ("bulk enqueue", "tasks/s", True),
    "drain": ("no-op drain 1 queue", "tasks/s", True),
    "weighted": ("no-op drain 4 queues", "tasks/s", True),
    "latency_p50": ("pickup p50", "ms", False),
    "latency_p99": ("pickup p99", "ms", False),
    "gopickup_p50": ("pickup p50, Go-layout writes", "ms", False),
    "gopickup_p99": ("pickup p99, Go-layout writes", "ms", False),
    "start_s": ("start to first task", "s", False),
    "rss_mb": ("worker RSS", "MB", False),
    "uss_mb": ("worker USS", "MB", False),
    "pss_mb": ("worker PSS", "MB", False),
    "proc_rss_mb": ("largest process RSS", "MB", False),
    "proc_pss_mb": ("largest process PSS", "MB", False),
    "child_rss_mb": ("largest child process RSS", "MB", False),
}
# The machine's round trip measured beside each system's enqueue (bench/floor.py):
# shown against fastq's rate in the targets table, not as a system's own column.
FLOORS = ("enqueue_floor_ping", "enqueue_floor_go")
# the "rss" workload
MEMORY_KEYS = ("rss_mb", "uss_mb", "pss_mb", "proc_rss_mb", "proc_pss_mb", "child_rss_mb")
PACKAGES = {
    "fastq": ("fastq",),
    "fastq-def": ("fastq",),
    "rq": ("rq",),
    "celery": ("celery", "kombu"),
    "dramatiq": ("dramatiq",),
    "arq": ("arq",),
    "saq": ("saq",),
    "taskiq": ("taskiq", "taskiq-redis"),
    "huey": ("huey",),
}


def _version(dist: str) -> str:
    if dist == "fastq":
        return _fastq_version()
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _fastq_version() -> str:
    """fastq's version and the commit measured: the checkout may not be a release."""
    import fastq

    here = os.path.dirname(os.path.dirname(os.path.abspath(fastq.__file__)))
    try:
        sha = subprocess.run(
            ["git", "-C", here, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return fastq.__version__
    return f"{fastq.__version__} (git {sha})"


def machine(url: str) -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import psutil

    r = redis.Redis.from_url(url)
    try:
        redis_version = str(r.info("server")["redis_version"])
    finally:
        r.close()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "redis": redis_version,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis_py": _version("redis"),
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_ref_s": cpu_reference(),
    }


def cpu_reference(steps: int = 2_000_000) -> float:
    """Seconds for a fixed pure-Python loop (median of 3): how fast this machine's
    cores ran during the run, so runs on different days can be told apart from a
    change in the code (shared VMs vary several-fold)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(steps):
            total += i
        times.append(time.perf_counter() - start)
    return round(sorted(times)[1], 3)


def build(
    measures: dict[str, dict[str, Any]],
    notes: dict[str, str],
    systems: list[str],
    config: dict[str, Any],
    url: str,
    elapsed: float,
    quick: bool,
) -> dict[str, Any]:
    return {
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if quick else "full",
        "elapsed_s": round(elapsed),
        "config": config,
        "machine": machine(url),
        "versions": {s: {d: _version(d) for d in PACKAGES[s]} for s in systems},
        "setup": notes,
        "systems": systems,
        "results": measures,
    }


def _fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(doc: dict[str, Any], system: str, key: str) -> str:
    """`value (ratio to fastq)`, or why there is no value."""
    res = doc["results"].get(system, {})
    if "error" in res and key not in res:
        return "error"
    m = res.get(key, {})
    if m.get("na"):
        return "n/a"
    if m.get("error"):
        return "invalid"
    if m.get("value") is None:
        return "-"
    v = float(m["value"])
    mark = "*" if m.get("failed_runs") else ""  # some runs were invalid; see the notes
    base = doc["results"].get("fastq", {}).get(key, {}).get("value")
    if system == "fastq" or not base:
        return _fmt(v) + mark
    return f"{_fmt(v)}{mark} ({v / float(base):.2f}x)"


def fastq_vs_best(doc: dict[str, Any], key: str) -> str:
    """fastq's number over the best peer's (higher-is-better), or best / fastq otherwise."""
    higher = METRICS[key][2]
    base = doc["results"].get("fastq", {}).get(key, {}).get("value")
    peers = [
        (float(res[key]["value"]), s)
        for s, res in doc["results"].items()
        if not s.startswith("fastq")
        and isinstance(res.get(key), dict)
        and res[key].get("value") is not None
    ]
    if not base or not peers:
        return "-"
    best, who = max(peers) if higher else min(peers)
    ratio = float(base) / best if higher else best / float(base)
    return f"{ratio:.2f}x ({who})"


# Go Asynq v0.26 cannot be built here (no Go module downloads): its figures are the
# ones issue 19 measured on this machine class, quoted as (lowest, highest) run.
GO_ASYNQ: dict[str, tuple[float, float]] = {
    "drain": (23_000, 34_000),
    "weighted": (16_000, 27_000),
    "enqueue": (40_000, 71_000),
    "latency_p50": (567, 567),
    "latency_p99": (1_400, 1_400),
}


@dataclass(frozen=True)
class Target:
    """One row of issue 19's table: which number, and what it must reach."""

    label: str
    system: str  # fastq or fastq-def
    key: str
    goal: str  # the target, as the issue words it
    met: Callable[[float, dict[str, Any]], bool | None]  # (fastq's value, doc) -> met?


def _value(doc: dict[str, Any], system: str, key: str) -> float | None:
    m = doc["results"].get(system, {}).get(key)
    v = m.get("value") if isinstance(m, dict) else None
    return None if v is None else float(v)


def best_peer(doc: dict[str, Any], key: str) -> tuple[float, str] | None:
    """The best Python peer's value of ``key`` and its name (fastq's rows excluded)."""
    higher = METRICS[key][2]
    got = [
        (v, s)
        for s in doc["systems"]
        if not s.startswith("fastq") and (v := _value(doc, s, key)) is not None
    ]
    if not got:
        return None
    return max(got) if higher else min(got)


def _vs_peer(key: str, factor: float) -> Callable[[float, dict[str, Any]], bool | None]:
    def met(v: float, doc: dict[str, Any]) -> bool | None:
        best = best_peer(doc, key)
        if best is None:
            return None
        return v >= factor * best[0] if METRICS[key][2] else v <= best[0] * factor

    return met


def _at_least(x: float) -> Callable[[float, dict[str, Any]], bool | None]:
    return lambda v, doc: v >= x


def _at_most(x: float) -> Callable[[float, dict[str, Any]], bool | None]:
    return lambda v, doc: v <= x


def _no_target(v: float, doc: dict[str, Any]) -> bool | None:
    return None


def _weighted_met(v: float, doc: dict[str, Any]) -> bool | None:
    one = _value(doc, "fastq", "drain")
    return v >= 60_000 and (one is None or v >= 0.9 * one)


TARGETS = [
    Target("no-op drain, 1 queue", "fastq", "drain", ">= 2x Go (>= 60,000/s)", _at_least(60_000)),
    Target(
        "no-op drain, 4 weighted queues",
        "fastq",
        "weighted",
        ">= 2x Go, within 10 % of 1 queue",
        _weighted_met,
    ),
    Target("1 Redis round trip, `async def`", "fastq", "rtt", ">= 2x peer", _vs_peer("rtt", 2)),
    Target("1 Redis round trip, `def`", "fastq-def", "rtt", ">= 2x peer", _vs_peer("rtt", 2)),
    Target("10 ms sleep, 50 per process", "fastq", "io", ">= 9,000/s (90 %)", _at_least(9_000)),
    Target("10 ms sleep, 1,000 per process", "fastq", "io1k", ">= 25,000/s", _at_least(25_000)),
    Target("enqueue one by one, sync", "fastq", "enqueue", ">= Go", _at_least(71_000)),
    Target("sequential floor, PING (raw socket)", "fastq", "enqueue_floor_ping", "-", _no_target),
    Target(
        "sequential floor, Go's enqueue script (raw socket)",
        "fastq",
        "enqueue_floor_go",
        "-",
        _no_target,
    ),
    Target("enqueue, 100 coroutines", "fastq", "aenq", ">= 150,000/s", _at_least(150_000)),
    Target("bulk enqueue", "fastq", "bulk", "-", _no_target),
    Target("pickup p50, fastq producer (ms)", "fastq", "latency_p50", "-", _no_target),
    Target("pickup p99, fastq producer (ms)", "fastq", "latency_p99", "<= 1 ms", _at_most(1.0)),
    Target("pickup p50, Go-layout writes (ms)", "fastq", "gopickup_p50", "-", _no_target),
    Target("pickup p99, Go-layout writes (ms)", "fastq", "gopickup_p99", "<= 5 ms", _at_most(5.0)),
    Target("start to first task (s)", "fastq", "start_s", "<= 0.25 s", _at_most(0.25)),
    Target("worker tree PSS (MB)", "fastq", "pss_mb", "<= best peer", _vs_peer("pss_mb", 1)),
    # Issue 19 asks it of each worker process; the supervisor runs no task.
    Target("worker process RSS, largest (MB)", "fastq", "child_rss_mb", "<= 30 MB", _at_most(30)),
    Target(
        "largest process RSS, supervisor included (MB)", "fastq", "proc_rss_mb", "-", _no_target
    ),
]


def target_rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Issue 19's table: fastq, Go Asynq's quoted figures, the best peer, the target."""
    head = ["workload", "fastq", "Go Asynq v0.26 (quoted)", "best Python peer", "target", "met"]
    body = []
    wanted = set(_columns(doc))
    for t in TARGETS:
        v = _value(doc, t.system, t.key)
        if t.key not in wanted or t.system not in doc["systems"]:
            continue
        go = GO_ASYNQ.get(t.key)
        go_cell = "-"
        if go:
            lo, hi = go
            span = _fmt(lo) if lo == hi else f"{_fmt(lo)}-{_fmt(hi)}"
            go_cell = span
            if v:
                higher = METRICS[t.key][2]
                r_lo, r_hi = sorted((v / hi, v / lo) if higher else (lo / v, hi / v))
                ratio = f"{r_lo:.2f}x" if lo == hi else f"{r_lo:.2f}-{r_hi:.2f}x"
                go_cell += f" (fastq {ratio})"
        best = None if t.key in FLOORS else best_peer(doc, t.key)
        peer_cell = "-"
        if best:
            b, who = best
            peer_cell = f"{_fmt(b)} ({who})"
            if v:
                ratio = v / b if METRICS[t.key][2] else b / v
                peer_cell += f", fastq {ratio:.2f}x"
        met = t.met(v, doc) if v is not None else None
        body.append(
            [
                t.label,
                "-" if v is None else _fmt(v) + _of_floor(doc, t),
                go_cell,
                peer_cell,
                t.goal,
                "-" if met is None else ("yes" if met else "no"),
            ]
        )
    return head, body


def _of_floor(doc: dict[str, Any], t: Target) -> str:
    """For the one-by-one enqueue row: fastq's rate as a share of the sequential
    floor (the Go script's round trip on a raw socket), the median of each run's
    rate over the floor measured right after it, under the same load."""
    res = doc["results"].get(t.system, {})
    rates = res.get("enqueue", {}).get("runs") or []
    floors = res.get("enqueue_floor_go", {}).get("runs") or []
    if t.key != "enqueue" or not rates or len(rates) != len(floors) or not all(floors):
        return ""
    share = statistics.median(r / f for r, f in zip(rates, floors, strict=True))
    return f" ({share:.0%} of the floor)"


def _columns(doc: dict[str, Any]) -> list[str]:
    wanted = set(doc["config"]["workloads"])
    keys = []
    for key in METRICS:
        base = key.split("_")[0]  # latency_p50 -> latency, start_s -> start
        base = "rss" if key in MEMORY_KEYS else base
        if base in wanted:
            keys.append(key)
    return keys


def rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    keys = [k for k in _columns(doc) if k not in FLOORS]
    head = ["system"] + [f"{METRICS[k][0]} ({METRICS[k][1]})" for k in keys]
    body = [[s] + [cell(doc, s, k) for k in keys] for s in doc["systems"]]
    if "fastq" in doc["systems"] and len(doc["systems"]) > 1:
        body.append(["fastq vs best peer"] + [fastq_vs_best(doc, k) for k in keys])
    return head, body


def _text(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md(head: list[str], body: list[list[str]]) -> str:
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(md + ["| " + " | ".join(r) + " |" for r in body])


def table(doc: dict[str, Any]) -> str:
    out = _text(*rows(doc)) + "\n" + _legend(doc)
    head, body = target_rows(doc)
    if body:
        out += "\n\nIssue 19's targets:\n" + _text(head, body)
    return out


def _legend(doc: dict[str, Any]) -> str:
    out = [
        "(x) = the system's number / fastq's. Higher is better for tasks/s, lower for ms and MB.",
        "fastq vs best peer: fastq / best peer for tasks/s, best peer / fastq for ms and MB"
        " (above 1 = fastq ahead).",
    ]
    for s, res in doc["results"].items():
        if isinstance(res.get("error"), str):
            out.append(f"{s}: {res['error']}")
            continue
        # One line per distinct problem, naming every metric it spoiled.
        problems: dict[str, list[str]] = {}
        for k, m in res.items():
            if not isinstance(m, dict):
                continue
            if m.get("error"):
                problems.setdefault(f"invalid: {m['error']}", []).append(k)
            elif m.get("failed_runs"):
                failed = m["failed_runs"]
                total = len(failed) + len(m["runs"])
                why = (
                    f"{len(failed)} of {total} runs invalid ({failed[0]});"
                    " the value is the median of the valid runs"
                )
                problems.setdefault(why, []).append(k + "*")
        out += [f"{s} {', '.join(keys)}: {why}" for why, keys in problems.items()]
        out += [f"{s}: {note}" for note in res.get("notes", [])]
    return "\n".join(out)


def markdown(doc: dict[str, Any]) -> str:
    mach = doc["machine"]
    cfg = doc["config"]
    versions = "\n".join(
        f"| {s} | {', '.join(f'{d} {v}' for d, v in doc['versions'][s].items())} | "
        f"{_pools(doc, s)} | {doc['setup'].get(s, '')} |"
        for s in doc["systems"]
    )
    issues = _legend(doc).split("\n")[2:]
    problems = "\n".join(f"- {p}" for p in issues) or "- none: every measurement was valid."
    return TEMPLATE.format(
        when=doc["when"],
        mode=doc["mode"],
        elapsed=doc["elapsed_s"],
        table=_md(*rows(doc)),
        targets=_md(*target_rows(doc)),
        problems=problems,
        nproc=mach["nproc"],
        cpu=mach["cpu"],
        mem=mach["memory_gib"],
        redis=mach["redis"],
        python=mach["python"],
        redis_py=mach["redis_py"],
        platform=mach["platform"],
        load=" / ".join(str(x) for x in mach.get("loadavg_end", [])),
        cpu_ref=mach.get("cpu_ref_s", "-"),
        versions=versions,
        runs=cfg["runs"],
        n_drain=f"{cfg['n_drain']:,}",
        n_enqueue=f"{cfg['n_enqueue']:,}",
        n_latency=cfg["n_latency"],
        n_io=f"{cfg['n_io']:,}",
        seconds=cfg["seconds"],
        latency_budget=cfg["latency_budget"],
    )


def _pools(doc: dict[str, Any], system: str) -> str:
    res = doc["results"].get(system, {})
    if "pool" not in res:
        return "-"
    return f"{res['pool']:,} / {res['io_pool']:,}"


TEMPLATE = """# Benchmarks: fastq and its peers

Measured {when} ({mode} run, {elapsed} s, medians of {runs} run(s)), generated by
`python3 bench/run.py --write-docs`. Every system ran against the same private
redis-server, one after the other, with 2 worker processes each. Every task of
every row was checked by its sequence number (see below).

## fastq against the targets of issue 19

Real work first: "1 Redis round trip" tasks each make one `INCR` (redis.asyncio
in `async def` handlers, redis-py in `def` ones); the no-op drains measure the
queue alone. Go Asynq v0.26 cannot be built here (Go modules cannot be
downloaded), so its column quotes the lowest and highest of the runs issue 19
measured on this machine class, with fastq's ratio to each; it is not part of
this run. "best Python peer" is the best of the peers below in this run. The two
"sequential floor" rows are this machine's bare round trip, measured in this run
right after fastq's one-by-one enqueue (see "What each number is").

{targets}

## Every system

{table}

`(x)` is the system's number divided by fastq's. Higher is better for tasks/s,
lower for milliseconds and MB. The last row is fastq / the best peer for
tasks/s, and the best peer / fastq for ms and MB, so above 1 means fastq is ahead.

![fastq and its peers](benchmarks.png)

Measurements that could not be made:

{problems}

## What each number is

Every task carries its own sequence number (0, 1, 2, ... within a measurement)
and is recorded from inside its handler: each worker process collects the
numbers of the tasks it finished (and their first/last times) and writes them
to Redis every 20 ms, the same code for every system, as a 2-bit run counter
per task; RQ, which forks a short-lived work horse per job, writes once per
task. One Redis round trip per task from every handler would have measured the
instrumentation rather than the queue. A measurement counts only when every
task enqueued ran exactly once and no other ran: one lost task, one task run
twice (redelivery) or one unknown task makes it invalid, whatever the total,
and so does a bounded wait that runs out.

- **pool size**: each system first drains a small calibration batch; its
  drain pools are then sized to take about {seconds:g} s at its own speed, at most
  {n_drain} tasks ({n_io} for I/O) and at least 100 (50). A forking RQ worker runs
  well under 100 tasks/s here, so a fixed 20,000-task pool would take it minutes
  per run. The pool each system got is in the table at the bottom.
- **enqueue 1-by-1**: a quarter of the pool (at least 250, at most {n_enqueue}), one call each,
  from one producer thread (`Client.enqueue`, `Queue.enqueue`, `apply_async`,
  `send`, `enqueue_job`, `enqueue`, `kiq`, a Huey call). Workers are not running.
- **sequential floor**: right after each enqueue 1-by-1 measurement, 2,000 `PING`s
  and 2,000 calls of Go Asynq's own enqueue script, each sent on a raw socket
  only after the previous reply (`bench/floor.py`: no client library, no task
  encoding). No sequential producer can beat it on this machine under this
  load; the targets table gives fastq's one-by-one rate as a share of it.
- **bulk enqueue**: the rest of the pool (at least 250) with the system's many-at-once API
  (`enqueue_many` for fastq and RQ, a `group` for Celery and Dramatiq); n/a
  where there is none.
- **drain 1 queue**: that pool of no-op tasks, already enqueued, run by workers
  started afterwards. The rate runs from the first to the last completion, as
  the handlers' clocks record them, so worker start-up is not counted. The
  enqueue numbers count only once this drain proved that every task ran.
- **drain 4 queues**: the same over critical, high, default and low (fastq
  weights 6/4/2/1; the setup column says how each peer orders queues); n/a where
  a worker serves only one queue.
- **pickup p50/p99**: up to {n_latency} tasks per run (or as many as fit in
  {latency_budget:g} s) sent one at a time to idle workers, each carrying its
  enqueue time; the handler records start time minus enqueue time. With 30
  samples a run, its p99 is the slowest of them.
- **1 Redis round trip**: tasks whose handler makes one Redis call (`INCR`),
  with `redis.asyncio` in `async def` handlers and redis-py in `def` ones, under
  each system's usual settings; `fastq-def` is fastq with `def` handlers.
- **enqueue, 100 coroutines**: 100 coroutines share one asyncio producer
  (`AsyncClient`, arq's pool, a SAQ queue, taskiq's broker), each sending its
  share one call at a time; n/a for systems without an asyncio producer. The
  rate counts once a drain proved every task ran.
- **pickup, Go-layout writes** (fastq only): tasks written one at a time as Go
  Asynq v0.26 writes them (its enqueue script: the task hash and an LPUSH, no
  fastq wake token) to idle workers; what fastq's keyspace wake-ups achieve for
  producers in other languages.
- **start to first task**: one task waits in the queue; the time from starting
  the worker command to that task's handler finishing.
- **I/O 10 ms x1000**: the 10 ms sleep at 1,000 per process, where the system
  has such a knob (full runs only).
- **I/O 10 ms**: a pool of tasks that each sleep 10 ms (`asyncio.sleep` in async
  handlers, `time.sleep` in sync ones), at 50 per process where the system has
  such a setting.
- **worker RSS / USS / PSS**: memory summed over every process of the workers
  (supervisor included), idle after the drain. RSS counts the pages that forked
  children share with their parent once per process, so it overstates prefork
  systems (fastq, Celery, Dramatiq, Huey); USS counts only each process's own
  pages and understates them; PSS splits each shared page among the processes
  sharing it, so it is the fair sum. "largest process RSS" is the biggest one
  process at rest; "largest child process RSS" the biggest one that the
  bench's command did not start itself (fastq's workers without their
  supervisor, which runs no task; a system of one process counts that one).

## Machine

| | |
|---|---|
| CPU | {cpu}, {nproc} cores |
| memory | {mem} GiB |
| Redis | {redis} |
| Python | {python} (redis-py {redis_py}) |
| OS | {platform} |
| load average (1/5/15 min) at the end | {load} |
| CPU reference at the end: a 2,000,000-step pure-Python loop (s, median of 3) | {cpu_ref} |

The 2 cores are shared by the Redis server, the producer and the workers, and
during this run also by other work on the machine (see the load average), so
absolute numbers are lower and noisier than on a quiet, larger machine; the
ratios within one run are the point.

## Versions and setup

| system | versions | pool (drain / I/O) | how its workers run |
|---|---|---|---|
{versions}

## Notes on the setups

- RQ's default worker forks a work horse for every job (its docs recommend it,
  or SpawnWorker, for production); that fork is most of its cost per task here.
- Celery's prefork pool runs one task per process, so its I/O workload runs 2
  at a time; a thread or gevent pool would be a different setup.
- Dramatiq's `group(...).run()` still sends one message per call: it is listed
  as bulk because it is Dramatiq's many-at-once API, not a pipelined one.
- arq workers poll every 0.5 s when idle (its default `poll_delay`), which
  sets its pickup latency; fewer samples fit in the latency budget.
- taskiq is pinned to 0.11 with taskiq-redis 1.1: with taskiq 0.13 and
  taskiq-redis 1.2 on redis-py 8, every few runs one or two of ~2,000 tasks never
  ran, so those drains could not be verified (see `bench/peers/taskiq_peer.py`).
- Huey (`-k process`) lost one or two tasks of an I/O pool in some of our runs,
  with nothing in its log; such a run counts as invalid and is listed above.
- The peers share one redis-py (6.4), the newest that all of them accept.
- Asynq's Go server is not measured: Go modules cannot be fetched here. Its
  figures in the first table are quoted from issue 19.

## Reproduce

```
python3 bench/run.py                 # full: all systems and workloads, 3 runs
python3 bench/run.py --quick         # smoke test, about 2-3 minutes
python3 bench/run.py --systems fastq,rq --workloads drain,latency --runs 5
python3 bench/run.py --write-docs    # also rewrite this page and its chart
```

The first run creates `bench/.venv`, installs the peers from PyPI
(`bench/requirements-peers.txt`) and fastq (`pip install -e .`) into it. The
results go to `bench/results/latest.json` and `bench/results/latest.png`;
`bench/.venv/bin/python bench/report.py` re-renders this page from that JSON.
"""


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    import chart

    here = Path(__file__).resolve().parent
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "results" / "latest.json"
    loaded = json.loads(src.read_text())
    (here.parent / "docs" / "benchmarks.md").write_text(markdown(loaded))
    chart.draw(loaded, here.parent / "docs" / "benchmarks.png")
    print("wrote docs/benchmarks.md and docs/benchmarks.png from", src)
