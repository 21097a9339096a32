"""The read-only inspection layer: what the API, the console and the CLI read through.

Nothing here changes state and nothing scans keys: counts are O(1), and listings walk
sorted sets from a cursor, reading at most SCAN_BUDGET entries per call when a filter
has to look inside records (a page may then come back short, with a cursor to go on).
A search by the start of a task id walks each queue's index with ZSCAN MATCH, at most
ID_PREFIX_CALLS calls per queue (tasks_by_id_prefix).
"""

import heapq
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from .broker import (
    WAIT_BUCKETS,
    Entry,
    MinuteCounts,
    NodeStatus,
    Page,
    QueueCounts,
    WorkflowCounters,
)
from .client import get_broker
from .conf import get_config
from .errors import TaskDoesNotExist, TaskNotFound, ValidationError
from .history import History, check_span, percentile
from .history import history as queue_history
from .masking import mask_secrets
from .names import validate_queue_name
from .periodic import schedules
from .record_fields import Shown, shown_in_full
from .records import TaskRecord, WorkflowInfo
from .registry import registry
from .runtime import Histogram
from .safety import settings_warnings
from .status import Status, WorkflowStatus
from .workers import WorkerInfo
from .workflows.handle import valid_workflow_id, workflow_info

MAX_PAGE = 200
SCAN_BUDGET = 5000
# A search that looks like the start of a task id (ID_PREFIX_MIN or more hex digits and
# dashes: what the console's tables show) is looked up in each queue's index by ZSCAN
# MATCH, at most ID_PREFIX_CALLS calls of about ID_PREFIX_COUNT entries per queue
# (docs/console.md#search).
ID_PREFIX_MIN = 4
ID_PREFIX_CALLS = 50
ID_PREFIX_COUNT = 2000
# A search inside args and kwargs reads whole records: at most ARGS_SCAN_BUDGET per call,
# each without a JSON field over ARGS_SEARCHED.json_chars (such a task is not matched).
ARGS_SCAN_BUDGET = 1000
ARGS_SEARCHED = Shown(json_chars=8 * 1024)


def get_task(task_id: str) -> TaskRecord:
    """The full record of a task, by id alone; TaskDoesNotExist if there is none."""
    if not isinstance(task_id, str) or not 0 < len(task_id) <= 64 or not task_id.isprintable():
        raise TaskDoesNotExist(str(task_id)[:64])
    broker = get_broker()
    record = broker.find(task_id, shown_in_full(broker.config))
    if record is None:
        raise TaskDoesNotExist(task_id)
    return record


def queues() -> list[str]:
    return get_broker().known_queues()


def check_status(status: object) -> Status | None:
    if status in (None, ""):
        return None
    try:
        return Status(status)
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise ValidationError(
            f"status {status!r} is not one of {allowed}.", field="status"
        ) from None


def check_limit(limit: object) -> int:
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be an integer from 1 to {MAX_PAGE}.", field="limit")
    return limit


def list_tasks(queue: str, status=None, *, cursor: str | None = None, limit: int = 50) -> Page:
    """A page of one queue's tasks in a status, in that set's order (run order for
    pending, scheduled and processing; newest first for the others)."""
    return get_broker().list_tasks(
        validate_queue_name(queue), check_status(status), cursor=cursor, limit=check_limit(limit)
    )


@dataclass(frozen=True, slots=True)
class TaskFilter:
    queue: str | None = None
    status: Status | None = None
    name: str | None = None
    exception: str | None = None
    q: str | None = None  # a task id, or part of a task name
    tenant: str | None = None  # whose tasks (TaskRecord.tenant); None: anyone's

    def matches(
        self,
        status: str | None,
        name: str | None,
        error_type: str | None,
        tenant: str | None = None,
    ) -> bool:
        """Whether a task with these fields is chosen; a caller that does not pass the
        task's tenant gets no match for a filter on a tenant (never every tenant's)."""
        return (
            (self.status is None or status == self.status)
            and (self.name is None or name == self.name)
            and (self.exception is None or _same_exception(error_type, self.exception))
            and (self.q is None or self.q.lower() in (name or "").lower())
            and (self.tenant is None or tenant == self.tenant)
        )


