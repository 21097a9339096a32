"""The service layer: every operator action, whoever asks (API, console, admin, CLI).

Each function validates its input, acts through the broker, then writes exactly one
AuditEvent naming the actor (see audit.py). The API, the console, the admin and the
management commands all call these, so one action behaves the same everywhere.
Permission checks belong to the callers (views know who may do what).
"""

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .audit import Actor, record
from .broker import Payload
from .broker.confirm_ops import CONFIRM_TTL_MS
from .broker.outcomes import Cancel, Moved
from .client import get_broker
from .errors import InvalidTransition, QueueDoesNotExist, ValidationError
from .handle import TaskHandle
from .inspect import TaskFilter, get_task
from .models import AuditEvent
from .names import validate_queue_name
from .options import MAX_RETRIES_LIMIT
from .priority import DEFAULT_PRIORITY, MAX_LEVEL, MAX_PRIORITY, MIN_PRIORITY, band_of, level_of
from .producer import enqueue as enqueue_by_name
from .record_fields import LISTED
from .records import NewTask
from .status import Status
from .workers import COMMANDS as WORKER_COMMANDS
from .workers import WorkerInfo
from .workflows import handle as workflows_handle
from .workflows import submit as workflows_submit

A = AuditEvent.Action
MAX_IDS = 1000
DETAIL_IDS = 10_000  # ids kept in the audit detail of a DLQ action (requeue, purge)
BULK_ACTIONS = ("cancel", "retry", "delete")
TOKEN = re.compile(r"[0-9a-f]{32}")  # a confirmation token (new_confirmation)
DEAD = ("dead",)
CONFIRM_TTL_S = CONFIRM_TTL_MS // 1000  # how long a confirmation token stays good


@dataclass
class BulkResult:
    """What a bulk action did: ids acted on, and the others with their status."""

    done: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class Confirmation:
    """Tasks noted for an operator to confirm an action on (docs/console.md#exact-bulk-
    actions): the action given `token` acts on these and no other."""

    token: str | None  # None: nothing to confirm (count 0)
    count: int  # tasks noted: the number the operator confirms
    total: int  # of how many matched (a queue's pending tasks: at most CONFIRM_MAX noted)


@dataclass
class Confirmed:
    """What an action on confirmed tasks did: done + sum(skipped) == confirmed."""

    done: int
    confirmed: int
    skipped: dict[str, int]  # status now -> confirmed tasks it no longer applied to
    ids: list[str] = field(default_factory=list)  # the tasks acted on (DLQ actions)


def enqueue(actor: Actor, name: str, args=(), kwargs=None, **options) -> TaskHandle:
    """Enqueue a registered task by name (the API's way in); audited when created."""
    handle = enqueue_by_name(name, args, kwargs, **options)
    if handle.created:
        record(
            actor,
            A.ENQUEUE,
            queue=handle.queue,
            task_id=handle.id,
            status_after="pending",
            detail={"task": name},
        )
    return handle


def cancel(actor: Actor, task_id: str) -> Cancel:
    """Cancel a waiting task (CANCELLED) or ask a running one to stop (REQUESTED)."""
    task = get_task(task_id)
    outcome, before = get_broker().cancel(task.queue, task.id)
    _advance(task.queue)
    after = "cancelled" if outcome is Cancel.CANCELLED else f"{before} (cancel requested)"
    record(
        actor,
        A.CANCEL,
        queue=task.queue,
        task_id=task.id,
        status_before=before,
        status_after=after,
    )
    return outcome


def retry(actor: Actor, task_id: str):
    """Send a dead or cancelled task back to pending; returns its new record."""
    task = get_task(task_id)
    ((before, done),) = get_broker().requeue(task.queue, [task.id])
    if not done:
        raise InvalidTransition(task.id, "retry", before)
    _advance(task.queue)
    record(
        actor,
        A.RETRY,
        queue=task.queue,
        task_id=task.id,
        status_before=before,
        status_after="pending",
    )
    return get_task(task_id)


