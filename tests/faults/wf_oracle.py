"""R14's oracle (test_r14_workflows.py): workflow shapes whose every node says what it
must be given, and a check of what ran (the ledger) and what Redis holds against them.

Shapes (`Shaper`): one workflow of exactly `size` nodes, either a chain of blocks built
with the canvas (chains, fan-outs, chords, diamonds, groups of chains, some immutable
steps) or a random DAG given to `workflow(nodes, edges)`. Nodes go round-robin over
the queues, so most edges cross queues (on a cluster: masters). Each node is
`wf_step(label, ms)` (tests/taskapp/workflow_fault_tasks.py), which returns its label:
a child's arguments then name the parents' results it was given, in order.

The check (`check`), once every workflow completed or the run stalled:

- lost: a node whose task is not completed in Redis, or that never ran to its end (no
  successful end in the ledger), or a workflow that is not completed. Must be 0.
- started early: a node whose first start (ledger) is not after a successful end of
  each of its parents. Must be 0.
- wrong args: a node whose arguments are not its own after exactly its parents'
  results, in order (one result, or the list of them after a group or several edges):
  a chord's callback must see its whole header. Must be 0.
- released twice: a node moved to pending (or scheduled) more than once, not counting
  the requeues of its lost or released attempts. The queue's event stream (every state
  change of a task, in order; EVENTS_MAXLEN raised so none is trimmed) counts the moves;
  the record's history (`h:<n>`, closed 'lost' / 'released' by the very script that
  emits that 'pending') counts the requeues; a child's first event must be 'waiting'.
  Exactly one release per node.
- double starts: two starts of one attempt of a task (ledger), or more starts than the
  record counts attempts: a claim that ran twice (a new claim bumps the attempt). Must
  be 0.
- extra runs: starts beyond one per node. At-least-once: a node whose worker was killed
  runs again; reported, not a failure.
- leftovers: anything still in a queue's waiting, pending, scheduled, active set or
  outbox after every workflow completed.
"""

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import redis

from taskqueue.errors import TaskQueueError
from taskqueue.workflows import chain, chord, group, workflow
from tests.taskapp.workflow_fault_tasks import wf_step

from .ledger import Ledger
from .oracle import history

IMMUTABLE_SHARE = 0.15  # of the steps that could take their parents' results
DAG_WINDOW = 8  # a DAG node's parents are among the 8 nodes before it
LEFT_KINDS = ("waiting", "pending", "scheduled", "active")


@dataclass(frozen=True)
class Node:
    label: str
    queue: str
    ms: int
    parents: tuple[str, ...]
    feed: str  # 'none', 'one' (its parent's result first), 'list' (all of them, in order)

    def expected_args(self) -> list:
        own = [self.label, self.ms]
        if self.feed == "one":
            return [self.parents[0], *own]
        if self.feed == "list":
            return [list(self.parents), *own]
        return own