def _same_exception(error_type: str | None, wanted: str) -> bool:
    """Exception filters ignore case: `valueerror` finds ValueError."""
    return (error_type or "").casefold() == wanted.casefold()


def id_prefix(q: str | None) -> str | None:
    """The start of a task id that a search names, lower-cased, or None when `q` is not
    one: ID_PREFIX_MIN to 64 hex digits and dashes, a trailing ellipsis (copied from a
    table's short id) left out."""
    text = (q or "").strip().removesuffix("\u2026").removesuffix("...")
    if not ID_PREFIX_MIN <= len(text) <= 64 or text.strip("0123456789abcdefABCDEF-"):
        return None
    return text.lower()


def search_tasks(flt: TaskFilter, *, cursor: str | None = None, limit: int = 50) -> Page:
    """Tasks of one or every queue, newest first, filtered; cursor-paginated. A search
    naming a task id finds it; one naming the start of ids (id_prefix) finds the live
    tasks whose id starts so, if any, else it searches the names."""
    limit = check_limit(limit)
    if flt.q and cursor is None:
        found = _by_id(flt)
        if found is not None:
            return Page([found], None)
        by_prefix = tasks_by_id_prefix(flt, limit=limit)
        if by_prefix.items:
            return by_prefix
    broker = get_broker()
    names = [validate_queue_name(flt.queue)] if flt.queue else broker.known_queues()
    listed = Status.DEAD if flt.status == Status.DEAD else None  # None: every task
    entries = _merged(broker, names, listed, cursor)
    return _filtered_page(broker, entries, flt, limit)


def dead_letters(flt: TaskFilter, *, cursor: str | None = None, limit: int = 50) -> Page:
    """The dead-letter queue, newest first, filtered by queue, task name, exception
    and tenant."""
    return search_tasks(
        TaskFilter(flt.queue, Status.DEAD, flt.name, flt.exception, flt.q, flt.tenant),
        cursor=cursor,
        limit=limit,
    )


def dead_groups(queue: str | None = None) -> dict[str, int]:
    """Dead letters per exception type (one queue, or summed over all): O(queues)."""
    broker = get_broker()
    totals: dict[str, int] = {}
    for name in [validate_queue_name(queue)] if queue else broker.known_queues():
        for error_type, n in broker.dead_errors(name).items():
            totals[error_type] = totals.get(error_type, 0) + n
    return dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))


def _by_id(flt: TaskFilter) -> TaskRecord | None:
    try:
        record = get_task(flt.q)
    except TaskDoesNotExist:
        return None
    wanted = TaskFilter(flt.queue, flt.status, flt.name, flt.exception, tenant=flt.tenant)
    in_queue = flt.queue is None or record.queue == flt.queue
    fields = (record.status, record.name, record.error_type, record.tenant)
    return record if in_queue and wanted.matches(*fields) else None


def tasks_by_id_prefix(flt: TaskFilter, *, limit: int = 50) -> Page:
    """The live tasks whose id starts with id_prefix(flt.q) and that match the rest of
    the filter, newest first (at most `limit`; none when q is no id prefix). Cost: per
    queue at most ID_PREFIX_CALLS ZSCAN calls over its index, then one read of the
    matches' records."""
    prefix = id_prefix(flt.q)
    if prefix is None:
        return Page([], None)
    broker = get_broker()
    names = [validate_queue_name(flt.queue)] if flt.queue else broker.known_queues()
    entries = []
    for name in names:
        found, _ = broker.ids_with_prefix(
            name, prefix, calls=ID_PREFIX_CALLS, count=ID_PREFIX_COUNT, limit=limit
        )
        entries += found
    entries.sort(key=lambda e: (e.score, e.id), reverse=True)
    damaged: list = []
    records = _records(broker, entries[:limit], damaged)
    wanted = replace(flt, q=None)
    records = [r for r in records if wanted.matches(r.status, r.name, r.error_type, r.tenant)]
    return Page(records, None, tuple(damaged))


