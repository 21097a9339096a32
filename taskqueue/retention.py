"""Retention of the database records: how old is too old, and deleting in batches.

Audit events go only through `prune_audit` (the `pruneaudit` command), which records
one event saying who pruned how many, so even the pruning leaves a trace.
"""

import re
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .audit import Actor, record
from .errors import ValidationError
from .models import AuditEvent

DELETE_BATCH = 1000
_AGE = re.compile(r"^(\d{1,6})([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """'365d', '12h' or '2w' as a timedelta; ValidationError for anything else."""
    match = _AGE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or int(match[1]) == 0:
        raise ValidationError(
            f"age {text!r} is not valid: use a positive whole number followed by "
            "h (hours), d (days) or w (weeks), e.g. 365d.",
            field="older_than",
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def delete_in_batches(queryset: QuerySet, batch: int = DELETE_BATCH) -> int:
    """Delete the rows of a queryset `batch` at a time (short transactions, bounded
    memory); returns how many went."""
    total = 0
    while True:
        with transaction.atomic():
            pks = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch])
            if not pks:
                return total
            deleted, _ = queryset.model.objects.filter(pk__in=pks).delete()
        total += deleted


def prune_audit(actor: Actor, older_than: timedelta, *, batch: int = DELETE_BATCH) -> int:
    """Delete audit events older than `older_than`; records one event for the pruning."""
    cutoff = timezone.now() - older_than
    deleted = delete_in_batches(AuditEvent.objects.filter(created_at__lt=cutoff), batch)
    record(
        actor,
        AuditEvent.Action.PRUNE_AUDIT,
        count=deleted,
        filter={"older_than_seconds": int(older_than.total_seconds())},
        detail={"cutoff": _iso(cutoff)},
    )
    return deleted


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