class Shaper:
    """One workflow of exactly `size` nodes; `nodes` says what each must be given."""

    def __init__(self, name: str, size: int, queues, rng, ms=(5, 50)):
        self.name, self.size, self.queues, self.rng, self.ms = name, size, queues, rng, ms
        self.nodes: dict[str, Node] = {}

    def sig(self, parents, after_group: bool, immutable: bool = False):
        """A new node after `parents`: (its signature, its label)."""
        if immutable:
            feed = "none"
        elif after_group:
            feed = "list"
        else:
            feed = "one" if parents else "none"
        label = self._add(parents, feed)
        caller = wf_step.using(queue=self.nodes[label].queue)
        return (caller.si if immutable else caller.s)(label, self.nodes[label].ms), label

    def _add(self, parents, feed: str) -> str:
        label = f"{self.name}.{len(self.nodes)}"
        queue = self.queues[len(self.nodes) % len(self.queues)]
        self.nodes[label] = Node(label, queue, self.rng.randint(*self.ms), tuple(parents), feed)
        return label

    def _maybe_immutable(self) -> bool:
        return self.rng.random() < IMMUTABLE_SHARE

    # -- blocks: (parents, after a group?) -> (canvas, its last nodes, ends in a group?)
    def chain_of(self, k, parents, after_group):
        steps = []
        for _ in range(k):
            sig, label = self.sig(parents, after_group, self._maybe_immutable())
            steps.append(sig)
            parents, after_group = [label], False
        return chain(*steps), parents, False

    def fan_out(self, k, parents, after_group):
        sigs = [self.sig(parents, after_group) for _ in range(k)]
        return group(*(s for s, _ in sigs)), [label for _, label in sigs], True

    def chord_of(self, k, parents, after_group):
        header = [self.sig(parents, after_group) for _ in range(k - 1)]
        body, label = self.sig([h for _, h in header], True)
        return chord(group(*(s for s, _ in header)), body), [label], False

    def diamond(self, k, parents, after_group):
        top, a = self.sig(parents, after_group)
        middle = [self.sig([a], False) for _ in range(k - 2)]
        bottom, d = self.sig([m for _, m in middle], True)
        return chain(top, group(*(s for s, _ in middle)), bottom), [d], False

    def chains_side_by_side(self, k, parents, after_group):
        members, ends = [], []
        for _ in range(k // 2):
            item, last, _ = self.chain_of(2, parents, after_group)
            members.append(item)
            ends += last
        return group(*members), ends, True

    def canvas(self):
        """A chain of blocks after one root."""
        blocks = [
            (self.chain_of, 2, 4),
            (self.fan_out, 2, 5),
            (self.chord_of, 4, 7),
            (self.diamond, 4, 6),
            (self.chains_side_by_side, 4, 6),
        ]
        root, label = self.sig([], False)
        items, ends, after_group = [root], [label], False
        while (left := self.size - len(self.nodes)) > 0:
            block, low, high = self.rng.choice(blocks)
            if left < low:
                block, low, high = self.chain_of, 1, left
            k = self.rng.randint(low, min(high, left))
            if block == self.chains_side_by_side:
                k -= k % 2
            item, ends, after_group = block(k, ends, after_group)
            items.append(item)
        return chain(*items)

    def dag(self):
        """(nodes, edges) for workflow(): each node after 0-3 of the 8 nodes before it."""
        sigs, edges = {}, []
        labels: list[str] = []
        for i in range(self.size):
            window = labels[-DAG_WINDOW:]
            n = 0 if i == 0 or self.rng.random() < 0.05 else self.rng.choice((1, 1, 2, 2, 3))
            parents = self.rng.sample(window, min(n, len(window)))
            immutable = bool(parents) and self._maybe_immutable()
            feed = "none" if immutable or not parents else ("one" if len(parents) == 1 else "list")
            label = self._add(parents, feed)
            caller = wf_step.using(queue=self.nodes[label].queue)
            sigs[label] = (caller.si if immutable else caller.s)(label, self.nodes[label].ms)
            edges += [(p, label) for p in parents]
            labels.append(label)
        return sigs, edges

    def submit(self, as_dag: bool):
        if as_dag:
            return workflow(*self.dag(), name=self.name)
        return self.canvas().enqueue(name=self.name)


# -- what Redis holds ------------------------------------------------------------------


def records_of(client, keys, handles) -> dict[str, dict]:
    """task id -> its record (HGETALL), for every task of the workflows."""
    tasks = [t for h in handles for t in h.tasks.values()]
    out = {}
    for i in range(0, len(tasks), 1000):
        chunk = tasks[i : i + 1000]
        with client.pipeline(transaction=False) as pipe:
            for t in chunk:
                pipe.hgetall(keys.queue(t.queue).task(t.id))
            out.update({t.id: rec for t, rec in zip(chunk, pipe.execute(), strict=True)})
    return out


def events_of(client, keys, queues) -> dict[str, list[str]]:
    """task id -> the statuses its queue's event stream says it went through, in order."""
    out: dict[str, list[str]] = defaultdict(list)
    for queue in queues:
        start = "-"
        while True:
            batch = client.xrange(keys.queue(queue).events, start, "+", count=5000)
            for _entry_id, f in batch:
                if "id" in f:
                    out[f["id"]].append(f.get("status", ""))
            if len(batch) < 5000:
                break
            start = "(" + batch[-1][0]
    return out


def leftovers(client, keys, queues) -> dict[str, int]:
    """'<queue>.<kind>' -> how many are still there (waiting, pending, ..., outbox)."""
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            q = keys.queue(queue)
            for kind in LEFT_KINDS:
                pipe.zcard(getattr(q, kind))
            pipe.xlen(q.outbox)
        counts = pipe.execute()
    names = [f"{queue}.{kind}" for queue in queues for kind in (*LEFT_KINDS, "outbox")]
    return {name: n for name, n in zip(names, counts, strict=True) if n}


# -- the check ---------------------------------------------------------------------------


@dataclass
class Report:
    workflows: int = 0
    nodes: int = 0
    not_completed: dict[str, str] = field(default_factory=dict)  # workflow id -> status
    lost: list[str] = field(default_factory=list)
    lost_by_status: Counter = field(default_factory=Counter)
    early: list[str] = field(default_factory=list)
    wrong_args: list[str] = field(default_factory=list)
    released_twice: list[str] = field(default_factory=list)
    double_starts: list[str] = field(default_factory=list)
    extra_runs: int = 0
    starts: int = 0
    leftovers: dict[str, int] = field(default_factory=dict)

    def problems(self) -> list[str]:
        named = [
            ("lost", self.lost),
            ("workflows not completed", self.not_completed),
            ("started early", self.early),
            ("with wrong args", self.wrong_args),
            ("released twice", self.released_twice),
            ("double starts", self.double_starts),
            ("leftovers", self.leftovers),
        ]
        return [f"{len(items)} {what}" for what, items in named if items]

    def summary(self) -> str:
        def few(items) -> str:
            return f" e.g. {list(items)[:3]}" if items else ""

        return "\n".join(
            [
                f"{self.workflows} workflows, {self.nodes} nodes, {self.starts} starts "
                f"({self.extra_runs} extra runs)",
                f"lost {len(self.lost)} {dict(self.lost_by_status)}{few(self.lost)}; "
                f"workflows not completed {len(self.not_completed)}"
                f"{few(self.not_completed.items())}",
                f"started early {len(self.early)}{few(self.early)}",
                f"wrong args {len(self.wrong_args)}{few(self.wrong_args)}",
                f"released twice {len(self.released_twice)}{few(self.released_twice)}",
                f"double starts {len(self.double_starts)}{few(self.double_starts)}",
                f"leftovers {self.leftovers}",
            ]
        )

    def assert_clean(self) -> "Report":
        found = self.problems()
        if found:
            raise AssertionError(f"workflow oracle: {', '.join(found)}\n{self.summary()}")
        return self


def check(broker, handles, models: dict[str, Node], ledger: Ledger, queues) -> Report:
    """Everything the module docstring lists. `handles`: the submitted workflows;
    `models`: label -> Node, every node of them."""
    client, keys = broker.client, broker.keys
    rep = Report(workflows=len(handles), nodes=len(models))
    for h, info in zip(handles, broker.workflow_infos([h.id for h in handles]), strict=True):
        if info is None or info.status != "completed":
            rep.not_completed[h.id] = info.status if info else "missing"
    records = records_of(client, keys, handles)
    events = events_of(client, keys, queues)
    runs = ledger.runs()
    rep.starts = sum(len(v) for v in runs.values())
    label_of = {i: _label(rec) for i, rec in records.items()}
    id_of = {label: i for i, label in label_of.items() if label}
    ended = {i: min(r.ended for r in rs if r.ok) for i, rs in runs.items() if _ok(rs)}
    for label, node in models.items():
        task_id = id_of.get(label)
        rec = records.get(task_id, {})
        mine = runs.get(task_id, [])
        rep.extra_runs += max(0, len(mine) - 1)
        if rec.get("status") != "completed" or task_id not in ended:
            rep.lost.append(label)
            rep.lost_by_status[rec.get("status", "missing")] += 1
        _early(rep, node, mine, ended, id_of)
        if rec and _args(rec) != node.expected_args():
            rep.wrong_args.append(f"{label}: {_args(rec)!r}, not {node.expected_args()!r}")
        if rec:
            _releases(rep, node, rec, events.get(task_id, []))
            _starts(rep, label, rec, mine)
    rep.leftovers = leftovers(client, keys, queues)
    return rep


def _label(rec: dict) -> str:
    args = _args(rec)
    return args[-2] if isinstance(args, list) and len(args) >= 2 else ""


def _args(rec: dict):
    try:
        return json.loads(rec.get("args", ""))
    except ValueError:
        return None


def _ok(runs) -> bool:
    return any(r.ok and r.ended is not None for r in runs)


def _early(rep: Report, node: Node, mine, ended: dict, id_of: dict) -> None:
    if not mine or not node.parents:
        return
    first = min(r.started for r in mine)
    for parent in node.parents:
        parent_end = ended.get(id_of.get(parent))
        if parent_end is None or parent_end > first:
            late = "never" if parent_end is None else f"{1000 * (parent_end - first):.0f} ms later"
            rep.early.append(f"{node.label} started before {parent} ended ({late})")


def _releases(rep: Report, node: Node, rec: dict, statuses: list[str]) -> None:
    moves = sum(s in ("pending", "scheduled") for s in statuses)
    requeues = sum(1 for h in history(rec).values() if h[3] not in (None, "completed"))
    if rec.get("status") == "dead":
        requeues -= 1  # its last lost lease dead-lettered it instead
    releases = moves - requeues
    if node.parents and statuses[:1] != ["waiting"]:
        rep.released_twice.append(f"{node.label}: first event {statuses[:1]}, not waiting")
    elif releases > 1 or (releases < 1 and rec.get("status") == "completed"):
        rep.released_twice.append(f"{node.label}: released {releases} times ({statuses})")


def _starts(rep: Report, label: str, rec: dict, mine) -> None:
    attempts = [r.attempt for r in mine]
    recorded = int(rec.get("attempts") or 0)
    if len(set(attempts)) < len(attempts) or max(attempts, default=0) > recorded:
        rep.double_starts.append(f"{label}: started as attempts {attempts}, {recorded} claimed")


# -- waiting -------------------------------------------------------------------------------


@dataclass
class Run:
    done: bool
    seconds: float
    completed_nodes: int = 0


def wait_done(broker, handles, *, timeout: float, stall: float) -> Run:
    """Until every workflow completed; gives up when no node completed for `stall` s
    (the twins) or at `timeout`. A Redis that is down or loading only means: not yet."""
    ids = [h.id for h in handles]
    start = last_change = time.monotonic()
    last = -1
    while True:
        now = time.monotonic()
        try:
            infos = broker.workflow_infos(ids)
        except (TaskQueueError, redis.RedisError):
            infos = None
        if infos is not None:
            completed = sum(i.completed for i in infos if i)
            if all(i is not None and i.status == "completed" for i in infos):
                return Run(True, now - start, completed)
            if completed != last:
                last, last_change = completed, now
        if now - last_change > stall or now - start > timeout:
            return Run(False, now - start, max(last, 0))
        time.sleep(0.2)
