"""Bar chart of bench/results/latest.json: one panel per metric, fastq highlighted.

Run alone to redraw: `bench/.venv/bin/python bench/chart.py [results.json] [out.png]`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from report import FLOORS, METRICS, _columns

FASTQ = "#d62728"
PEER = "#7f7f7f"


def draw(doc: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in _columns(doc) if k not in FLOORS]
    cols = min(4, len(keys))
    nrows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(keys) :]:
        ax.axis("off")
    for ax, key in zip(axes.flat, keys, strict=False):
        title, unit, higher = METRICS[key]
        names, values, missing = [], [], []
        for s in doc["systems"]:
            m = doc["results"].get(s, {}).get(key)
            v = m.get("value") if isinstance(m, dict) else None
            names.append(s)
            values.append(v or 0.0)
            missing.append(v is None)
        colors = [FASTQ if n == "fastq" else PEER for n in names]
        bars = ax.bar(range(len(names)), values, color=colors)
        log = key.startswith("latency") and max(values, default=0) > 50 * max(
            min((v for v in values if v > 0), default=1), 1
        )
        for bar, gone, m, v in zip(bars, missing, names, values, strict=True):
            if not gone:
                text = f"{v:,.0f}" if v >= 10 else f"{v:.1f}"
                ax.text(
                    bar.get_x() + bar.get_width() / 2, v, text, ha="center", va="bottom", fontsize=6
                )
            if gone:
                res = doc["results"].get(m, {}).get(key)
                label = "n/a" if isinstance(res, dict) and res.get("na") else "x"
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    0,
                    label,
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        better = "higher is better" if higher else "lower is better"
        ax.set_title(f"{title}\n{unit}, {better}", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        if log:
            ax.set_yscale("log")
        ax.margins(y=0.12)
    mach = doc["machine"]
    fig.suptitle(
        f"fastq vs peers - {mach['nproc']} cores, Redis {mach['redis']}, Python {mach['python']}"
        f" ({doc['mode']} run, {doc['when']})",
        fontsize=10,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "results" / "latest.json"
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else src.with_suffix(".png")
    draw(json.loads(src.read_text()), dst)
    print(f"wrote {dst}")
