"""The workflow engine on a real Redis, with a simulated worker: claims, completes and
fails through the broker, then applies the outbox (broker.advance) as a worker does."""

import gc
import json

import pytest

from taskqueue import TaskDoesNotExist, ValidationError
from taskqueue.errors import DamagedKey, InvalidTransition, WorkflowDoesNotExist
from taskqueue.inspect import get_workflow, workflow_nodes
from taskqueue.records import TaskError
from taskqueue.services import cancel_workflow
from taskqueue.workflows import chain, chord, group, workflow
from tests.taskapp.tasks import echo, record


def run_one(broker, queue="default", result=None):
    """Claim one task and complete it with `result` (default: its first argument)."""
    (claimed,) = broker.claim(queue, "w1", 1)
    args = json.loads(claimed.args)
    value = args[0] if result is None else result
    (ack,) = broker.complete(queue, [(claimed.id, claimed.attempt, json.dumps(value))])
    broker.advance([queue])
    return claimed, args, ack


def kill(broker, queue="default"):
    (claimed,) = broker.claim(queue, "w1", 1)
    error = TaskError("ValueError", "boom", "")
    broker.fail(queue, claimed.id, claimed.attempt, retry_delay_ms=None, error=error)
    broker.advance([queue])
    return claimed


def statuses(handle):
    return {key: h.status for key, h in handle.tasks.items()}


def test_a_chain_passes_each_result_to_the_next_step(broker):
    handle = chain(echo.s(1), echo.s(2), echo.si(3)).enqueue()
    assert statuses(handle) == {"0": "pending", "1": "waiting", "2": "waiting"}
    assert broker.counts("default").waiting == 2
    _, args, ack = run_one(broker, result="one")
    assert args == [1] and ack == 2
    _, args, _ = run_one(broker, result="two")
    assert args == ["one", 2]
    _, args, _ = run_one(broker)
    assert args == [3]  # immutable: its own arguments only
    assert get_workflow(handle.id).status == "completed"
    assert handle.result(timeout=1) == 3


def test_a_chord_callback_gets_every_result_in_the_groups_order(broker):
    handle = chord(group(echo.s(i) for i in range(5)), echo.s("cb")).enqueue()
    claimed = broker.claim("default", "w1", 5)
    for c in reversed(claimed):  # complete in reverse order
        v = json.loads(c.args)[0] * 10
        broker.complete("default", [(c.id, c.attempt, json.dumps(v))])
    assert broker.counts("default").waiting == 1
    broker.advance(["default"])
    _, args, _ = run_one(broker, result="done")
    assert args == [[0, 10, 20, 30, 40], "cb"]
    assert handle.result(timeout=1) == "done"


def test_a_group_handle_gives_results_in_order_and_counts(broker):
    handle = group(echo.s(i) for i in range(3)).enqueue()
    assert handle.counts() == {"pending": 3}
    for _ in range(3):
        run_one(broker)
    assert handle.results(timeout=1) == [0, 1, 2]
    assert get_workflow(handle.id).status == "completed"


def test_a_repeated_outbox_entry_starts_a_child_once(broker, redis_client):
    handle = chain(echo.s(1), echo.s()).enqueue()
    (claimed,) = broker.claim("default", "w1", 1)
    broker.complete("default", [(claimed.id, claimed.attempt, "5")])
    outbox = broker.keys.queue("default").outbox
    (entry,) = redis_client.xrange(outbox)
    redis_client.xadd(outbox, entry[1])  # the same notification twice
    done = broker.advance(["default"])
    assert done.applied == 2 and done.started == 1
    redis_client.xadd(outbox, entry[1])  # and once more, later
    assert broker.advance(["default"]).started == 0
    assert broker.counts("default").pending == 1
    assert handle["1"].status == "pending"


def test_an_outbox_that_cannot_be_read_holds_up_no_other_queue(broker, redis_client):
    handle = chain(echo.s(1), echo.s()).enqueue()
    (claimed,) = broker.claim("default", "w1", 1)
    broker.complete("default", [(claimed.id, claimed.attempt, "5")])
    redis_client.set(broker.keys.queue("broken").outbox, "not a stream")
    with pytest.raises(DamagedKey):  # every outbox is read in one round trip
        broker.advance(["broken", "default"])
    assert handle["1"].status == "pending"  # default's entry was applied all the same
    assert broker.advance(["default"]).applied == 0


