"""Template filters of the console: times, durations, JSON, status badges."""

import json
import math
from datetime import UTC, datetime
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from taskqueue.masking import mask_secrets

register = template.Library()

NONE = "\u2013"  # an en dash for "no value"
# Longest JSON text shown in a page; a bigger payload is cut with a note.
MAX_JSON_CHARS = 20_000


def _now() -> datetime:
    return datetime.now(UTC)


@register.filter
def seconds(value: float | None) -> str:
    """A duration in seconds as '850 ms', '12 s', '4 min 3 s', '2 h 5 min', '3 d 4 h'."""
    if value is None or not math.isfinite(value := float(value)):
        return NONE
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.filter
def ago(value: datetime | None) -> str:
    """'12 s ago' for a past time, 'in 12 s' for a future one."""
    if value is None:
        return NONE
    delta = (_now() - value).total_seconds()
    return f"{seconds(delta)} ago" if delta >= 0 else f"in {seconds(-delta)}"


@register.filter
def took(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return NONE
    return seconds(max(0.0, (end - start).total_seconds()))


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON with values under secret-looking keys masked (escaped by the
    template like any other text)."""
    text = json.dumps(mask_secrets(value), indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_JSON_CHARS:
        return f"{text[:MAX_JSON_CHARS]}\n… ({len(text) - MAX_JSON_CHARS} more characters)"
    return text


@register.filter
def progress_percent(progress: Any) -> int | None:
    """0-100 for a progress report like {"done": 3, "total": 10}; None otherwise."""
    if not isinstance(progress, dict):
        return None
    done, total = progress.get("done"), progress.get("total")
    if not isinstance(done, (int, float)) or not isinstance(total, (int, float)) or total <= 0:
        return None
    try:
        percent = 100 * done / total
    except OverflowError:  # integers too large for a float (a task may report anything)
        return None
    return max(0, min(100, round(percent))) if math.isfinite(percent) else None


@register.filter
def unreadable(task: Any, name: str) -> str:
    """Why a field of a task record is not shown as stored ('' when it is)."""
    notes = getattr(task, "unreadable", None)
    return notes.get(name, "") if isinstance(notes, dict) else ""


@register.filter
def routable(task_id: str) -> bool:
    """Whether a task id fits in the console's URLs (one written straight into Redis
    may not: '', 'a/b'). Its row then has no link and no buttons."""
    try:
        reverse("dashboard:task", args=[task_id])
    except NoReverseMatch:
        return False
    return True


@register.filter
def dictget(mapping: dict, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None
