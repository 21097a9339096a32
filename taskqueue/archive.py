"""Durable task history: finished tasks copied from Redis into the TaskArchive table.

Redis keeps completed and cancelled records for RESULT_TTL and dead letters for DEAD_TTL;
the archive keeps them for ARCHIVE_RETENTION_DAYS. Dead and cancelled tasks are always
archived, completed ones when ARCHIVE_COMPLETED is true.

How: each queue's `dead`, `cancelled` (and `completed`) sorted sets are walked in score
order (the time the task finished) from a checkpoint, `batch` entries at a time; each
batch's records are read in one pipeline and upserted with one bulk INSERT ... ON
CONFLICT, together with the new checkpoint in one transaction. So a run holds one batch
in memory, a crash loses nothing (the batch is redone), and running twice writes the same
rows (the second time as updates). A task that finishes again later (retried, then dead
again) gets a later score and its row is updated.

The checkpoint (ArchiveCheckpoint: the last archived score and member per prefix, queue
and set) lives in the database beside the rows it describes, never ahead of them. It only
moves past entries older than the run's start on Redis's clock: an entry finishing in
that very millisecond could still sort before the last one read, so the newest entries
are written but looked at again next time.
"""

import itertools
import time
import uuid
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .broker import Entry
from .client import get_broker
from .conf import get_config
from .masking import mask_secrets
from .models import ArchiveCheckpoint, TaskArchive
from .record_fields import shown_in_full
from .records import TaskRecord
from .retention import delete_in_batches
from .status import Status
from .text import as_text

DEFAULT_BATCH = 1000
ALWAYS = (Status.DEAD, Status.CANCELLED)
UPDATE_FIELDS = [
    f.name for f in TaskArchive._meta.concrete_fields if f.name not in ("id", "task_id")
]


def archivable() -> tuple[Status, ...]:
    """The statuses archived under the current settings."""
    return (*ALWAYS, Status.COMPLETED) if get_config().ARCHIVE_COMPLETED else ALWAYS


def archive_once(batch: int = DEFAULT_BATCH) -> int:
    """Archive every finished task not archived yet, then apply the retention.
    Returns the number of rows written (new or updated)."""
    written, _ = _archive(batch, deadline=None)
    prune_archive()
    return written


def archive_if_due(
    *, interval: float | None = None, batch: int = DEFAULT_BATCH, budget: float | None = None
) -> int | None:
    """Archive unless another process did in the last `interval` seconds (default
    ARCHIVE_INTERVAL); None when it was not due. Meant for the workers' maintenance loop:
    any number may call it, one at a time works (SET NX PX on the archive lock key), and
    one call stops starting new batches after `budget` seconds (default: half the
    interval). When it stops with work left it releases the lock, so the next call goes
    on at once."""
    broker = get_broker()
    seconds = get_config().ARCHIVE_INTERVAL if interval is None else interval
    token = uuid.uuid4().hex
    if not broker.take_archive_lock(token, max(1, int(seconds * 1000))):
        return None
    budget = seconds / 2 if budget is None else budget
    written, finished = _archive(batch, deadline=time.monotonic() + budget)
    if finished:
        prune_archive()
    else:
        broker.release_archive_lock(token)
    return written


def prune_archive(now: datetime | None = None) -> int:
    """Delete archived tasks older than ARCHIVE_RETENTION_DAYS (by finished time)."""
    cutoff = (now or timezone.now()) - timedelta(days=get_config().ARCHIVE_RETENTION_DAYS)
    old = Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, archived_at__lt=cutoff)
    return delete_in_batches(TaskArchive.objects.filter(old))


def _archive(batch: int, deadline: float | None) -> tuple[int, bool]:
    """(rows written, whether every set was walked to its end before the deadline)."""
    broker = get_broker()
    statuses = archivable()
    settled_ms = broker.time_ms()
    written = 0
    for queue in broker.known_queues():
        for status in statuses:
            n, finished = _archive_set(broker, queue, status, batch, settled_ms, deadline)
            written += n
            if not finished:
                return written, False
    return written, True


def _archive_set(broker, queue, status, batch, settled_ms, deadline) -> tuple[int, bool]:
    checkpoint = _checkpoint(broker.config.PREFIX, queue, status)
    entries = broker.entries(queue, status, checkpoint, chunk=batch, newest_first=False)
    written = 0
    while chunk := list(itertools.islice(entries, batch)):
        written += _store(broker, queue, status, chunk, settled_ms)
        if deadline is not None and time.monotonic() >= deadline:
            return written, False
    return written, True


