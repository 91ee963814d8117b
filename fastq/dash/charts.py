"""Server-rendered SVG charts: geometry here, markup in ``templates/charts/*.svg``.

The charts are shown through ``<img>``, so they can never run script whatever text
they hold, and labels are escaped by the template engine like everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fastq.inspect.inspector import DailyStats, QueueInfo

WIDTH, HEIGHT = 600, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 12, 80
STATE_ORDER = ("active", "pending", "aggregating", "scheduled", "retry", "archived", "completed")


@dataclass
class Chart:
    """Everything a chart template draws."""

    width: int = WIDTH
    height: int = HEIGHT
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label)
    bars: list[tuple[float, float, float, float, str, str]] = field(default_factory=list)
    labels: list[tuple[float, str]] = field(default_factory=list)  # (x, text) under the axis
    lines: list[tuple[str, str]] = field(default_factory=list)  # (css class, points)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, text)
    empty: str = ""


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 < value:
        step *= 10
    for mult in (1, 2, 5, 10):
        if step * mult >= value:
            return step * mult
    return step * 10


def _ticks(top: float) -> list[tuple[float, str]]:
    plot_h = HEIGHT - TOP - BOTTOM
    out = []
    for i in range(5):
        v = top * i / 4
        label = f"{v:.1f}" if top < 4 else f"{v:,.0f}"
        out.append((HEIGHT - BOTTOM - plot_h * i / 4, label))
    return out


def queue_sizes(infos: Sequence[QueueInfo]) -> Chart:
    """Stacked bars: each queue's tasks by state.

    Args:
        infos: the queues to draw.
    """
    chart = Chart(legend=[(s, s) for s in STATE_ORDER])
    if not infos:
        chart.empty = "no queues yet"
        return chart
    top = _nice_max(max(i.size for i in infos))
    chart.ticks = _ticks(top)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(infos)
    bar_w = max(2.0, min(60.0, slot * 0.6))
    for n, info in enumerate(infos):
        x = LEFT + slot * n + (slot - bar_w) / 2
        y = float(HEIGHT - BOTTOM)
        for state in STATE_ORDER:
            count = getattr(info, state)
            if count <= 0:
                continue
            h = plot_h * count / top
            y -= h
            chart.bars.append((x, y, bar_w, h, state, f"{info.queue} {state}: {count}"))
        chart.labels.append((x + bar_w / 2, info.queue[:16]))
    return chart


def _polyline(values: Sequence[float], top: float) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(values) - 1, 1)
    pts = (
        f"{LEFT + plot_w * i / n:.1f},{HEIGHT - BOTTOM - plot_h * v / top:.1f}"
        for i, v in enumerate(values)
    )
    return " ".join(pts)


def daily(history: Sequence[Sequence[DailyStats]], days: int) -> Chart:
    """Processed (succeeded) and failed per day over all queues, oldest day left.

    Args:
        history: per queue, its ``DailyStats`` today first.
        days: how many days are drawn.
    """
    succeeded = [0.0] * days
    failed = [0.0] * days
    dates = [""] * days
    for rows in history:
        for i, row in enumerate(rows[:days]):
            j = days - 1 - i
            succeeded[j] += row.processed - row.failed
            failed[j] += row.failed
            dates[j] = row.date
    chart = Chart(legend=[("ok", "succeeded"), ("fail", "failed")])
    top = _nice_max(max([*succeeded, *failed, 0.0]))
    chart.ticks = _ticks(top)
    chart.lines = [("ok", _polyline(succeeded, top)), ("fail", _polyline(failed, top))]
    plot_w = WIDTH - LEFT - RIGHT
    step = max(1, days // 4)
    for i in range(0, days, step):
        chart.labels.append((LEFT + plot_w * i / max(days - 1, 1), dates[i][5:]))
    return chart


def rate(points: Sequence[tuple[float, float]], interval: float) -> Chart:
    """Processed and failed tasks per second over the last samples.

    Args:
        points: (processed/s, failed/s), oldest first.
        interval: seconds between samples (for the axis labels).
    """
    chart = Chart(legend=[("ok", "processed/s"), ("fail", "failed/s")])
    if len(points) < 2:
        chart.empty = "collecting samples…"
        return chart
    top = _nice_max(max(max(p, f) for p, f in points))
    chart.ticks = _ticks(top)
    chart.lines = [
        ("ok", _polyline([p for p, _ in points], top)),
        ("fail", _polyline([f for _, f in points], top)),
    ]
    span = interval * (len(points) - 1)
    chart.labels = [(LEFT, f"-{span:.0f}s"), (WIDTH - RIGHT, "now")]
    return chart
