"""A member's completion applied in place (lua/includes/in_place.lua): when the workflow's
keys share the queue's slot and the completion only counts, complete_tasks applies it
itself and writes no outbox entry; anything that starts a child, finishes the workflow
or meets an unusual state goes through the outbox as before."""

import json

import pytest
from redis.crc import key_slot

from taskqueue.broker.keys import slot_mate
from taskqueue.broker.workflow_ops import NOTIFY
from taskqueue.building import PLAIN, build_task
from taskqueue.inspect import get_workflow
from taskqueue.records import TaskError
from taskqueue.workflows import chain, chord, group
from tests.taskapp.tasks import echo


def complete(broker, claimed, value) -> int:
    (ack,) = broker.complete("default", [(claimed.id, claimed.attempt, json.dumps(value))])
    return ack


def outbox_len(broker, redis_client) -> int:
    return redis_client.xlen(broker.keys.queue("default").outbox)


def wf_hash(broker, redis_client, workflow_id, kind) -> dict:
    return redis_client.hgetall(getattr(broker.keys.workflow(workflow_id), kind))


def test_a_chords_members_but_the_last_complete_in_place(broker, redis_client):
    handle = chord(group(echo.s(i) for i in range(5)), echo.s("cb")).enqueue()
    claimed = broker.claim("default", "w1", 5)
    acks = [complete(broker, c, json.loads(c.args)[0] * 10) for c in reversed(claimed[1:])]
    assert acks == [1, 1, 1, 1]  # recorded, no workflow to tell
    assert outbox_len(broker, redis_client) == 0
    state = wf_hash(broker, redis_client, handle.id, "state")
    assert [state[str(i)] for i in range(5)] == ["released"] + ["completed"] * 4
    assert wf_hash(broker, redis_client, handle.id, "remaining")["5"] == "1"
    assert wf_hash(broker, redis_client, handle.id, "results")["3"] == "30"
    assert get_workflow(handle.id).completed == 4
    assert complete(broker, claimed[0], 0) == 2  # the last: its callback to start
    assert outbox_len(broker, redis_client) == 1
    assert broker.advance(["default"]).started == 1
    (callback,) = broker.claim("default", "w1", 1)
    assert json.loads(callback.args) == [[0, 10, 20, 30, 40], "cb"]
    complete(broker, callback, "done")
    broker.advance(["default"])
    assert get_workflow(handle.id).status == "completed"
    assert handle.result(timeout=1) == "done"


def test_members_completed_in_one_call_count_once_each(broker, redis_client):
    handle = chord(group(echo.s(i) for i in range(5)), echo.s()).enqueue()
    claimed = broker.claim("default", "w1", 5)
    done = [(c.id, c.attempt, json.dumps(json.loads(c.args)[0] + 1)) for c in claimed]
    assert broker.complete("default", done) == [1, 1, 1, 1, 2]  # the last in the outbox
    assert wf_hash(broker, redis_client, handle.id, "remaining")["5"] == "1"
    assert get_workflow(handle.id).completed == 4
    broker.advance(["default"])
    (callback,) = broker.claim("default", "w1", 1)
    assert json.loads(callback.args) == [[1, 2, 3, 4, 5]]


def test_a_call_of_more_members_than_one_hset_takes_writes_them_all(broker, redis_client):
    handle = chord(group(echo.s(i) for i in range(1500)), echo.s()).enqueue()
    claimed = broker.claim("default", "w1", 1500)
    done = [(c.id, c.attempt, json.dumps(json.loads(c.args)[0])) for c in claimed]
    assert broker.complete("default", done) == [1] * 1499 + [2]
    results = wf_hash(broker, redis_client, handle.id, "results")
    assert len(results) == 1499 and results["1498"] == "1498"
    broker.advance(["default"])
    (callback,) = broker.claim("default", "w1", 1)
    assert json.loads(callback.args) == [list(range(1500))]


def test_a_completion_that_finishes_the_workflow_goes_through_the_outbox(broker, redis_client):
    handle = group(echo.s(i) for i in range(2)).enqueue()
    first, second = broker.claim("default", "w1", 2)
    assert complete(broker, first, 0) == 1
    assert get_workflow(handle.id).status == "running"
    assert complete(broker, second, 1) == 2
    broker.advance(["default"])
    assert get_workflow(handle.id).status == "completed"
    assert broker.workflow_counters().completed == 1
    assert handle.results(timeout=1) == [0, 1]


def test_the_last_open_node_goes_through_the_outbox_so_the_workflow_settles(broker, redis_client):
    # a group of 3 with one member cancelled: the second completion is the last open
    # node, and only advance_workflow settles the workflow (as cancelled, as it would be)
    handle = group(echo.s(i) for i in range(3)).enqueue()
    broker.cancel("default", handle.tasks["0"].id)
    broker.advance(["default"])
    first, second = broker.claim("default", "w1", 2)
    assert complete(broker, first, 1) == 1
    assert complete(broker, second, 2) == 2
    broker.advance(["default"])
    info = get_workflow(handle.id)
    assert (info.status, info.completed, info.cancelled) == ("cancelled", 2, 1)
    assert info.finished_at is not None


def test_a_completion_that_starts_a_child_goes_through_the_outbox(broker, redis_client):
    chain(echo.s(1), echo.s()).enqueue()
    (claimed,) = broker.claim("default", "w1", 1)
    assert complete(broker, claimed, 1) == 2
    assert outbox_len(broker, redis_client) == 1


