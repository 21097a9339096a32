"""Counting what the flow-control test tasks noted (tests/taskapp/limit_tasks.py)."""


def most_at_once(notes) -> int:
    """The largest number of runs in progress at the same time."""
    level = peak = 0
    for edge, *_ in sorted(notes, key=lambda n: (n[3], n[0] == "start")):
        level += 1 if edge == "start" else -1
        peak = max(peak, level)
    return peak


def most_in_a_window(starts: list[float], window: float = 1.0) -> int:
    """The most starts inside any window of `window` seconds."""
    starts = sorted(starts)
    best, lo = 0, 0
    for hi, t in enumerate(starts):
        while t - starts[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