def test_every_call_of_a_shared_caller_keeps_all_its_options(broker):
    acme = echo.using(tenant="acme", priority=9, queue="other", max_retries=7)
    handle = group(acme.s(i) for i in range(3)).enqueue()
    records = [broker.get("other", h.id) for h in handle.tasks.values()]
    assert [r.tenant for r in records] == ["acme"] * 3  # the first call's and the others'
    assert {(r.priority, r.max_retries) for r in records} == {(9, 7)}


def test_plain_calls_of_one_task_each_get_their_own_id_and_arguments(broker):
    handle = chord(group(echo.s(i) for i in range(3)), record.s("cb")).enqueue()
    members = [broker.get("default", handle.tasks[k].id) for k in ("0", "1", "2")]
    assert len({r.id for r in members}) == 3
    assert sorted(r.args for r in members) == [[0], [1], [2]]
    assert {(r.name, r.queue) for r in members} == {("tests.taskapp.tasks.echo", "default")}


def test_depends_on_waits_for_tasks_in_other_queues(broker):
    a = echo.using(queue="other").enqueue("a")
    b = echo.enqueue("b")
    after = record.using(depends_on=[a, b.id]).enqueue("after")
    assert after.status == "waiting"
    run_one(broker, "other")
    assert after.status == "waiting"
    run_one(broker)
    assert after.status == "pending"
    _, args, _ = run_one(broker)
    assert args == ["after"]


def test_depends_on_a_finished_task_starts_at_once(broker):
    a = echo.enqueue("a")
    run_one(broker)
    after = record.using(depends_on=[a]).enqueue("x")
    assert after.status == "pending"


def test_depends_on_an_unknown_task_is_refused_and_writes_nothing(broker, redis_client):
    with pytest.raises(TaskDoesNotExist):
        record.using(depends_on=["nope"]).enqueue("x")
    assert broker.counts("default").waiting == 0
    assert redis_client.zcard(broker.keys.workflows) == 0


def test_a_dead_parent_blocks_its_children_until_requeued(broker):
    handle = chain(echo.s(1), echo.s()).enqueue()
    kill(broker)
    assert get_workflow(handle.id).status == "blocked"
    assert handle["1"].status == "waiting"
    broker.requeue("default", [handle["0"].id])
    broker.advance(["default"])
    assert get_workflow(handle.id).status == "running"
    run_one(broker, result=7)
    _, args, _ = run_one(broker)
    assert args == [7]
    assert get_workflow(handle.id).status == "completed"


def test_on_failure_cancel_cancels_what_has_not_run(broker):
    handle = workflow(
        {"a": echo.s(1), "b": echo.s(2), "c": echo.s()},
        [("a", "c"), ("b", "c")],
        on_failure="cancel",
    )
    claimed = kill(broker)
    assert claimed.id == handle["a"].id
    assert get_workflow(handle.id).status == "cancelled"
    assert handle["b"].status == "cancelled"
    assert handle["c"].status == "cancelled"


@pytest.mark.django_db
def test_cancelling_a_workflow_cancels_its_unfinished_tasks(broker):
    handle = chain(echo.s(1), echo.s(), echo.s()).enqueue()
    run_one(broker)
    result = cancel_workflow(handle.id, None)
    assert result.cancelled == 2
    assert statuses(handle) == {"0": "completed", "1": "cancelled", "2": "cancelled"}
    assert get_workflow(handle.id).status == "cancelled"
    with pytest.raises(WorkflowDoesNotExist):
        cancel_workflow("no-such-workflow", None)


@pytest.mark.django_db
def test_a_completed_workflow_cannot_be_cancelled(broker):
    handle = chain(echo.s(1)).enqueue()
    run_one(broker)
    with pytest.raises(InvalidTransition):
        cancel_workflow(handle.id, None)


def test_cancelling_a_waiting_node_cancels_its_descendants(broker):
    handle = chain(echo.s(1), echo.s(), echo.s()).enqueue()
    broker.cancel("default", handle["1"].id)
    broker.advance(["default"])
    assert handle["2"].status == "cancelled"
    assert handle["0"].status == "pending"


def test_a_cycle_is_refused_before_anything_is_written(broker, redis_client):
    with pytest.raises(ValidationError, match="cycle"):
        workflow({"a": echo.s(), "b": echo.s()}, [("a", "b"), ("b", "a")])
    with pytest.raises(ValidationError, match="unknown node"):
        workflow({"a": echo.s()}, [("a", "z")])
    assert redis_client.dbsize() == 0 or not redis_client.keys(f"{broker.keys.prefix}:*")


