"""The operations of workflows (docs/workflows.md): submitting one, applying what its
tasks report through their queues' outboxes, cancelling one.

A workflow's state lives in its own slot ({wf:<id>}); its tasks live in their queues'
slots. No script spans both: a task's change appends to its queue's outbox in the
same script (common.lua's notify); `advance` then applies the entries in each
workflow's slot, starts (start_waiting) or cancels (cancel_nodes) the children it
names in their queues, and only then deletes the entries. A crash anywhere in between
leaves the entries, and applying them again is harmless (each step is idempotent), so
a child starts exactly once and no completion is ever skipped.

When the workflow's keys share a task's slot (always on one Redis; on a cluster, a
one-queue workflow's id is chosen so: workflow_id_near), a completion that only counts
(a group's member but its last) is applied by complete_tasks itself, with no entry
(lua/includes/in_place.lua).
"""

import functools
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from redis.crc import key_slot
from redis.exceptions import ResponseError

from ..errors import DamagedKey
from ..priority import BAND_WIDTH
from ..records import NewTask, NewWorkflow
from ..text import as_text
from .codec import new_task_argv
from .damage import QUARANTINE_TTL_S
from .errors import engine_error
from .keys import is_queue_name, slot_mate
from .requests import Commands, Plan, ScriptCall, batch, commands, every, operation, script

log = logging.getLogger("taskqueue.broker")

ENQUEUE_CHUNK = 1000  # tasks per enqueue call when a workflow's tasks are created
FIRST_CHUNK = 50  # the first call of each queue: its first tasks can start sooner
TASKS_FIELD = "all"  # the field of the :tasks hash (submit_workflow.lua)
TASK_ROW = 16  # a task kept for resuming: its storage queue, then new_task_argv's 15 values
NOTIFY = 14  # where a task row holds its notify JSON
OUTBOX_BATCH = 100  # outbox entries applied per round
SWEEP_AGE_MS = 2000  # the sweep leaves younger entries to the worker that wrote them


_stamp_lock = threading.Lock()
_last_stamp = 0.0


def index_stamp(now: float | None) -> float:
    """The workflow index's score: created-at in epoch ms, nudged up by 1/1024 ms past
    this process's previous one, so workflows made within one millisecond still list
    newest first (equal scores would order by their random ids)."""
    global _last_stamp
    stamp = now if now is not None else time.time() * 1000
    with _stamp_lock:
        if stamp <= _last_stamp:
            stamp = _last_stamp + 1 / 1024
        _last_stamp = stamp
    return stamp


class Submitted(NamedTuple):
    id: str
    created: bool  # False: a workflow with this id existed (the same submission again)
    status: str
    rebound: dict[str, str] = {}  # node -> the existing task its idempotency key named


class Advanced(NamedTuple):
    applied: int  # outbox entries applied and deleted
    started: int  # children started now
    cancelled: int  # tasks cancelled now
    finished: int  # workflows that finished now
    left: tuple[str, ...] = ()  # queues that may hold more when the rounds ran out