def search_arguments(
    flt: TaskFilter, text: str, *, cursor: str | None = None, limit: int = 50
) -> Page:
    """Tasks whose args or kwargs, as JSON with secrets masked (masking.py), contain
    `text` in any case, and that match the rest of the filter; newest first. One call
    reads at most ARGS_SCAN_BUDGET records (a page may come back short, with a cursor
    to go on); a task whose args or kwargs exceed ARGS_SEARCHED.json_chars is skipped.
    flt.q matches part of the name or, when it is one, the start of the id."""
    limit = check_limit(limit)
    needle = text.casefold()
    broker = get_broker()
    names = [validate_queue_name(flt.queue)] if flt.queue else broker.known_queues()
    listed = Status.DEAD if flt.status == Status.DEAD else None
    entries = _merged(broker, names, listed, cursor)
    matched, scanned, last, damaged = [], 0, None, []
    while len(matched) <= limit and scanned < ARGS_SCAN_BUDGET:
        chunk = list(itertools.islice(entries, 200))
        if not chunk:
            break
        scanned += len(chunk)
        for entry, record in zip(chunk, _searched(broker, chunk, damaged), strict=True):
            last = entry
            if record is not None and _chosen(flt, record) and _holds(record, needle):
                matched.append((entry, record))
                if len(matched) > limit:
                    break
    more = len(matched) > limit or (scanned >= ARGS_SCAN_BUDGET and last is not None)
    if len(matched) > limit:
        last = matched[limit - 1][0]
    page = [record for _, record in matched[:limit]]
    return Page(page, last.cursor if more and last else None, tuple(damaged))


def _searched(broker, chunk: list[Entry], damaged: list) -> list[TaskRecord | None]:
    out = []
    for storage, group in itertools.groupby(chunk, key=lambda e: e.storage):
        out += broker.records(storage, [e.id for e in group], ARGS_SEARCHED, damaged)
    return out


def _chosen(flt: TaskFilter, r: TaskRecord) -> bool:
    if not replace(flt, q=None).matches(r.status, r.name, r.error_type, r.tenant):
        return False
    prefix = id_prefix(flt.q)
    in_name = flt.q is None or flt.q.lower() in r.name.lower()
    return in_name or (prefix is not None and r.id.startswith(prefix))


def _holds(record: TaskRecord, needle: str) -> bool:
    """Whether the args or kwargs, secrets masked, hold `needle` (casefolded)."""
    for name in ("args", "kwargs"):
        value = getattr(record, name)
        if value is None or name in record.unreadable:
            continue
        shown = json.dumps(mask_secrets(value), ensure_ascii=False, default=str)
        if needle in shown.casefold():
            return True
    return False


def _merged(broker, names: Sequence[str], status: Status | None, cursor: str | None):
    """The entries of every queue's tasks in `status` (None: all), merged newest first."""
    streams = [broker.entries(name, status, cursor) for name in names]
    return heapq.merge(*streams, key=lambda e: (e.score, e.id), reverse=True)


def _filtered_page(broker, entries: Iterator[Entry], flt: TaskFilter, limit: int) -> Page:
    matched, scanned, last, damaged = [], 0, None, []
    needs_summary = any((flt.status, flt.name, flt.exception, flt.q, flt.tenant))
    while len(matched) <= limit and scanned < SCAN_BUDGET:
        chunk = list(itertools.islice(entries, 200))
        if not chunk:
            break
        scanned += len(chunk)
        summaries = (
            _tenant_summaries(broker, chunk, damaged)
            if flt.tenant is not None
            else _summaries(broker, chunk, needs_summary, damaged)
        )
        for entry, summary in zip(chunk, summaries, strict=True):
            last = entry
            if summary is not None and (not needs_summary or flt.matches(*summary)):
                matched.append(entry)
                if len(matched) > limit:
                    break
    more = len(matched) > limit or (scanned >= SCAN_BUDGET and last is not None)
    page = matched[:limit]
    if len(matched) > limit:
        last = page[-1]
    records = _records(broker, page, damaged)
    return Page(records, last.cursor if more and last else None, tuple(damaged))


