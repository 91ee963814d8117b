"""Benchmark fastq against its peers: `python3 bench/run.py` (see bench/README.md).

The first run creates bench/.venv, installs the peers (bench/requirements-peers.txt)
and fastq itself into it, and re-runs itself there: the main environment gets
nothing, since the peers pin redis-py versions of their own.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
VENV = BENCH_DIR / ".venv"
RESULTS = BENCH_DIR / "results"
SYSTEMS = ["fastq", "fastq-def", "rq", "celery", "dramatiq", "arq", "saq", "taskiq", "huey"]
WORKLOADS = [
    "enqueue",
    "aenq",
    "bulk",
    "drain",
    "weighted",
    "latency",
    "gopickup",
    "io",
    "rtt",
    "io1k",
    "start",
    "rss",
]
QUICK_WORKLOADS = ["enqueue", "aenq", "bulk", "drain", "latency", "gopickup", "io", "rtt", "rss"]


# ------------------------------------------------------------------ bootstrap


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _pip(*args: str) -> None:
    cmd = [
        str(VENV / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *args,
    ]
    print("+", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)


def _install_fastq(mode: str) -> None:
    if mode == "editable":
        try:
            _pip("-e", str(ROOT))
            return
        except subprocess.CalledProcessError:
            print("pip install -e . failed; using the source tree on sys.path instead", flush=True)
    # "path": the checkout on sys.path plus fastq's runtime dependencies; builds nothing.
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    _pip(*deps)
    site = subprocess.run(
        [
            str(VENV / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "fastq-checkout.pth").write_text(str(ROOT) + "\n")


def bootstrap(fastq_install: str) -> None:
    """Create or refresh bench/.venv, then re-run this script with its Python."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    reqs = BENCH_DIR / "requirements-peers.txt"
    want = hashlib.sha256(
        reqs.read_bytes() + (ROOT / "pyproject.toml").read_bytes() + fastq_install.encode()
    ).hexdigest()
    stamp = VENV / ".bench-installed"
    if not stamp.exists() or stamp.read_text() != want:
        _pip("-r", str(reqs))
        _install_fastq(fastq_install)
        stamp.write_text(want)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# ---------------------------------------------------------------- selection


def make_config(args: argparse.Namespace) -> Any:
    from harness import Config

    quick = args.quick
    chosen = (
        args.workloads.split(",") if args.workloads else (QUICK_WORKLOADS if quick else WORKLOADS)
    )
    bad = set(chosen) - set(WORKLOADS)
    if bad:
        raise SystemExit(
            f"unknown workloads: {', '.join(sorted(bad))} (have {', '.join(WORKLOADS)})"
        )
    return Config(
        runs=args.runs or (1 if quick else 3),
        n_enqueue=1000 if quick else 5000,
        n_drain=args.n or (5000 if quick else 20000),
        n_io=500 if quick else 2000,
        n_latency=20 if quick else 30,
        seconds=2.0 if quick else 2.5,
        latency_budget=4.0 if quick else 5.0,
        calibration=100,
        workloads=tuple(chosen),
        n_aenq=10_000 if quick else 50_000,
    )


def load_peer(name: str) -> Any:
    return importlib.import_module(f"{name.replace('-', '_')}_peer").PEER


def main() -> int:
    parser = argparse.ArgumentParser(
        description="fastq vs RQ, Celery, Dramatiq, arq, SAQ, taskiq, Huey"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small N, 1 run, fewer workloads (~2-3 min)"
    )
    parser.add_argument(
        "--runs", type=int, default=0, help="runs per workload; the median is reported"
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma list, e.g. fastq,rq")
    parser.add_argument("--workloads", default="", help=f"comma list of {','.join(WORKLOADS)}")
    parser.add_argument("--n", type=int, default=0, help="tasks in the drain workloads")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="also write docs/benchmarks.md and docs/benchmarks.png",
    )
    parser.add_argument(
        "--fastq-install",
        choices=["editable", "path"],
        default="editable",
        help="pip install -e . into the venv, or put the checkout on sys.path",
    )
    args = parser.parse_args()
    if not _in_venv():
        bootstrap(args.fastq_install)
    sys.path[:0] = [str(BENCH_DIR / "peers"), str(BENCH_DIR), str(ROOT)]

    import report
    from harness import Bench

    from fastq.devredis import RedisServer

    cfg = make_config(args)
    systems = [s for s in args.systems.split(",") if s]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise SystemExit(
            f"unknown systems: {', '.join(sorted(unknown))} (have {', '.join(SYSTEMS)})"
        )
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / "workers.log"
    log.write_bytes(b"")
    # fastq runs from the checkout: compile its bytecode as pip does for the peers
    # when it installs them, so no system's start-up includes compiling its source
    # (PYTHONDONTWRITEBYTECODE would otherwise make every start compile fastq).
    compileall.compile_dir(str(ROOT / "fastq"), quiet=1)
    server = RedisServer()
    server.start()
    os.environ["BENCH_REDIS_URL"] = server.url
    started = time.monotonic()
    measures: dict[str, dict[str, Any]] = {}
    notes: dict[str, str] = {}
    try:
        for name in systems:
            print(f"== {name}", flush=True)
            try:
                peer = load_peer(name)
            except Exception as exc:
                traceback.print_exc()
                measures[name] = {"error": f"adapter failed to load: {type(exc).__name__}: {exc}"}
                continue
            bench = Bench(peer, cfg, server.url, log)
            t0 = time.monotonic()
            bench.run()
            print(f"  ({time.monotonic() - t0:.0f} s)", flush=True)
            measures[name] = bench.as_json()
            notes[name] = peer.setup_note + (
                f"; queues: {peer.queue_note}" if peer.queue_note else ""
            )
        elapsed = time.monotonic() - started
        doc = report.build(
            measures, notes, systems, dataclasses.asdict(cfg), server.url, elapsed, args.quick
        )
    finally:
        server.cleanup()
    (RESULTS / "latest.json").write_text(json.dumps(doc, indent=2) + "\n")
    print()
    print(report.table(doc))
    print(f"\nwrote {RESULTS / 'latest.json'} in {elapsed:.0f}s", flush=True)
    try:
        import chart

        chart.draw(doc, RESULTS / "latest.png")
        if args.write_docs:
            chart.draw(doc, ROOT / "docs" / "benchmarks.png")
            (ROOT / "docs" / "benchmarks.md").write_text(report.markdown(doc))
            print("wrote docs/benchmarks.md and docs/benchmarks.png")
    except Exception:
        traceback.print_exc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