class WorkflowOperations:
    """Mixed into Operations (needs keys, shards, config, _call)."""

    def _workflow_call(self, workflow_id: str, name: str, argv: list, parse) -> ScriptCall:
        w = self.keys.workflow(workflow_id)
        return ScriptCall(name, w.all(), [w.base, *argv], parse, heals=False)

    @operation
    def submit_workflow(self, wf: NewWorkflow, *, now: int | None = None) -> Plan[Submitted]:
        """Write the workflow whole in its slot, then create its tasks in their queues
        (the waiting ones first, so a root that completes at once finds its children),
        then attach existing tasks it depends on. A submission cut short (the caller
        died, Redis went away) is finished by resume_workflow: the same submission sent
        again, or any worker's sweep."""
        placed = {n.key: self._place(n.task) for n in wf.nodes}
        own = {
            n.key: self._task_row(wf.id, placed[n.key], n.task) for n in wf.nodes if not n.external
        }
        argv = ["" if now is None else now, wf.id, wf.name, wf.on_failure, len(wf.nodes)]
        argv.append(json.dumps(own) if own else "")
        spec = SpecJSON()
        waiting = [n for n in wf.nodes if n.parents]
        argv.append(len(waiting))
        for n in waiting:
            node_spec = spec(placed[n.key], n.task.id, n.feed, n.children)
            argv += [n.key, node_spec, len(n.parents), n.task.args, json.dumps(n.parents)]
        for n in wf.nodes:
            if not n.parents:
                argv += [n.key, spec(placed[n.key], n.task.id, n.feed, n.children)]
        yield from self._track_submission(wf.id, now)
        reply = yield from script(self._workflow_call(wf.id, "submit_workflow", argv, list))
        if reply[0] == "exists":
            if reply[2] != "1":
                yield from self.resume_workflow.call(wf.id, now=now)
            return Submitted(wf.id, False, reply[1])
        yield from self._index_workflow(wf.id, now)
        yield from self.register_queues.call({n.task.queue for n in wf.nodes if not n.external})
        externals = [(n.key, n.task.id, placed[n.key]) for n in wf.nodes if n.external]
        rebound = yield from self._materialize(wf.id, own, externals, now)
        return Submitted(wf.id, True, "running", rebound)

    @operation
    def resume_workflow(self, workflow_id: str, *, now: int | None = None) -> Plan[str]:
        """Finish a submission cut short: create the tasks it had not created yet (each
        is made once: a task that exists is left as it is). 'resumed', 'done' (nothing
        was left to do) or 'missing' (it was never written: nothing of it exists)."""
        w = self.keys.workflow(workflow_id)

        def read(pipe) -> None:
            pipe.hget(w.info, "materialized")
            pipe.hget(w.tasks, TASKS_FIELD)
            pipe.hgetall(w.spec)

        materialized, tasks, spec = yield from commands(Commands(read))
        if materialized is None or materialized == "1":
            yield from self._untrack_submission(workflow_id)
            return "missing" if materialized is None else "done"
        own = _loads(tasks) if tasks else {}
        own = own if isinstance(own, dict) else {}
        own = {key: v for key, v in own.items() if isinstance(v, list) and len(v) == TASK_ROW}
        externals = []
        for key, text in spec.items():
            s = _loads(text)
            if key not in own and isinstance(s, dict):
                externals.append((key, str(s.get("id", "")), str(s.get("q", ""))))
        yield from self._index_workflow(workflow_id, now, count=False)
        yield from self._materialize(workflow_id, own, externals, now)
        return "resumed"

    @operation
    def resume_submissions(self, *, older_than_ms: int = 30_000, limit: int = 10) -> Plan[int]:
        """Resume submissions started more than `older_than_ms` ago and never finished
        (their submitter died): how many."""
        cutoff = int(time.time() * 1000) - older_than_ms
        key = self.keys.workflow_submissions
        read = Commands(lambda pipe: pipe.zrangebyscore(key, "-inf", cutoff, start=0, num=limit))
        ids = (yield from self._global({key: "zset"}, read))[0]
        for workflow_id in ids:
            if _valid_workflow_id(workflow_id):
                yield from self.resume_workflow.call(workflow_id)
            else:
                yield from self._untrack_submission(workflow_id)
        return len(ids)

    def _materialize(self, workflow_id: str, own: dict, externals: list, now) -> Plan:
        """Create the workflow's own tasks (waiting ones first), bind nodes whose
        idempotency key named an existing task, attach existing tasks, then mark it
        materialized: node -> existing task id for the nodes bound so."""
        rebound: dict[str, str] = {}
        for waiting in ("1", ""):
            nodes = [(key, v) for key, v in own.items() if v[13] == waiting]
            replies = yield from self._create([v for _, v in nodes], now)
            for (key, v), (task_id, _) in zip(nodes, replies, strict=True):
                if task_id != v[1]:  # its idempotency key named an existing task
                    rebound[key] = task_id
                    argv = [key, task_id]
                    yield from script(self._workflow_call(workflow_id, "rebind_node", argv, int))
        watched = externals + [(key, task_id, own[key][0]) for key, task_id in rebound.items()]
        outcomes = []
        for key, task_id, storage in watched:
            status, result = yield from script(self._watch_call(workflow_id, key, task_id, storage))
            if status in ("completed", "dead", "cancelled", "missing"):
                status = "deleted" if status == "missing" else status
                outcomes += [key, task_id, status, result]
        if outcomes:
            yield from self._apply({workflow_id: outcomes}, now)
        mark = ["" if now is None else now, workflow_id, "", "", "", ""]
        yield from script(self._workflow_call(workflow_id, "submit_workflow", mark, list))
        yield from self._untrack_submission(workflow_id)
        return rebound

    def _track_submission(self, workflow_id: str, now) -> Plan:
        stamp = now if now is not None else int(time.time() * 1000)
        key = self.keys.workflow_submissions
        add = Commands(lambda pipe: pipe.zadd(key, {workflow_id: stamp}, nx=True))
        yield from self._global({key: "zset"}, add)

    def _untrack_submission(self, workflow_id: str) -> Plan:
        key = self.keys.workflow_submissions
        yield from self._global({key: "zset"}, Commands(lambda pipe: pipe.zrem(key, workflow_id)))

    def workflow_id_near(self, workflow_id: str, queues: Iterable[str]) -> str:
        """The id to give a new workflow whose own tasks go to `queues`: on a Redis
        Cluster, when that is one queue (not sharded), `workflow_id` with a suffix that
        puts its keys in the queue's slot (keys.slot_mate), so its members' completions
        are applied in place (lua/includes/in_place.lua) as on one Redis; else as is."""
        names = set(queues)
        if not self.cluster or len(names) != 1:
            return workflow_id
        (queue,) = names
        if not is_queue_name(queue) or self.shards.is_sharded(queue):
            return workflow_id  # a queue name refused later, with its error
        return slot_mate(workflow_id, _slot(self.keys.queue(queue).base))

    def _task_row(self, workflow_id: str, storage: str, task: NewTask) -> list:
        """[storage queue, enqueue_tasks values...]. When the workflow's keys share the
        queue's slot (always on one Redis), its notify pair gets a third value, 1: the
        task's completion may then be applied by the script that records it
        (lua/includes/in_place.lua)."""
        row = [storage, *new_task_argv(task)]
        if row[NOTIFY] and self._shares_slot(workflow_id, storage):
            row[NOTIFY] = row[NOTIFY].removesuffix("]]") + ",1]]"
        return row

    def _shares_slot(self, workflow_id: str, storage: str) -> bool:
        if not self.cluster:
            return True
        return _slot(self.keys.workflow(workflow_id).base) == _slot(self.keys.queue(storage).base)

    def _place(self, task: NewTask) -> str:
        if not self.shards.is_sharded(task.queue):
            return task.queue
        return self.shards.place(task)

    def _create(self, tasks: Sequence[list], now) -> Plan[list]:
        """Create tasks, [storage queue, enqueue_tasks values...] each, in their queues:
        an Enqueued each, in order. Each queue's first (small) call goes in a round trip
        of its own: the rest of a 10,000-task submission takes ~20 ms to pack, and its
        first tasks would wait for that before Redis saw them. The rest go one call per
        round trip: sent as one pipeline, Redis ran them back to back (~25 ms each)
        while every other client waited, the workers draining the first tasks too
        (a PING during a 10,000-member chord's submission took up to 344 ms; one call
        at a time, 47 ms at most)."""
        by_queue: dict[str, list[int]] = {}
        for i, task in enumerate(tasks):
            by_queue.setdefault(task[0], []).append(i)
        first: list[tuple[str, list[int]]] = []  # (queue, positions): each queue's first call
        rest: list[tuple[str, list[int]]] = []
        for name, positions in by_queue.items():
            bounds = _chunks(len(positions))
            first += [(name, positions[a:b]) for a, b in bounds[:1]]
            rest += [(name, positions[a:b]) for a, b in bounds[1:]]
        out: list = [None] * len(tasks)
        for part in [first] + [[call] for call in rest]:
            calls = [
                self._enqueue_argv_call(name, [tasks[i][1:] for i in chunk], now)
                for name, chunk in part
            ]
            replies = every((yield from batch(calls))) if calls else []
            for (_, chunk), reply in zip(part, replies, strict=True):
                for i, answer in zip(chunk, reply, strict=True):
                    out[i] = answer
        return out

    def _watch_call(self, workflow_id: str, node: str, task_id: str, storage: str) -> ScriptCall:
        argv = [task_id, workflow_id, node]
        return self._call("watch_task", storage, ("events",), argv, list)

    def _index_workflow(self, workflow_id: str, now, *, count: bool = True) -> Plan:
        stamp = index_stamp(now)

        def add(pipe) -> None:
            pipe.zadd(self.keys.workflows, {workflow_id: stamp}, nx=True)
            if count:
                pipe.hincrby(self.keys.workflow_stats, "created", 1)

        wanted = {self.keys.workflows: "zset", self.keys.workflow_stats: "hash"}
        yield from self._global(wanted, Commands(add))

    # -- applying outbox entries -------------------------------------------------------

    @operation
    def advance(
        self,
        queues: Iterable[str],
        *,
        min_age_ms: int = 0,
        rounds: int = 20,
        now: int | None = None,
    ) -> Plan[Advanced]:
        """Apply the outbox entries of these (storage) queues, and of the queues whose
        tasks that cancels, a batch per queue per round: how much it did. `min_age_ms`
        leaves entries younger than that (the sweep: their writer is applying them).
        Every queue's outbox is read in one round trip. A queue whose entries were
        applied is read again, in the round trip that deletes them: a busy worker's
        new entries are applied in two round trips a round, not three. A queue whose
        outbox could not be read is left for the others to go on; then the first such
        error is raised. When the rounds run out, `left` names the queues that may
        hold more (a busy worker applies one round a call: advancing.py)."""
        todo = list(dict.fromkeys(queues))
        totals = [0, 0, 0, 0]
        failed: list[Exception] = []
        applied: dict[str, list] = {}  # queue -> ids of the entries applied, to delete
        for _ in range(rounds):
            if not todo:
                break
            read = yield from self._read_outboxes(todo, min_age_ms, applied)
            applied, touched = {}, []
            for queue, entries in read:
                if isinstance(entries, Exception):
                    failed.append(entries)
                elif entries:
                    done, more = yield from self._advance_queue(queue, entries, now)
                    totals = [a + b for a, b in zip(totals, done, strict=True)]
                    applied[queue] = [entry_id for entry_id, _ in entries]
                    touched += [queue, *more]
            todo = list(dict.fromkeys(touched))
        if applied:  # the last round's, when the rounds ran out
            yield from self._delete_entries(applied)
        if failed:
            raise failed[0]
        return Advanced(*totals, left=tuple(todo))

    def _read_outboxes(self, queues: Sequence[str], min_age_ms: int, applied: dict) -> Plan[list]:
        """Delete the entries `applied` (queue -> ids), then read a batch of each queue's
        outbox, in one round trip: (queue, its entries or the engine's exception for
        the error its read met) for each."""
        outboxes = [self.keys.queue(queue).outbox for queue in queues]
        newest = "+" if not min_age_ms else str(int(time.time() * 1000) - min_age_ms)

        def read(pipe):
            self._queue_deletes(pipe, applied)
            for outbox in outboxes:
                pipe.xrange(outbox, "-", newest, count=OUTBOX_BATCH)

        replies = (yield Commands(read))[len(applied) :]
        return [
            (queue, engine_error(reply) if isinstance(reply, ResponseError) else reply)
            for queue, reply in zip(queues, replies, strict=True)
        ]

    def _delete_entries(self, applied: dict) -> Plan:
        yield from commands(Commands(lambda pipe: self._queue_deletes(pipe, applied)))

    def _queue_deletes(self, pipe, applied: dict) -> None:
        for queue, ids in applied.items():
            pipe.xdel(self.keys.queue(queue).outbox, *ids)

    def _advance_queue(self, queue: str, entries: list, now) -> Plan:
        """Apply one batch of one queue's outbox (the caller deletes the entries):
        ((applied, started, cancelled, finished), queues whose outbox got entries)."""
        by_workflow: dict[str, list] = {}
        for _entry_id, f in entries:
            by_workflow.setdefault(f.get("wf", ""), []).extend(
                [f.get("node", ""), f.get("id", ""), f.get("status", ""), f.get("result", "")]
            )
        valid = {w: o for w, o in by_workflow.items() if _valid_workflow_id(w)}
        started, cancelled, finished, again = yield from self._apply(valid, now)
        return (len(entries), started, cancelled, finished), again

    def _apply(self, outcomes: dict[str, list], now) -> Plan:
        """Apply each workflow's entries (workflow id -> its entries' values), then start
        and cancel what they name, a round trip for each step whatever the number of
        workflows: (started, cancelled, finished, queues that got new entries)."""
        argv = ["" if now is None else now, self.config.RESULT_TTL]
        calls = [
            self._workflow_call(workflow_id, "advance_workflow", [*argv, *values], list)
            for workflow_id, values in outcomes.items()
        ]
        replies = (yield from batch(calls)) if calls else []
        for i, (workflow_id, reply) in enumerate(zip(outcomes, replies, strict=True)):
            if isinstance(reply, DamagedKey):  # that workflow's alone: the others go on
                replies[i] = yield from self._advance_damaged(workflow_id, calls[i], reply)
        every(replies)
        starts = {w: start for w, (start, _, _) in zip(outcomes, replies, strict=True) if start}
        stops = {w: stop for w, (_, stop, _) in zip(outcomes, replies, strict=True) if stop}
        started = yield from self._start(starts, now)
        cancelled, touched = yield from self._stop(stops, now)
        completed = sum(1 for _, _, finished in replies if finished == "completed")
        if completed:
            bump = Commands(
                lambda pipe: pipe.hincrby(self.keys.workflow_stats, "completed", completed)
            )
            yield from self._global({self.keys.workflow_stats: "hash"}, bump)
        finished = sum(1 for _, _, finished in replies if finished)
        return started, cancelled, finished, touched

    def _advance_damaged(self, workflow_id: str, call: ScriptCall, exc: DamagedKey) -> Plan:
        """A workflow whose keys had the wrong type when its entries were applied: the
        keys moved aside and the entries applied again; when that fails too, the entries
        are logged and dropped with the batch, so that one workflow written over by
        someone else cannot hold up every other workflow of its queues."""
        try:
            return (yield from self._healed(workflow_id, call, exc))
        except DamagedKey as again:
            log.error(
                "workflow %s: its Redis keys have the wrong type (%s); %d outbox entries "
                "for it were dropped",
                workflow_id,
                again,
                (len(call.args) - 3) // 4,
            )
            return [], [], ""

    def _workflow_script(self, workflow_id: str, call: ScriptCall) -> Plan:
        """Run a workflow's script; when its keys have the wrong type, move them aside
        and run it once more (DamagedKey when that fails too)."""
        try:
            return (yield from script(call))
        except DamagedKey as exc:
            return (yield from self._healed(workflow_id, call, exc))

    def _healed(self, workflow_id: str, call: ScriptCall, exc: DamagedKey) -> Plan:
        if not (yield from self._heal_workflow(workflow_id, exc.keys)):
            raise exc
        return (yield from script(call))

    def _heal_workflow(self, workflow_id: str, keys: Sequence[str]) -> Plan[bool]:
        """Move aside those of a workflow's keys (all hashes) that have another type,
        beside it in its slot: whether one was moved."""
        w = self.keys.workflow(workflow_id)
        moved = False
        for key in set(keys) & set(w.all()):
            target = w.quarantine(key, int(time.time() * 1000))
            argv = ["hash", QUARANTINE_TTL_S]
            call = ScriptCall("quarantine_global_key", [key, target], argv, heals=False)
            found = yield from script(call)
            if found:
                log.warning(
                    "workflow %s: Redis key %r was a %s, not a hash: moved aside to %r "
                    "(kept %d days); what it held is lost to the workflow",
                    workflow_id, as_text(key), found, as_text(target), QUARANTINE_TTL_S // 86400,
                )  # fmt: skip
                yield Commands(lambda pipe: pipe.incr(self.keys.quarantined))
                moved = True
        return moved

    def _start(self, starts: dict[str, list], now) -> Plan[int]:
        """Start tasks: workflow id -> (storage queue, id, args JSON) flat, one call per
        workflow and queue (start_waiting checks the workflow owns each task)."""
        cfg = self.config
        calls = []
        for workflow_id, flat in starts.items():
            by_queue: dict[str, list] = {}
            for i in range(0, len(flat), 3):
                by_queue.setdefault(flat[i], []).extend([flat[i + 1], flat[i + 2]])
            for queue, pairs in by_queue.items():
                argv = ["" if now is None else now, cfg.EVENTS_MAXLEN, cfg.WAKE_MAX, BAND_WIDTH]
                argv.append(workflow_id)
                kinds = ("waiting", "pending", "scheduled", "seq", "wake", "events", "timer")
                calls.append(self._call("start_waiting", queue, kinds, [*argv, *pairs], list))
        replies = every((yield from batch(calls))) if calls else []
        return sum(sum(r) for r in replies)

    def _stop(self, stops: dict[str, list], now) -> Plan[tuple[int, list[str]]]:
        """Cancel tasks: workflow id -> (storage queue, id) flat: (how many were
        cancelled, the queues whose outbox that wrote to)."""
        calls, queues = [], []
        for workflow_id, flat in stops.items():
            by_queue: dict[str, list[str]] = {}
            for i in range(0, len(flat), 2):
                by_queue.setdefault(flat[i], []).append(flat[i + 1])
            for queue, ids in by_queue.items():
                calls.append(self._cancel_nodes_call(workflow_id, queue, ids, now))
                queues.append(queue)
        replies = every((yield from batch(calls))) if calls else []
        stoppable = ("waiting", "pending", "scheduled")
        counts = [sum(status in stoppable for status in r) for r in replies]
        touched = [q for q, n in zip(queues, counts, strict=True) if n]
        return sum(counts), list(dict.fromkeys(touched))

    def _cancel_nodes_call(self, workflow_id: str, queue: str, ids: list[str], now) -> ScriptCall:
        argv = ["" if now is None else now, self.config.RESULT_TTL, self.config.EVENTS_MAXLEN]
        argv.append(workflow_id)
        kinds = ("waiting", "pending", "scheduled", "cancelled", "events", "stats", "index")
        return self._call("cancel_nodes", queue, kinds, [*argv, *ids], list)

    # -- cancelling ----------------------------------------------------------------------

    @operation
    def cancel_workflow(self, workflow_id: str, *, now: int | None = None) -> Plan:
        """Cancel a workflow: (its status before, tasks cancelled now). 'missing' for an
        unknown workflow; a completed one is left alone."""
        argv = ["" if now is None else now, self.config.RESULT_TTL]
        before, stop = yield from self._workflow_script(
            workflow_id, self._workflow_call(workflow_id, "cancel_workflow", argv, list)
        )
        cancelled, touched = yield from self._stop({workflow_id: stop} if stop else {}, now)
        yield from self.advance.call(touched, now=now)
        return before, cancelled