def test_too_many_nodes_are_refused(broker, settings):
    settings.TASKQUEUE = {**settings.TASKQUEUE, "WORKFLOW_MAX_NODES": 3}
    with pytest.raises(ValidationError, match="at most 3"):
        group(echo.s(i) for i in range(4)).enqueue()


def test_nodes_show_their_state_parents_and_children(broker):
    handle = chord(group(echo.s(1), echo.s(2)), echo.s()).enqueue()
    nodes = workflow_nodes(handle.id)
    assert [(n.key, n.parents, n.children, s) for n, s in nodes] == [
        ("0", (), ("2",), "pending"),
        ("1", (), ("2",), "pending"),
        ("2", ("0", "1"), (), "waiting"),
    ]


def test_the_same_idempotency_key_makes_one_workflow(broker):
    first = workflow({"a": echo.s(1), "b": echo.s()}, [("a", "b")], idempotency_key="k1")
    again = workflow({"a": echo.s(1), "b": echo.s()}, [("a", "b")], idempotency_key="k1")
    assert first.created and not again.created
    assert again.id == first.id
    assert {k: h.id for k, h in again.tasks.items()} == {k: h.id for k, h in first.tasks.items()}
    assert again["b"].status == "waiting"
    assert broker.counts("default").pending == 1


@pytest.mark.django_db
def test_cancelling_a_workflow_leaves_the_tasks_it_waited_for_alone(broker):
    a = echo.enqueue("a")
    after = record.using(depends_on=[a]).enqueue("x")
    cancel_workflow(after.workflow_id, None)
    assert after.status == "cancelled"
    assert a.status == "pending"


def test_a_node_whose_idempotency_key_names_an_existing_task_waits_for_that_task(broker):
    existing = echo.using(idempotency_key="k-1").enqueue("first")
    handle = chain(echo.using(idempotency_key="k-1").s("again"), echo.s()).enqueue()
    assert handle["0"].id == existing.id
    assert broker.counts("default").pending == 1  # no second task was made
    _, args, _ = run_one(broker)
    assert args == ["first"]
    _, args, _ = run_one(broker)
    assert args == ["first"]  # the existing task's result
    assert get_workflow(handle.id).status == "completed"


def test_a_workflow_never_starts_a_waiting_task_it_does_not_own(broker):
    owner = chain(echo.s(1), echo.using(idempotency_key="shared").s()).enqueue()
    other = chain(echo.si(2), echo.using(idempotency_key="shared").s()).enqueue()
    assert other["1"].id == owner["1"].id
    (c,) = broker.claim("default", "w1", 1)
    (d,) = broker.claim("default", "w1", 1)
    other_root = c if c.id == other["0"].id else d
    broker.complete("default", [(other_root.id, other_root.attempt, "2")])
    broker.advance(["default"])
    assert owner["1"].status == "waiting"  # its own parent has not completed
    mine = d if other_root is c else c
    broker.complete("default", [(mine.id, mine.attempt, "1")])
    broker.advance(["default"])
    assert owner["1"].status == "pending"


def _cut_short(monkeypatch):
    """The next submission stops after writing the workflow, before its tasks."""
    from taskqueue.broker.workflow_ops import WorkflowOperations
    from taskqueue.errors import BrokerUnavailable

    original = WorkflowOperations._create

    def fail_once(self, tasks, now):
        monkeypatch.setattr(WorkflowOperations, "_create", original)
        raise BrokerUnavailable("connection lost")
        yield  # a plan

    monkeypatch.setattr(WorkflowOperations, "_create", fail_once)


def test_a_submission_cut_short_is_finished_by_sending_it_again(broker, monkeypatch):
    _cut_short(monkeypatch)
    with pytest.raises(Exception, match="connection lost"):
        workflow({"a": echo.s(1), "b": echo.s()}, [("a", "b")], idempotency_key="cut")
    handle = workflow({"a": echo.s(1), "b": echo.s()}, [("a", "b")], idempotency_key="cut")
    assert not handle.created
    assert statuses(handle) == {"a": "pending", "b": "waiting"}
    run_one(broker)
    _, args, _ = run_one(broker)
    assert args == [1]