def _summaries(broker, chunk: list[Entry], needed: bool, damaged: list) -> list:
    """What the filter looks at, per entry (None: a record that is missing or not a
    hash); () for each when the filter needs none."""
    if not needed:
        return [()] * len(chunk)
    out = []
    for storage, group in itertools.groupby(chunk, key=lambda e: e.storage):
        out += broker.summaries(storage, [e.id for e in group], damaged)
    return out


def _tenant_summaries(broker, chunk: list[Entry], damaged: list) -> list:
    """(status, name, exception type, tenant) per entry, None for a missing or damaged
    record. The broker's summaries leave the tenant out, so the records are read (one
    round trip per storage, as for the summaries; the scan stays within SCAN_BUDGET)."""
    out = []
    for storage, group in itertools.groupby(chunk, key=lambda e: e.storage):
        records = broker.records(storage, [e.id for e in group], damaged=damaged)
        out += [None if r is None else (r.status, r.name, r.error_type, r.tenant) for r in records]
    return out


def _records(broker, page: list[Entry], damaged: list) -> list[TaskRecord]:
    out = []
    for storage, group in itertools.groupby(page, key=lambda e: e.storage):
        ids = [e.id for e in group]
        out += [r for r in broker.records(storage, ids, damaged=damaged) if r]
    return out


@dataclass(frozen=True, slots=True)
class QueueSummary:
    counts: QueueCounts
    oldest_pending_age_s: float | None
    completed_last_minute: int
    failed_last_minute: int
    completed_last_hour: int
    failed_last_hour: int
    per_minute: list[MinuteCounts]  # the last 60 minutes, oldest first

    @property
    def name(self) -> str:
        return self.counts.queue


def queue_summary(queue: str) -> QueueSummary:
    """Counts, paused flag, oldest pending age and throughput of one queue."""
    broker = get_broker()
    validate_queue_name(queue)
    now = broker.time_ms()
    oldest = broker.oldest_pending_ms(queue)
    minutes = broker.per_minute(queue, 60, now_ms=now)
    return QueueSummary(
        counts=broker.counts(queue),
        oldest_pending_age_s=None if oldest is None else max(0.0, (now - oldest) / 1000),
        completed_last_minute=minutes[-1].completed,
        failed_last_minute=minutes[-1].failed,
        completed_last_hour=sum(m.completed for m in minutes),
        failed_last_hour=sum(m.failed for m in minutes),
        per_minute=minutes,
    )


def queue_counts(queue: str) -> QueueCounts:
    """Tasks per status, paused flag and lifetime counters of one queue: O(1)."""
    return get_broker().counts(validate_queue_name(queue))


def workers() -> list[WorkerInfo]:
    """Every registered worker, most recent heartbeat first; `lost` marks the silent."""
    return get_broker().workers()


def global_damage() -> tuple[list, int]:
    """Global keys (queue list, worker registry...) of the wrong type, and how many such
    keys were moved aside so far (broker/damage.py)."""
    return get_broker().global_damage()


@dataclass(frozen=True, slots=True)
class RedisNode:
    """One Redis server as the console's Redis panel shows it, with what in its
    settings risks losing tasks (safety.py's warnings, as the workers log them)."""

    status: NodeStatus
    warnings: list[str]