def _chunks(n: int) -> list[tuple[int, int]]:
    """(start, end) of each enqueue call for n tasks of one queue: a small first one, so
    that the worker can claim the first tasks while Redis creates the rest."""
    bounds = [0, *range(min(n, FIRST_CHUNK), n, ENQUEUE_CHUNK), n]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


class SpecJSON:
    """A node's spec as JSON (workflow.lua), for many nodes: the queues' and the
    children lists' text is made once (a 10,000-member group shares one)."""

    def __init__(self):
        self._texts: dict = {}

    def __call__(self, queue: str, task_id: str, feed: str, children: list[str]) -> str:
        q, c = self._text(queue), self._text(tuple(children))
        return f'{{"q": {q}, "id": {_quote(task_id)}, "f": {_quote(feed)}, "c": {c}}}'

    def _text(self, value) -> str:
        text = self._texts.get(value)
        if text is None:
            plain = list(value) if isinstance(value, tuple) else value
            text = self._texts[value] = json.dumps(plain)
        return text


_quote = json.encoder.encode_basestring_ascii  # json.dumps of a str, without its setup


def _loads(text):
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # anyone may write any field
        return None


@functools.lru_cache(maxsize=1024)
def _slot(key_base: str) -> int:
    """A key base's cluster slot, worked out once: a submission asks it for every node
    (its workflow's and its queue's, the same few texts 10,000 times)."""
    return key_slot(key_base.encode())


def _valid_workflow_id(workflow_id: str) -> bool:
    return 0 < len(workflow_id) <= 64 and all(c.isalnum() or c == "-" for c in workflow_id)
