"""The throughput chart of a queue card: processed and failed per minute over the last
hour, as stacked bars of a small inline SVG (no script, no chart library)."""

from dataclasses import dataclass

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


def minute_chart(per_minute: list[dict[str, int]]) -> Chart:
    """Bars for `per_minute` (oldest first, as inspect.QueueSummary gives it)."""
    slot = WIDTH / max(1, len(per_minute))
    peak = max((m.get("completed", 0) + m.get("failed", 0) for m in per_minute), default=0)
    scale = (HEIGHT - 1) / peak if peak else 0.0
    bars = []
    for i, minute in enumerate(per_minute):
        ok, failed = minute.get("completed", 0), minute.get("failed", 0)
        ok_h, failed_h = ok * scale, failed * scale
        bars.append(
            Bar(
                x=round(i * slot, 2),
                width=round(max(1.0, slot - BAR_GAP), 2),
                ok_y=round(HEIGHT - ok_h, 2),
                ok_height=round(ok_h, 2),
                failed_y=round(HEIGHT - ok_h - failed_h, 2),
                failed_height=round(failed_h, 2),
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