def test_a_blocked_workflows_completions_go_through_the_outbox(broker, redis_client):
    handle = chord(group(echo.s(i) for i in range(3)), echo.s()).enqueue()
    doomed, member, _ = broker.claim("default", "w1", 3)
    error = TaskError("ValueError", "boom", "")
    broker.fail("default", doomed.id, doomed.attempt, retry_delay_ms=None, error=error)
    broker.advance(["default"])
    assert get_workflow(handle.id).status == "blocked"
    assert complete(broker, member, 1) == 2
    broker.advance(["default"])
    assert wf_hash(broker, redis_client, handle.id, "state")["1"] == "completed"
    assert get_workflow(handle.id).completed == 1


@pytest.mark.parametrize("kind", ["results", "state", "remaining", "info", "spec"])
def test_a_damaged_workflow_key_leaves_the_completion_to_the_outbox(broker, redis_client, kind):
    handle = chord(group(echo.s(i) for i in range(3)), echo.s()).enqueue()
    claimed = broker.claim("default", "w1", 1)[0]
    key = getattr(broker.keys.workflow(handle.id), kind)
    saved = redis_client.dump(key)
    redis_client.delete(key)
    redis_client.set(key, "not a hash")
    assert complete(broker, claimed, 7) == 2  # recorded; the workflow told by an entry
    assert outbox_len(broker, redis_client) == 1
    redis_client.delete(key)
    if saved is not None:
        redis_client.restore(key, 0, saved)
    if kind != "results":  # nothing written in the workflow's keys
        assert "0" not in wf_hash(broker, redis_client, handle.id, "results")
    assert wf_hash(broker, redis_client, handle.id, "state")["0"] == "released"
    broker.advance(["default"])  # the entry, applied as before
    assert wf_hash(broker, redis_client, handle.id, "state")["0"] == "completed"
    assert wf_hash(broker, redis_client, handle.id, "results")["0"] == "7"


def test_a_task_row_says_in_place_only_when_the_keys_share_a_slot(broker, monkeypatch):
    monkeypatch.setattr(broker, "cluster", False, raising=False)
    row = broker._task_row("wf-1", "default", _task_with('[["wf-1","0"]]'))
    assert json.loads(row[NOTIFY]) == [["wf-1", "0", 1]]  # one Redis: always
    monkeypatch.setattr(broker, "cluster", True)
    queue_slot = key_slot(broker.keys.queue("default").base.encode())
    ids = (f"wf-{n}" for n in range(200_000))
    same = next(i for i in ids if key_slot(broker.keys.workflow(i).base.encode()) == queue_slot)
    other = next(i for i in ids if key_slot(broker.keys.workflow(i).base.encode()) != queue_slot)
    for workflow_id, pair in ((same, [same, "0", 1]), (other, [other, "0"])):
        task = _task_with(json.dumps([[workflow_id, "0"]]))
        assert json.loads(broker._task_row(workflow_id, "default", task)[NOTIFY]) == [pair]


def test_a_slot_mate_id_puts_the_workflows_keys_in_that_slot(broker):
    for n, slot in enumerate([0, 1, 5461, 10922, 16383, 12345]):
        workflow_id = slot_mate(f"id-{n}", slot)
        assert workflow_id.startswith(f"id-{n}-") and len(workflow_id) == len(f"id-{n}") + 4
        assert key_slot(broker.keys.workflow(workflow_id).base.encode()) == slot
        assert slot_mate(f"id-{n}", slot) == workflow_id  # the same every time


def test_on_a_cluster_a_one_queue_workflow_gets_an_id_in_its_queues_slot(broker, monkeypatch):
    monkeypatch.setattr(broker, "cluster", True, raising=False)
    near = broker.workflow_id_near("a-b", ["emails"])
    emails = key_slot(broker.keys.queue("emails").base.encode())
    assert key_slot(broker.keys.workflow(near).base.encode()) == emails
    assert broker.workflow_id_near("a-b", ["emails", "default"]) == "a-b"  # two slots
    assert broker.workflow_id_near("a-b", ["no such queue!"]) == "a-b"
    monkeypatch.setattr(broker, "cluster", False)
    assert broker.workflow_id_near("a-b", ["emails"]) == "a-b"  # one Redis: one slot


def _task_with(notify: str):
    task = build_task(echo, [1], {}, PLAIN)
    task.notify = notify
    return task


@pytest.mark.parametrize("shape", ["another task's node", "unknown workflow", "bad id", "junk"])
def test_a_forged_in_place_mark_changes_no_workflow(broker, redis_client, shape):
    handle = chord(group(echo.s(i) for i in range(3)), echo.s()).enqueue()
    stranger = echo.enqueue("x")
    claimed = broker.claim("default", "w1", 4)
    mine = next(c for c in claimed if c.id == stranger.id)
    pair = {
        "another task's node": [handle.id, "0", 1],  # node 0 is another task's
        "unknown workflow": ["no-such-workflow", "0", 1],
        "bad id": ["}{" * 40, "0", 1],
        "junk": [handle.id, "0", {"deep": [[[1]]]}],
    }[shape]
    redis_client.hset(broker.keys.queue("default").task(mine.id), "notify", json.dumps([pair]))
    before = {k: wf_hash(broker, redis_client, handle.id, k) for k in ("state", "remaining")}
    assert complete(broker, mine, "x") in (1, 2)  # recorded all the same
    assert broker.get("default", mine.id).status == "completed"
    after = {k: wf_hash(broker, redis_client, handle.id, k) for k in ("state", "remaining")}
    assert after == before and get_workflow(handle.id).completed == 0
    broker.advance(["default"])  # an entry, if one was written, is ignored there too
    assert get_workflow(handle.id).completed == 0