def run_now(actor: Actor, task_id: str) -> None:
    """Run a scheduled task (a delay, or a retry in its backoff) now."""
    task = get_task(task_id)
    get_broker().run_now(task.queue, task.id)
    record(
        actor,
        A.RUN_NOW,
        queue=task.queue,
        task_id=task.id,
        status_before="scheduled",
        status_after="pending",
    )


def delete(actor: Actor, task_id: str) -> None:
    """Delete a finished (completed, dead or cancelled) task's record."""
    task = get_task(task_id)
    ((before, done),) = get_broker().delete(task.queue, [task.id])
    if not done:
        raise InvalidTransition(task.id, "delete", before)
    _advance(task.queue)
    record(actor, A.DELETE, queue=task.queue, task_id=task.id, status_before=before)


def bulk(actor: Actor, action: str, task_ids: Sequence[str]) -> BulkResult:
    """Apply cancel, retry or delete to many tasks; one audit event with the count."""
    ids = _check_ids(task_ids)
    broker, result = get_broker(), BulkResult()
    if action not in BULK_ACTIONS:
        raise ValidationError(f"action must be cancel, retry or delete, not {action!r}.")
    for queue, group in _by_queue(ids, result).items():
        if action == "cancel":
            outcomes = [_try_cancel(broker, queue, task_id) for task_id in group]
        elif action == "retry":
            outcomes = broker.requeue(queue, group)
        else:
            outcomes = broker.delete(queue, group)
        _advance(queue)
        for task_id, (before, done) in zip(group, outcomes, strict=True):
            if done:
                result.done.append(task_id)
            else:
                result.skipped[task_id] = before
    if result.done:
        single = result.done[0] if len(result.done) == 1 else ""
        record(
            actor,
            action,
            task_id=single,
            count=len(result.done),
            detail={"ids": result.done[:MAX_IDS], "skipped": result.skipped},
        )
    return result


def _try_cancel(broker, queue: str, task_id: str) -> Moved:
    try:
        _, before = broker.cancel(queue, task_id)
    except InvalidTransition as exc:
        return Moved(exc.status, False)
    return Moved(before, True)


def _check_ids(task_ids) -> list[str]:
    if not isinstance(task_ids, (list, tuple)) or not all(isinstance(i, str) for i in task_ids):
        raise ValidationError("ids must be a list of task id strings.", field="ids")
    if len(task_ids) > MAX_IDS:
        raise ValidationError(f"at most {MAX_IDS} ids at a time, not {len(task_ids)}.", field="ids")
    bad = next((i for i in task_ids if not 0 < len(i) <= 64 or not i.isprintable()), None)
    if bad is not None:
        raise ValidationError(f"{bad[:64]!r} is not a task id.", field="ids")
    return list(dict.fromkeys(task_ids))


def _by_queue(ids: Sequence[str], result: BulkResult) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    broker = get_broker()
    for task_id in ids:
        addressable = task_id.isprintable() and len(task_id) <= 64
        found = broker.find(task_id, LISTED) if addressable else None
        if found is None:
            result.skipped[task_id] = "missing"
        else:
            groups.setdefault(found.queue, []).append(task_id)
    return groups


def _known_queue(queue: str) -> str:
    """A configured or used queue: acting on a new name would create the queue."""
    if validate_queue_name(queue) not in get_broker().known_queues():
        raise QueueDoesNotExist(queue)
    return queue


def purge_queue(actor: Actor, queue: str) -> int:
    """Delete every pending task of a queue, whatever arrived last; returns how many.
    An operator's purge confirms first (confirm_purge, then purge_confirmed)."""
    count = get_broker().purge_pending(_known_queue(queue))
    record(actor, A.PURGE_QUEUE, queue=queue, count=count, status_before="pending")
    return count