def _store(broker, queue: str, status: Status, chunk: list[Entry], settled_ms: int) -> int:
    """Upsert one batch's records and move the checkpoint, in one transaction."""
    wanted = archivable()
    shown = shown_in_full(broker.config)  # masking walks values: never deeper than it shows
    records = broker.records(queue, [e.id for e in chunk], shown)
    now = timezone.now()
    rows = [to_row(r, now) for r in records if r and r.status in wanted and len(r.id) <= 64]
    # the checkpoint is text in the database: an id that is not UTF-8 (see
    # text.py) cannot be one, so it stays at the last id that can (those after it are
    # archived again next time, which changes nothing)
    settled = [e for e in chunk if e.score < settled_ms and as_text(e.id) == e.id]
    with transaction.atomic():
        TaskArchive.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["task_id"],
            update_fields=UPDATE_FIELDS,
        )
        if settled:
            _save_checkpoint(broker.config.PREFIX, queue, status, settled[-1])
    return len(rows)


# -- reading the archive (the console's missing-task page and id search) ---------------


def archived_task(task_id: str) -> TaskArchive | None:
    """The archived record of a task, or None: one read of the unique task_id index."""
    if not isinstance(task_id, str) or not 0 < len(task_id) <= 64 or not task_id.isprintable():
        return None
    if as_text(task_id) != task_id:  # not UTF-8 (text.py): no row can hold it
        return None
    return TaskArchive.objects.filter(task_id=task_id).first()


def archived_by_prefix(prefix: str, *, limit: int = 20) -> list[TaskArchive]:
    """Archived tasks whose id starts with `prefix`, newest first, at most `limit`.
    Cost: a range read of the task_id index. PostgreSQL answers `LIKE 'prefix%'` from
    the pattern index Django creates beside it; SQLite's LIKE uses no index, so the
    id's range [prefix, prefix + U+10FFFF) bounds the read there too."""
    if not 0 < len(prefix) <= 64 or "\x00" in prefix:
        return []
    rows = TaskArchive.objects.filter(task_id__startswith=prefix)
    if connection.vendor == "sqlite":
        rows = rows.filter(task_id__gte=prefix, task_id__lt=prefix + "\U0010ffff")
    return list(rows.order_by("-finished_at", "-id")[:limit])


ARGS_SCAN = 5000  # newest archived rows a search inside args and kwargs looks at


def archived_with_arguments(text: str, *, limit: int = 20) -> list[TaskArchive]:
    """Archived tasks (among the newest ARGS_SCAN) whose args or kwargs, as stored
    (secrets masked), contain `text` in any case; newest first, at most `limit`. The
    database compares the JSON text of those rows only (a bounded subquery)."""
    if not text or "\x00" in text:
        return []
    newest = TaskArchive.objects.order_by("-finished_at", "-id").values("id")[:ARGS_SCAN]
    rows = TaskArchive.objects.filter(id__in=newest).filter(
        Q(args__icontains=text) | Q(kwargs__icontains=text)
    )
    return list(rows.order_by("-finished_at", "-id")[:limit])


COUNT_MAX = 2**31 - 1  # a PositiveIntegerField holds no more (on every database)


def to_row(r: TaskRecord, archived_at: datetime) -> TaskArchive:
    """A TaskArchive row (not saved) from a task record, secrets masked."""
    worker = r.worker or (r.history[-1].worker if r.history else "")
    return TaskArchive(
        task_id=r.id,
        name=r.name[:200],
        queue=r.queue[:63],
        status=str(r.status)[:20],
        attempts=min(max(0, r.attempts), COUNT_MAX),
        failures=min(max(0, r.failures), COUNT_MAX),
        created_at=r.created_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
        worker=_text(worker)[:200],
        error_type=_text(r.error_type)[:200],
        error_message=_text(r.error_message),
        traceback=_text(r.traceback),
        args=mask_secrets(r.args, drop_nul=True),
        kwargs=mask_secrets(r.kwargs, drop_nul=True),
        result=mask_secrets(r.result, drop_nul=True) if r.status == Status.COMPLETED else None,
        dead_reason=_text(r.dead_reason)[:40],
        archived_at=archived_at,
    )


def _text(value: str) -> str:
    return value.replace("\x00", "")  # PostgreSQL text cannot hold NUL


def _checkpoint(prefix: str, queue: str, status: Status) -> str | None:
    """The checkpoint as a listing cursor (None: from the start)."""
    row = ArchiveCheckpoint.objects.filter(prefix=prefix, queue=queue, kind=status.value).first()
    return None if row is None else Entry(row.member, row.score, queue).cursor


def _save_checkpoint(prefix: str, queue: str, status: Status, last: Entry) -> None:
    row = ArchiveCheckpoint(
        prefix=prefix, queue=queue, kind=status.value, score=last.score, member=last.id
    )
    ArchiveCheckpoint.objects.bulk_create(
        [row],
        update_conflicts=True,
        unique_fields=["prefix", "queue", "kind"],
        update_fields=["score", "member", "updated_at"],
    )
