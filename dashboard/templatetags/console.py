"""Template filters of the console: times, durations, JSON, status badges."""

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html

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


def absolute(value: datetime) -> str:
    """'2026-12-06 14:39:27 UTC' in the site's time zone (TIME_ZONE), with its offset
    from UTC when it is another zone: '2026-12-06 15:39:27 CET, UTC+01:00'."""
    try:
        local = timezone.localtime(value if value.tzinfo else value.replace(tzinfo=UTC))
    except (OverflowError, ValueError):  # a time at the edge of the calendar
        local = value
    zone = local.tzname() or "UTC"
    offset = local.strftime("%z")
    text = f"{local:%Y-%m-%d %H:%M:%S} {zone}"
    if offset not in ("", "+0000") and zone != f"UTC{offset[:3]}:{offset[3:]}":
        text += f", UTC{offset[:3]}:{offset[3:]}"
    return text


@register.simple_tag
def age(value: datetime | None) -> str:
    """A relative time that the page keeps counting: <time datetime="<ISO>" data-ago
    title="<absolute, with time zone>">12 s ago</time> (static/taskqueue/console.js
    recomputes the text every second from the datetime). A dash without a time."""
    if not isinstance(value, datetime):
        return NONE
    iso = value.isoformat(timespec="milliseconds")
    return format_html(
        '<time datetime="{}" data-ago title="{}">{}</time>', iso, absolute(value), ago(value)
    )


@dataclass(frozen=True, slots=True)
class Attempts:
    """How a task's attempt count reads. `total` counts every run and goes on across
    requeues (it fences the workers' reports); a requeue (of a dead task, or of a
    cancelled one) gives the task a fresh round of at most `allowed` runs
    (max_retries + 1), of which it has had `this_round`."""

    total: int
    allowed: int | None  # runs per round; None when the record does not say
    requeued: bool = False
    requeued_after: int | None = None  # the attempt the last requeue followed, if known
    this_round: int | None = None  # runs since the last requeue, if known


ROUND_ENDS = ("dead", "cancelled")  # outcomes after which a requeue starts a new round


@register.simple_tag
def attempts_of(task: Any) -> Attempts:
    """The task's attempts (see Attempts). A requeue shows in its history: an attempt
    that ended dead or cancelled, followed by another attempt or by the task being
    live again. Without such a history, more runs than one round allows (lost leases
    aside) still tell that it was requeued, not after which attempt."""
    total = task.attempts if isinstance(task.attempts, int) else 0
    retries = task.max_retries
    allowed = retries + 1 if isinstance(retries, int) and retries >= 0 else None
    live_again = str(task.status) not in ROUND_ENDS
    ends = [
        a.number
        for a in getattr(task, "history", ())
        if a.outcome in ROUND_ENDS and (a.number < total or live_again)
    ]
    if ends:
        return Attempts(total, allowed, True, max(ends), total - max(ends))
    lost = task.lost if isinstance(task.lost, int) else 0
    if allowed is not None and total > allowed + lost:
        return Attempts(total, allowed, True)
    return Attempts(total, allowed)


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