def test_a_submission_cut_short_is_finished_by_the_sweep(broker, monkeypatch):
    _cut_short(monkeypatch)
    with pytest.raises(Exception, match="connection lost"):
        chain(echo.s(1), echo.s(), echo.s()).enqueue()
    assert broker.counts("default").pending == 0
    assert broker.resume_submissions(older_than_ms=0) == 1
    assert broker.counts("default").pending == 1
    assert broker.counts("default").waiting == 2
    assert broker.resume_submissions(older_than_ms=0) == 0


def test_a_resume_skips_kept_tasks_that_someone_else_rewrote(broker, monkeypatch, redis_client):
    import json

    _cut_short(monkeypatch)
    with pytest.raises(Exception, match="connection lost"):
        chain(echo.s(1), echo.s(), echo.s()).enqueue()
    (workflow_id,) = broker.workflow_ids(0, 10)
    key = broker.keys.workflow(workflow_id).tasks
    kept = json.loads(redis_client.hget(key, "all"))
    kept["1"] = kept["1"][:5]  # too short: it would shift every value after it
    kept["2"] = "not a task"
    redis_client.hset(key, "all", json.dumps(kept))
    assert broker.resume_submissions(older_than_ms=0) == 1
    assert broker.counts("default").pending == 1  # the one left whole is created
    _cut_short(monkeypatch)
    with pytest.raises(Exception, match="connection lost"):
        chain(echo.s(1)).enqueue()
    newest = broker.workflow_ids(0, 1)[0]
    redis_client.hset(broker.keys.workflow(newest).tasks, "all", "[not json")
    assert broker.resume_submissions(older_than_ms=0) == 1  # nothing it can create
    assert broker.counts("default").pending == 1


def test_workflows_made_within_one_millisecond_still_list_newest_first(broker, monkeypatch):
    from taskqueue.broker import workflow_ops

    monkeypatch.setattr(workflow_ops.time, "time", lambda: 1_800_000_000.0)
    made = [chain(echo.s(i)).enqueue().id for i in range(6)]
    assert broker.workflow_ids(0, 10) == made[::-1]


def test_submitting_a_large_chord_runs_no_garbage_collection(broker):
    # its ~30 objects a node are freed by reference counting; the collector walking
    # them (and, every other submission, the whole heap) only delayed the first start
    canvas = chord(group(echo.s(i) for i in range(2000)), echo.s())
    collections = []

    def seen(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        handle = canvas.enqueue()
    finally:
        gc.callbacks.remove(seen)
    assert len(collections) <= 1  # one already due may run as the pause begins (10+ without)
    assert gc.isenabled()
    assert len(handle.tasks) == 2001


def test_each_queues_first_tasks_exist_before_the_rest_is_sent_a_call_at_a_time(
    broker, monkeypatch
):
    # a worker can claim them while the client still packs and sends the rest; and the
    # rest goes one call per round trip: a pipeline of them all would hold Redis for
    # every other client (the worker draining them) until the last one ran
    from taskqueue.broker.workflow_ops import FIRST_CHUNK, TASK_ROW

    seen = []  # per enqueue round trip: (tasks per call, tasks pending beforehand)
    send = type(broker)._send

    def watched(self, step):
        calls = getattr(step, "calls", ())
        if calls and calls[0].script == "enqueue_tasks":
            pending = sum(self.counts(q).pending for q in ("default", "low"))
            seen.append(([len(c.args) for c in calls], pending))
        return send(self, step)

    monkeypatch.setattr(type(broker), "_send", watched)
    low = echo.using(queue="low")
    handle = group([*(echo.s(i) for i in range(1200)), *(low.s(i) for i in range(300))]).enqueue()
    (first_sizes, before_first), *rest = seen
    fixed = first_sizes[0] - FIRST_CHUNK * (TASK_ROW - 1)  # a call's values besides its tasks
    tasks = lambda sizes: [(n - fixed) // (TASK_ROW - 1) for n in sizes]  # noqa: E731
    assert tasks(first_sizes) == [FIRST_CHUNK, FIRST_CHUNK]
    assert before_first == 0
    assert [len(sizes) for sizes, _ in rest] == [1, 1, 1]  # 1,000 + 150 default, 250 low
    sent = [sum(tasks(sizes)) for sizes, _ in rest]
    assert sum(sent) == 1500 - 2 * FIRST_CHUNK
    before = [pending for _, pending in rest]  # each call's tasks exist before the next
    assert before == [2 * FIRST_CHUNK + sum(sent[:i]) for i in range(3)]
    assert broker.counts("default").pending == 1200 and broker.counts("low").pending == 300
    assert len(handle.tasks) == 1500
