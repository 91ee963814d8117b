"""The bench's sequential floor (bench/floor.py) and how the report shows it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import redis

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import floor  # noqa: E402
import report  # noqa: E402


def test_the_floor_runs_both_round_trips_and_leaves_no_key(redis_url: str, r: redis.Redis) -> None:
    r.set("mine", "1")
    ping, go = floor.sequential_floor(redis_url, n=50)
    assert ping > 0 and go > 0
    assert r.keys("*") == [b"mine"]  # the floor's tasks are gone, the rest untouched
    # The Go script really ran: the script cache holds it.
    assert r.script_exists(r.script_load(floor.GO_ENQUEUE)) == [True]


def _doc(enqueue: float, floor_go: float) -> dict[str, Any]:
    def m(v: float) -> dict[str, Any]:
        return {"value": v, "runs": [v], "error": "", "failed_runs": [], "na": ""}

    return {
        "config": {"workloads": ["enqueue"]},
        "systems": ["fastq", "huey"],
        "results": {
            "fastq": {
                "enqueue": m(enqueue),
                "enqueue_floor_ping": m(30_000),
                "enqueue_floor_go": m(floor_go),
            },
            "huey": {"enqueue": m(10_000), "enqueue_floor_go": m(99_000)},
        },
    }


def test_the_targets_show_fastqs_share_of_the_floor_and_the_system_table_no_floor() -> None:
    head, body = report.target_rows(_doc(18_000, 24_000))
    rows = {row[0]: row for row in body}
    assert rows["enqueue one by one, sync"][1] == "18,000 (75% of the floor)"
    # Each run's rate over the floor measured right after it, then the median.
    doc = _doc(18_000, 24_000)
    doc["results"]["fastq"]["enqueue"]["runs"] = [10_000, 18_000, 20_000]
    doc["results"]["fastq"]["enqueue_floor_go"]["runs"] = [40_000, 12_000, 36_000]
    share = {r[0]: r[1] for r in report.target_rows(doc)[1]}["enqueue one by one, sync"]
    assert share.endswith("(56% of the floor)")  # not 18,000 / 36,000
    floor_row = rows["sequential floor, Go's enqueue script (raw socket)"]
    assert floor_row[1] == "24,000" and floor_row[3] == "-"  # no "best peer" for the machine
    assert rows["sequential floor, PING (raw socket)"][1] == "30,000"
    head, body = report.rows(_doc(18_000, 24_000))
    assert not any("floor" in h for h in head)