def confirm_purge(queue: str) -> Confirmation:
    """Note the queue's pending tasks (the head of its line, CONFIRM_MAX at most per
    sub-queue) for a purge to confirm; changes nothing else."""
    token = new_token()
    noted = get_broker().note_pending(_known_queue(queue), token)
    return Confirmation(token if noted.count else None, noted.count, noted.total)


def purge_confirmed(actor: Actor, queue: str, token: object) -> Confirmed:
    """Delete the pending tasks noted under `token` that are still pending, and no task
    that arrived since. ValidationError when the token is unknown, expired or used."""
    broker, token = get_broker(), _token(token)
    if not broker.confirmed(_known_queue(queue), token):
        raise _expired()
    purged = broker.purge_confirmed(queue, token)
    confirmed = purged.deleted + sum(purged.gone.values())
    record(
        actor,
        A.PURGE_QUEUE,
        queue=queue,
        count=purged.deleted,
        filter={"confirmation": token, "confirmed": confirmed},
        status_before="pending",
        detail={"not_pending": purged.gone},
    )
    return Confirmed(purged.deleted, confirmed, purged.gone)


def new_token() -> str:
    return uuid.uuid4().hex


def _token(token: object) -> str:
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        raise ValidationError(
            "confirmation must be the token a count returned.", field="confirmation"
        )
    return token


def _expired() -> ValidationError:
    message = "This confirmation has expired or was used already: count again."
    return ValidationError(message, field="confirmation")


def pause(actor: Actor, queue: str) -> bool:
    """Stop workers claiming from a queue; returns whether it was paused already."""
    was = get_broker().set_paused(_known_queue(queue), True)
    record(actor, A.PAUSE, queue=queue, count=0)
    return was


def control_worker(actor: Actor, worker_id: object, command: object) -> WorkerInfo:
    """Tell a live worker to go quiet (claim nothing more, finish what it runs) or to
    stop (as SIGTERM: graceful, within its --grace); it obeys within a second. Returns
    the worker's registry entry as it was; ValidationError for an unknown command, or
    a worker that is not registered or is lost (nobody would hear it)."""
    if command not in WORKER_COMMANDS:
        raise ValidationError(
            f"command must be one of {', '.join(WORKER_COMMANDS)}.", field="command"
        )
    info = _live_worker(worker_id)
    broker = get_broker()
    broker.control_worker(info.id, command, actor.name, broker.time_ms())
    action = A.QUIET_WORKER if command == "quiet" else A.STOP_WORKER
    detail = {"worker": info.id, "name": info.name, "host": info.host, "pid": info.pid}
    record(actor, action, count=0, status_before=info.state, detail=detail)
    return info


def _live_worker(worker_id: object) -> WorkerInfo:
    if not isinstance(worker_id, str) or not 0 < len(worker_id) <= 300:
        raise ValidationError("worker must be a worker's id.", field="worker")
    found = [w for w in get_broker().workers() if w.id == worker_id]
    if not found:
        raise ValidationError("no worker with that id is registered.", field="worker")
    if found[0].lost:
        raise ValidationError("that worker is lost: nobody would hear it.", field="worker")
    return found[0]


def resume(actor: Actor, queue: str) -> bool:
    """Let workers claim from a queue again; returns whether it was paused."""
    was = get_broker().set_paused(_known_queue(queue), False)
    record(actor, A.RESUME, queue=queue, count=0)
    return was