def redis_server() -> list[RedisNode]:
    """Memory, eviction policy, persistence, clients and ops/s of the broker's Redis
    (every primary of a cluster), each with its warnings: a few round trips a node."""
    return [RedisNode(s, settings_warnings(s.settings)) for s in get_broker().server_status()]


def runtime_histograms(queue: str) -> list[Histogram]:
    return get_broker().runtime_histograms(validate_queue_name(queue))


# The longest follow_events waits in one call: well under the client's socket timeout.
EVENTS_BLOCK_MAX_MS = 1000


@dataclass(frozen=True, slots=True)
class QueueEvent:
    """One entry of a queue's event stream: a task's state change (task_id, status)
    or a queue event (event, count), e.g. a pause or a purge."""

    queue: str
    task_id: str | None = None
    status: str | None = None
    event: str | None = None
    count: int | None = None


def follow_events(
    cursors: dict[str, str], *, block_ms: int = EVENTS_BLOCK_MAX_MS, count: int = 1000
) -> tuple[list[QueueEvent], dict[str, str]]:
    """State changes of every known queue after `cursors` (queue -> stream entry id;
    pass {} the first time), waiting up to block_ms for the first one. Returns the
    events and the cursors for the next call (keyed by stream: a sharded queue has one
    per sub-queue). Queues missing from `cursors` (all of them on the first call, new
    ones later) are followed from now on."""
    broker = get_broker()
    cursors = dict(cursors)
    names = broker.shards.expand(broker.known_queues())  # a sharded queue's sub-queues
    missing = [name for name in names if name not in cursors]
    if missing:
        start = f"{broker.time_ms()}-0"
        cursors.update(dict.fromkeys(missing, start))
    block_ms = max(1, min(int(block_ms), EVENTS_BLOCK_MAX_MS))
    events = []
    for e in broker.read_events(cursors, block_ms, count):
        cursors[e.storage] = e.entry_id
        events.append(QueueEvent(e.queue, e.task_id, e.status, e.event, e.count))
    return events, cursors


@dataclass(frozen=True, slots=True)
class PeriodicInfo:
    name: str
    task: str
    cron: str
    queue: str  # where the ticks go: the schedule's queue, else the task's, else the default
    last_tick: datetime | None  # the tick the workers last enqueued (None: not yet)
    last_task_id: str
    next_tick: datetime


def periodic_schedules() -> list[PeriodicInfo]:
    """Every cron schedule (@task(cron=...) and TASKQUEUE["PERIODIC"]) with its last and
    next tick; next ticks are computed on Redis's clock in settings.TIME_ZONE."""
    broker = get_broker()
    state = broker.periodic_state()
    now = datetime.fromtimestamp(broker.time_ms() / 1000, tz=UTC)
    tz = ZoneInfo(settings.TIME_ZONE)
    out = []
    config = get_config()
    for s in schedules(config.PERIODIC):
        seen = state.get(s.name)
        last_tick = _tick(seen.last_tick_ms if seen else None)
        out.append(
            PeriodicInfo(
                s.name,
                s.task,
                s.cron,
                s.queue or _declared_queue(s.task) or config.DEFAULT_QUEUE,
                last_tick,
                seen.task_id if seen else "",
                s.next_after(now, tz),
            )
        )
    return out


def _tick(ms) -> datetime | None:
    """A tick's time from the workers' state (anyone can write it: a value that is not
    a time reads as no tick yet)."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC) if type(ms) is int else None
    except (ValueError, OverflowError, OSError):
        return None


def _declared_queue(name: str) -> str | None:
    try:
        return registry.get(name).options.queue
    except TaskNotFound:
        return None


# -- workflows (docs/workflows.md) ----------------------------------------------------

WORKFLOW_SCAN = 1000  # newest workflows looked at when a listing filters by status


def get_workflow(workflow_id: str) -> WorkflowInfo:
    """A workflow's summary; WorkflowDoesNotExist if there is none."""
    return workflow_info(workflow_id)


