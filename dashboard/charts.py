"""The console's charts, as small inline SVG (no script, no chart library): the
throughput chart of a queue card (processed and failed per minute over the last hour,
stacked bars), and the Charts page's (throughput and failures, wait p50/p95 over 1 h,
24 h or 7 d: taskqueue/history.py). Here only the geometry; the templates draw it."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from taskqueue.history import History
from taskqueue.inspect import MinuteCounts

from .templatetags.console import seconds

WIDTH, HEIGHT = 240, 48
BAR_GAP = 1


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float
    minutes_ago: int
    completed: int
    failed: int


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    completed: int
    failed: int


def _stacked(i: int, slot: float, height: int, ok_h: float, failed_h: float) -> dict:
    """Where the i-th stacked bar goes (completed at the bottom, failed above it), for
    the queue cards' bars and the Charts page's alike."""
    return {
        "x": round(i * slot, 2),
        "width": round(max(1.0, slot - BAR_GAP), 2),
        "ok_y": round(height - ok_h, 2),
        "ok_height": round(ok_h, 2),
        "failed_y": round(height - ok_h - failed_h, 2),
        "failed_height": round(failed_h, 2),
    }


def minute_chart(per_minute: list[MinuteCounts]) -> Chart:
    """Bars for `per_minute` (oldest first, as inspect.QueueSummary gives it)."""
    slot = WIDTH / max(1, len(per_minute))
    peak = max((m.completed + m.failed for m in per_minute), default=0)
    scale = (HEIGHT - 1) / peak if peak else 0.0
    bars = []
    for i, minute in enumerate(per_minute):
        ok, failed = minute.completed, minute.failed
        bars.append(
            Bar(
                **_stacked(i, slot, HEIGHT, ok * scale, failed * scale),
                minutes_ago=len(per_minute) - 1 - i,
                completed=ok,
                failed=failed,
            )
        )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        peak=peak,
        completed=sum(b.completed for b in bars),
        failed=sum(b.failed for b in bars),
    )


# -- the Charts page (docs/console.md#charts): history over 1 h, 24 h or 7 d -------------

PLOT_WIDTH, PLOT_HEIGHT = 720, 160


@dataclass(frozen=True, slots=True)
class HistoryBar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float
    label: str  # when the bucket started, in the site's time zone
    completed: int
    failed: int


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: list[HistoryBar]
    peak: int
    completed: int
    failed: int
    ticks: list[str]  # labels under the plot: first bucket, middle, last


@dataclass(frozen=True, slots=True)
class Column:
    """A bucket's hover area over the whole height of a line chart."""

    x: float
    width: float
    label: str  # the bucket's time and values


@dataclass(frozen=True, slots=True)
class Line:
    name: str  # "p50" / "p95"
    segments: list[str]  # SVG polyline points, one per run of buckets with data


@dataclass(frozen=True, slots=True)
class LineChart:
    width: int
    height: int
    lines: list[Line]
    columns: list[Column]  # buckets in which tasks started
    top: float | None  # seconds at the top of the plot (None: no data)
    ticks: list[str]


def bucket_label(start: datetime, hourly: bool) -> str:
    local = timezone.localtime(start)
    return f"{local:%a %d %b %H:%M}" if hourly else f"{local:%H:%M}"


def _ticks(labels: list[str]) -> list[str]:
    if not labels:
        return []
    return [labels[0], labels[len(labels) // 2], labels[-1]]


def throughput_chart(history: History) -> BarChart:
    """Completed and failed per bucket, stacked bars (the last bar is under way)."""
    points = history.points
    slot = PLOT_WIDTH / max(1, len(points))
    peak = max((p.completed + p.failed for p in points), default=0)
    scale = (PLOT_HEIGHT - 1) / peak if peak else 0.0
    bars, labels = [], []
    for i, p in enumerate(points):
        label = bucket_label(p.start, history.span.hourly)
        labels.append(label)
        bars.append(
            HistoryBar(
                **_stacked(i, slot, PLOT_HEIGHT, p.completed * scale, p.failed * scale),
                label=label,
                completed=p.completed,
                failed=p.failed,
            )
        )
    return BarChart(PLOT_WIDTH, PLOT_HEIGHT, bars, peak, history.completed, history.failed,
                    _ticks(labels))  # fmt: skip


def wait_chart(history: History) -> LineChart:
    """Wait p50 and p95 per bucket, as two lines broken where a bucket started no task
    (a lone bucket with data is a short dash)."""
    points = history.points
    slot = PLOT_WIDTH / max(1, len(points))
    top = max((p.wait.p95 for p in points if p.wait.p95 is not None), default=None)
    scale = (PLOT_HEIGHT - 4) / top if top else 0.0
    labels = [bucket_label(p.start, history.span.hourly) for p in points]
    lines = []
    for name in ("p50", "p95"):
        segments: list[str] = []
        run: list[tuple[float, float]] = []
        for i, p in enumerate([*points, None]):
            value = getattr(p.wait, name) if p is not None else None
            if value is not None:
                run.append((i * slot + slot / 2, PLOT_HEIGHT - 2 - value * scale))
                continue
            if len(run) == 1:
                (x, y), reach = run[0], min(slot / 3, 4.0)
                run = [(x - reach, y), (x + reach, y)]
            if run:
                segments.append(" ".join(f"{round(x, 2)},{round(y, 2)}" for x, y in run))
            run = []
        lines.append(Line(name, segments))
    columns = [
        Column(
            round(i * slot, 2),
            round(slot, 2),
            f"{labels[i]}: p50 {seconds(p.wait.p50)}, p95 {'≥ ' if p.wait.above else ''}"
            f"{seconds(p.wait.p95)} ({p.wait.count:,} started)",
        )
        for i, p in enumerate(points)
        if p.wait.count
    ]
    return LineChart(PLOT_WIDTH, PLOT_HEIGHT, lines, columns, top, _ticks(labels))