def requeue_dead(
    actor: Actor,
    *,
    ids=None,
    flt: TaskFilter | None = None,
    to_queue: str | None = None,
    dry_run: bool = False,
) -> int:
    """Requeue dead letters, chosen by ids or by a filter (queue, name, exception),
    optionally into another queue. dry_run: count only, change nothing."""
    selected = _dead_selection(ids, flt)
    if to_queue is not None:
        validate_queue_name(to_queue, field="to_queue")
    total = sum(len(group) for group in selected.values())
    if dry_run or not total:
        return total
    done, new_ids = [], []
    for queue, group in selected.items():
        if to_queue is None or to_queue == queue:
            moved = get_broker().requeue(queue, group, only=DEAD)
            done += [i for i, m in zip(group, moved, strict=True) if m.done]
        else:
            pairs = _move_dead(queue, group, to_queue)
            done += [old for old, _ in pairs]
            new_ids += [new for _, new in pairs]
        _advance(queue)
    moved = len(done)
    record(
        actor,
        A.REQUEUE_DEAD,
        task_id=_single(selected),
        queue=to_queue or _one_queue(selected),
        count=moved,
        filter=_describe(ids, flt, to_queue),
        status_before="dead",
        status_after="pending",
        detail=_acted_on(done, new_ids),
    )
    return moved


def purge_dead(
    actor: Actor, *, ids=None, flt: TaskFilter | None = None, dry_run: bool = False
) -> int:
    """Delete dead letters chosen by ids or by a filter. dry_run: count only."""
    selected = _dead_selection(ids, flt)
    total = sum(len(group) for group in selected.values())
    if dry_run or not total:
        return total
    done = [
        task_id
        for queue, group in selected.items()
        for task_id, m in zip(group, get_broker().delete(queue, group, only=DEAD), strict=True)
        if m.done
    ]
    for queue in selected:
        _advance(queue)
    record(
        actor,
        A.PURGE_DEAD,
        task_id=_single(selected),
        queue=_one_queue(selected),
        count=len(done),
        filter=_describe(ids, flt, None),
        status_before="dead",
        detail=_acted_on(done, []),
    )
    return len(done)


def confirm_dead(
    token: str | None = None, *, ids=None, flt: TaskFilter | None = None
) -> Confirmation:
    """Note the dead letters chosen by ids or by a filter for a requeue or purge to
    confirm (requeue_confirmed, purge_dead_confirmed). `token`: add to the noting of an
    earlier call (a user limited to queues notes one part per queue)."""
    token = new_token() if token is None else _token(token)
    selected, broker = _dead_selection(ids, flt), get_broker()
    for queue, group in selected.items():
        broker.note_ids(queue, token, group)
    count = sum(len(group) for group in selected.values())
    return Confirmation(token if count else None, count, count)


def requeue_confirmed(
    actor: Actor, token: object, *, queues: Iterable[str] | None = None, to_queue=None
) -> Confirmed:
    """Requeue the dead letters noted under `token` (in `queues`, else in any queue)
    that are still dead; the others are counted by their status now."""
    token = _token(token)
    if to_queue is not None:
        validate_queue_name(to_queue, field="to_queue")
    selected = _take_confirmed(token, queues)
    before: dict[str, str] = {}  # id -> its status when acted on (or just before)
    done, new_ids = [], []
    for queue, group in selected.items():
        if to_queue is None or to_queue == queue:
            moved = get_broker().requeue(queue, group, only=DEAD)
            before |= {i: m.before for i, m in zip(group, moved, strict=True)}
            done += [i for i, m in zip(group, moved, strict=True) if m.done]
        else:
            before |= _statuses(queue, group)
            pairs = _move_dead(queue, group, to_queue)
            done += [old for old, _ in pairs]
            new_ids += [new for _, new in pairs]
        _advance(queue)
    result = _confirmed(done, before)
    _record_confirmed(actor, A.REQUEUE_DEAD, token, selected, (done, new_ids), result, to_queue)
    return result


def purge_dead_confirmed(actor: Actor, token: object, *, queues=None) -> Confirmed:
    """Delete the dead letters noted under `token` that are still dead."""
    selected = _take_confirmed(_token(token), queues)
    before: dict[str, str] = {}  # id -> its status when acted on
    for queue, group in selected.items():
        moved = get_broker().delete(queue, group, only=DEAD)
        before |= {i: m.before for i, m in zip(group, moved, strict=True)}
        _advance(queue)
    done = [i for i, status in before.items() if status == Status.DEAD]
    result = _confirmed(done, before)
    _record_confirmed(actor, A.PURGE_DEAD, token, selected, (done, []), result, None)
    return result