def workflow_nodes(workflow_id: str):
    """Its nodes (WorkflowNode) with each task's current status: (node, status)."""
    return [(node, status) for node, status, _ in workflow_tasks(workflow_id)]


def workflow_tasks(workflow_id: str):
    """Its nodes with each task's current status and task name: (node, status, name);
    a task that is gone reads as ("missing", ""). One read per queue, as the console's
    graph needs it (it labels a layer of 500 nodes "500 x <task name>")."""
    broker = get_broker()
    nodes = broker.workflow_nodes(valid_workflow_id(workflow_id))
    by_queue: dict[str, list] = {}
    for node in nodes:
        by_queue.setdefault(node.queue, []).append(node)
    found = {}
    for queue, group in by_queue.items():
        summaries = broker.summaries(queue, [n.task_id for n in group])
        for node, summary in zip(group, summaries, strict=True):
            found[node.key] = (summary.status, summary.name) if summary else ("missing", "")
    return [(node, *found[node.key]) for node in nodes]


def check_workflow_status(status: object) -> WorkflowStatus | None:
    if status in (None, ""):
        return None
    try:
        return WorkflowStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in WorkflowStatus)
        raise ValidationError(
            f"status {status!r} is not one of {allowed}.", field="status"
        ) from None


def list_workflows(status=None, *, offset: int = 0, limit: int = 50) -> list:
    """Workflows, newest first; with a status, among the newest WORKFLOW_SCAN."""
    wanted = check_workflow_status(status)
    limit = check_limit(limit)
    broker = get_broker()
    if wanted is None:
        ids = broker.workflow_ids(offset, limit)
        return [i for i in broker.workflow_infos(ids) if i is not None]
    infos = broker.workflow_infos(broker.workflow_ids(0, WORKFLOW_SCAN))
    matching = [i for i in infos if i is not None and i.status == wanted]
    return matching[offset : offset + limit]


def blocked_workflows() -> int:
    """Workflows blocked by a dead task, among the newest WORKFLOW_SCAN."""
    broker = get_broker()
    infos = broker.workflow_infos(broker.workflow_ids(0, WORKFLOW_SCAN))
    return sum(1 for i in infos if i is not None and i.status == "blocked")


def workflow_counters() -> WorkflowCounters:
    """Lifetime counts of workflows: created, completed."""
    return get_broker().workflow_counters()


def workflows_of(record: TaskRecord) -> list[tuple[str, str]]:
    """(workflow id, node) of the workflows a task belongs to or is waited for by."""
    return get_broker().workflows_of(record.queue, record.id)


def history(queues: Sequence[str], span: object = None) -> History:
    """Throughput, failures, wait and runtime percentiles of `queues` over a span ('1h',
    '24h', '7d'; anything else is the last hour): taskqueue/history.py."""
    return queue_history(queues, check_span(span))


# The window of recent_waits: the minute under way and the ones before it (/metrics).
WAIT_WINDOW_MINUTES = 5
WAIT_QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class RecentWaits:
    """The waits (ready -> start) of the tasks a queue started in the last minutes."""

    queue: str
    started: int
    quantiles: dict[float, float]  # q -> seconds (empty when nothing started)


def recent_waits(queue: str, minutes: int = WAIT_WINDOW_MINUTES) -> RecentWaits:
    """Wait percentiles of `queue` over its last `minutes` minute buckets (the history's
    wait histograms: one pipeline), interpolated as histogram_quantile does."""
    buckets = get_broker().history(validate_queue_name(queue), minutes, hourly=False)
    counts = [0] * (len(WAIT_BUCKETS) + 1)
    for b in buckets:  # each minute clamped at 0 before they add up
        for i, n in enumerate(b.waits.padded(len(counts))):
            counts[i] += max(0, n)
    quantiles = {q: percentile(WAIT_BUCKETS, counts, q) for q in WAIT_QUANTILES}
    return RecentWaits(queue, sum(counts), {q: v for q, v in quantiles.items() if v is not None})