def _take_confirmed(token: str, queues) -> dict[str, list[str]]:
    """queue -> the ids noted under `token` (taken: a second action finds none)."""
    broker, selected = get_broker(), {}
    known = broker.known_queues()
    for queue in known if queues is None else [q for q in queues if q in known]:
        while batch := broker.take_ids(queue, token):
            selected.setdefault(queue, []).extend(batch)
    if not selected:
        raise _expired()
    return selected


def _statuses(queue: str, ids: list[str]) -> dict[str, str]:
    """id -> its status now ('missing': no record)."""
    records = get_broker().records(queue, ids)
    return {
        i: str(r.status) if r is not None else "missing" for i, r in zip(ids, records, strict=True)
    }


def _confirmed(done: list[str], before: dict[str, str]) -> Confirmed:
    acted, skipped = set(done), {}
    for task_id, status in before.items():
        if task_id not in acted:
            skipped[status] = skipped.get(status, 0) + 1
    return Confirmed(len(done), len(before), skipped, done)


def _record_confirmed(actor, action, token, selected, ids, result, to_queue) -> None:
    """One audit event: the token and the count confirmed (the bound), the count done,
    the ids acted on and the statuses of the confirmed tasks it no longer applied to."""
    done, new_ids = ids
    record(
        actor,
        action,
        task_id=_single(selected),
        queue=to_queue or _one_queue(selected),
        count=result.done,
        filter={"confirmation": token, "confirmed": result.confirmed}
        | ({"to_queue": to_queue} if to_queue else {}),
        status_before="dead",
        status_after="pending" if action == A.REQUEUE_DEAD else "",
        detail=_acted_on(done, new_ids) | {"not_dead": result.skipped},
    )


def _dead_selection(ids, flt: TaskFilter | None) -> dict[str, list[str]]:
    """queue -> dead task ids, from explicit ids or from a filter (never both)."""
    if (ids is None) == (flt is None):
        raise ValidationError("give either ids or a filter.", field="ids")
    broker = get_broker()
    if ids is not None:
        result = BulkResult()
        groups = _by_queue(_check_ids(ids), result)
        dead = {
            q: [r.id for r in broker.records(q, g) if r and r.status == Status.DEAD]
            for q, g in groups.items()
        }
        return {q: g for q, g in dead.items() if g}
    names = [validate_queue_name(flt.queue)] if flt.queue else broker.known_queues()
    selected = {}
    for queue in names:
        ids_in_queue = [e.id for e in broker.entries(queue, Status.DEAD, chunk=500)]
        if flt.name or flt.exception:
            summaries = broker.summaries(queue, ids_in_queue)
            ids_in_queue = [
                i
                for i, s in zip(ids_in_queue, summaries, strict=True)
                if s is not None and flt.matches("dead", s.name, s.error_type)
            ]
        if ids_in_queue:
            selected[queue] = ids_in_queue
    return selected


def _move_dead(queue: str, ids: list[str], to_queue: str) -> list[tuple[str, str]]:
    """Re-create dead tasks in another queue, then delete the originals; returns the
    (old id, new id) of each task moved. The idempotency key makes a repeated or
    concurrent move create one task; a crash between the two steps leaves a duplicate,
    never a loss."""
    broker = get_broker()
    records = [
        r for r in broker.records(queue, ids, None) if r is not None and r.status == Status.DEAD
    ]
    stored = broker.payloads(queue, [r.id for r in records])
    copies = [_copy(r, to_queue, p) for r, p in zip(records, stored, strict=True)]
    if not copies:
        return []
    placed = broker.enqueue(copies)
    moved = broker.delete(queue, [r.id for r in records], only=DEAD)
    return [
        (r.id, new_id)
        for r, (new_id, _), m in zip(records, placed, moved, strict=True)
        if m.before == Status.DEAD
    ]


def _acted_on(done: list[str], new_ids: list[str]) -> dict:
    """The audit detail naming the tasks a DLQ action touched (the first DETAIL_IDS)."""
    detail: dict = {"ids": done[:DETAIL_IDS]}
    if new_ids:
        detail["new_ids"] = new_ids[:DETAIL_IDS]
    if len(done) > DETAIL_IDS:
        detail["ids_truncated"] = True
    return detail


def _copy(r, to_queue: str, stored: Payload) -> NewTask:
    """The dead task as a new one in `to_queue`: its name and JSON fields exactly as
    stored (whatever they hold: the worker judges them again), its numbers where they
    are valid and the defaults where not."""
    priority = r.priority if r.priority in range(MIN_PRIORITY, MAX_PRIORITY + 1) else None
    priority = priority or DEFAULT_PRIORITY
    band = r.band if r.band in range(MAX_LEVEL + 1) else band_of(level_of(priority))
    retries = r.max_retries if r.max_retries in range(MAX_RETRIES_LIMIT + 1) else 0
    return NewTask(
        id=str(uuid.uuid4()),
        name=stored.name,
        queue=to_queue,
        args=stored.args or "[]",
        kwargs=stored.kwargs or "{}",
        priority=priority,
        band=band,
        max_retries=retries,
        timeout=r.timeout if r.timeout is not None and r.timeout > 0 else None,
        idempotency_key=f"requeue:{r.id}",
        meta=stored.meta,
    )


def _single(selected: dict[str, list[str]]) -> str:
    ids = [i for group in selected.values() for i in group]
    return ids[0] if len(ids) == 1 else ""


def _one_queue(selected: dict[str, list[str]]) -> str:
    return next(iter(selected)) if len(selected) == 1 else ""


def _describe(ids, flt: TaskFilter | None, to_queue: str | None) -> dict:
    described = (
        {"ids": list(ids)[:MAX_IDS]}
        if ids is not None
        else {
            k: v
            for k, v in (("queue", flt.queue), ("name", flt.name), ("exception", flt.exception))
            if v
        }
    )
    if to_queue:
        described["to_queue"] = to_queue
    return described


# -- workflows (docs/workflows.md) ----------------------------------------------------


@dataclass
class WorkflowCancelled:
    status_before: str
    cancelled: int  # tasks cancelled now (running ones are asked to stop)


def enqueue_workflow(actor: Actor, graph, *, name: str, on_failure: str, idempotency_key=None):
    """Submit a workflow (the API's way in); audited when created."""
    with workflows_submit.collector_paused():
        handle = workflows_submit.submit(graph, name, on_failure, idempotency_key)
    if handle.created:
        record(
            actor,
            A.ENQUEUE_WORKFLOW,
            count=len(handle.tasks),
            status_after="running",
            detail={"workflow": handle.id, "name": name},
        )
    return handle


def cancel_workflow(workflow_id: str, actor: Actor | None) -> WorkflowCancelled:
    """Cancel a workflow: nothing more of it starts, what has not run is cancelled, a
    running task is asked to stop. WorkflowDoesNotExist; WorkflowCompleted (an
    InvalidTransition). Audited (actor None: recorded as the system)."""
    before, cancelled = workflows_handle.cancel_workflow(workflow_id)
    record(
        actor or Actor.system(),
        A.CANCEL_WORKFLOW,
        count=cancelled,
        status_before=before,
        status_after="cancelled",
        detail={"workflow": workflow_id},
    )
    return WorkflowCancelled(before, cancelled)


def _advance(queue: str) -> None:
    """Apply at once what an action on a workflow's task wrote to its queue's outbox
    (its children start or are cancelled); the workers' sweep would, within seconds."""
    broker = get_broker()
    broker.advance(broker.shards.of(queue))
