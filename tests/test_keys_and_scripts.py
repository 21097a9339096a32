"""Cheap structural guarantees: one cluster slot per queue, script headers honest."""

import re
from importlib import resources

import pytest
from redis.crc import key_slot

from taskqueue.broker import BucketCounts, scripts
from taskqueue.broker.keys import Keys
from taskqueue.errors import InvalidQueueName
from taskqueue.limits import Limit, Rate
from taskqueue.priority import BAND_WIDTH

from .factories import enqueue, fail, make_task, start


@pytest.mark.parametrize("queue", ["default", "emails", "a.b-c_d", "x" * 63])
def test_every_key_of_a_queue_maps_to_one_cluster_slot(queue):
    q = Keys("tq").queue(queue)
    keys = [*q.all(), q.task("3f1c"), q.idempotency("order:7"), q.minute(29_000_000)]
    assert len({key_slot(k.encode()) for k in keys}) == 1
    assert all(k.startswith(f"tq:{{{queue}}}:") for k in keys)


@pytest.mark.parametrize(
    "bad",
    ["", "Upper", "../x", "a:b", "{t}", "x" * 64, "-start", "a b", "default\n", "a\n", 5, None],
)
def test_queue_names_outside_the_pattern_are_refused(bad):
    with pytest.raises(InvalidQueueName):
        Keys("tq").queue(bad)


@pytest.mark.parametrize("name", scripts.names())
def test_each_script_header_declares_keys_argv_returns_and_errors(name):
    head = scripts.header(name)
    for part in ("KEYS[1]", "ARGV[1]", "Returns:", "Errors:"):
        assert part in head, f"{name}.lua header lacks {part}"
    numbers = sorted({int(n) for n in re.findall(r"KEYS\[(\d+)\]", head)})
    assert numbers == list(range(1, len(numbers) + 1)), "KEYS are numbered without gaps"
    body = scripts.source(name)[len(head) :]
    used = {int(n) for n in re.findall(r"KEYS\[(\d+)\]", body)}
    assert used <= set(numbers), f"{name}.lua uses KEYS its header does not declare"


def test_every_script_runs_with_exactly_the_keys_its_header_declares(broker, monkeypatch):
    """Drive every broker operation once and check each call against its header."""
    calls = _calls_of_every_operation(broker, monkeypatch)
    assert {name for name, _, _ in calls} == set(scripts.names())
    for name, keys, _ in calls:
        assert scripts.keys_fit(name, len(keys)), name


# -- the scripts read top to bottom: header, include, naming block, body -------------

LUA = resources.files("taskqueue.broker").joinpath("lua")
INCLUDES = sorted(p.name for p in LUA.joinpath("includes").iterdir() if p.name.endswith(".lua"))
SCORE_BUILDERS = {  # the scripts that put tasks into pending
    "claim_tasks",  # a task held back by a limit goes back in line (limits.lua)
    "set_limit",  # the same, when its limit changes
    "declare_limits",  # the same, when a worker declares a changed limit
    "enqueue_tasks",
    "promote_scheduled",
    "reap_leases",
    "release_tasks",
    "requeue_tasks",
    "run_now",
    "start_waiting",
}
POSITION = re.compile(r"\b(KEYS|ARGV)\[(\d+)(\.\.)?\]")


def _parts(name: str) -> tuple[str, str, str]:
    """lua/<name>.lua as (header, naming block, body): the naming block is what follows
    the header and its include lines, up to the first blank line."""
    text = LUA.joinpath(f"{name}.lua").read_text()
    head_end = text.index("]]") + 2
    lines = text[head_end:].split("\n")
    start = 0
    while start < len(lines) and (not lines[start] or lines[start].startswith("--- @include")):
        start += 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return text[:head_end], "\n".join(lines[start:end]), "\n".join(lines[end:])


def _band_width_position(header: str) -> int | None:
    found = re.search(r"ARGV\[(\d+)\] band width\b", header)
    return int(found[1]) if found else None


@pytest.mark.parametrize("name", scripts.names())
def test_no_script_body_indexes_keys_or_a_fixed_argv_position(name):
    _, block, body = _parts(name)
    for line in block.split("\n"):  # declarations only, so the body cannot hide in it
        assert re.match(r"(local \w|--|for .* end$)", line), f"{name}.lua names: {line!r}"
    assert "KEYS[" not in body, f"{name}.lua: name its KEYS at the top"
    assert not re.search(r"ARGV\[\d", body), f"{name}.lua: name its ARGV at the top"


@pytest.mark.parametrize("include", INCLUDES)
def test_no_include_indexes_keys_or_a_fixed_argv_position(include):
    text = LUA.joinpath("includes", include).read_text()
    body = text[text.index("]]") + 2 :]
    assert "KEYS[" not in body and not re.search(r"ARGV\[\d", body), include


TAIL_OFFSET = re.compile(r"\bARGV\[\w+ \+ \d+\]")  # ARGV[i + 2]: a value of one record
NAMING_LINE = re.compile(r"\s*local [\w, ]+ = ")


@pytest.mark.parametrize("name", scripts.names())
def test_a_record_of_a_variable_length_tail_is_named_where_its_loop_reads_it(name):
    """`ARGV[i + 2]` only in a line naming the values of one task, node or increment
    (`local id, attempt, result = ARGV[i], ARGV[i + 1], ARGV[i + 2]`), or by a named
    offset (`ARGV[i + IDEM]`), so no numbered position is left in the body."""
    _, _, body = _parts(name)
    lines = body.split("\n")
    found = [s.strip() for s in lines if TAIL_OFFSET.search(s) and not NAMING_LINE.match(s)]
    assert found == [], f"{name}.lua: name a record's values at the top of its loop"


@pytest.mark.parametrize("name", scripts.names())
def test_each_script_names_every_position_its_header_declares_once_at_the_top(name):
    header, block, _ = _parts(name)
    for kind, n, tail in set(POSITION.findall(header)):
        if tail:  # a variable-length tail: its first index is a named constant
            assert re.search(rf"^local FIRST_\w+ = {n}\b", block, re.M), f"{kind}[{n}..]"
        else:
            assert block.count(f"{kind}[{n}]") == 1, f"{name}.lua names {kind}[{n}] once"


def test_the_scripts_that_build_a_pending_score_are_found():
    found = {
        n
        for n in scripts.names()
        if re.search(r"\b(pending_score|to_pending|unhold)\(", _parts(n)[2])
    }
    assert found == SCORE_BUILDERS


@pytest.mark.parametrize("name", sorted(SCORE_BUILDERS | {"oldest_pending"}))
def test_each_script_that_scores_pending_tasks_reads_the_band_width_from_its_argv(name):
    header, block, _ = _parts(name)
    position = _band_width_position(header)
    assert position, f"{name}.lua header declares no 'ARGV[n] band width'"
    assert f"local band_width = tonumber(ARGV[{position}])" in block


@pytest.mark.parametrize(
    "path", [f"{n}.lua" for n in scripts.names()] + [f"includes/{i}" for i in INCLUDES]
)
def test_no_lua_file_spells_the_band_width(path):
    text = LUA.joinpath(path).read_text()
    assert str(BAND_WIDTH) not in text
    assert not re.search(r"\b2\s*(\^|\*\*)\s*45\b|pow\(\s*2\s*,\s*45\b", text), path


def test_every_script_that_reads_the_band_width_is_passed_it(broker, monkeypatch):
    """At the position its header names: priority.BAND_WIDTH, from the wrappers."""
    calls = _calls_of_every_operation(broker, monkeypatch)
    readers = {n for n in scripts.names() if _band_width_position(_parts(n)[0])}
    assert readers == SCORE_BUILDERS | {"oldest_pending"}
    for name, _, args in calls:
        if name in readers:
            assert args[_band_width_position(_parts(name)[0]) - 1] == BAND_WIDTH, name


def test_a_wrapper_passing_the_wrong_keys_fails_loudly(broker):
    with pytest.raises(Exception, match="declares 8"):
        broker.scripts.run("claim_tasks", ["only-one"], [])


def _calls_of_every_operation(broker, monkeypatch) -> list[tuple[str, list, list]]:
    """(script, KEYS, ARGV) of every script call made by driving every operation once."""
    calls = []
    original = scripts.Scripts.run

    def spy(self, name, keys, args, client=None):
        calls.append((name, keys, args))
        return original(self, name, keys, args, client)

    monkeypatch.setattr(scripts.Scripts, "run", spy)
    _exercise_every_operation(broker)
    return calls


def _exercise_every_operation(broker):
    enqueue(broker, make_task(), make_task(), make_task(), make_task())
    task_id, attempt = start(broker)
    broker.renew("default", [(task_id, attempt)])
    broker.complete("default", [(task_id, attempt, "1")])
    task_id, attempt = start(broker)
    fail(broker, task_id, attempt, delay=None)
    broker.requeue("default", [task_id])
    broker.delete("default", [task_id])
    task_id, attempt = start(broker)
    broker.release("default", [(task_id, attempt)])
    task_id, attempt = start(broker)
    broker.cancel("default", task_id)
    broker.finish_cancelled("default", task_id, attempt)
    broker.reap("default")
    broker.trim("default")
    broker.record_runtimes("default", {"tests.noop": BucketCounts(count=1)})
    broker.client.set(broker.keys.queue("default").wake, "not a list")
    broker.claim("default", "w1", 1)  # moves the wake list aside: quarantine_keys
    assert broker.claimable("default")
    broker.client.set(broker.keys.queues, "not a set")
    broker.register_queues(["other"])  # moves the queue list aside: quarantine_global_key
    (later,) = enqueue(broker, make_task(delay_ms=60_000))
    broker.run_now("default", later)
    broker.promote("default")
    broker.set_paused("default", True)
    broker.oldest_pending_ms("default")
    broker.note_pending("default", "c0ffee" * 5 + "00")  # snapshot_pending
    broker.purge_confirmed("default", "c0ffee" * 5 + "00")
    broker.purge_pending("default")
    assert broker.take_archive_lock("token", 1000)
    assert broker.release_archive_lock("token")
    _exercise_workflows(broker)
    _exercise_limits(broker)


def _exercise_limits(broker):
    broker.declare_limits("default", Limit(Rate(10, 1000)), [("tests.x", Limit())])
    broker.set_limit("default", rate=None)
    broker.limits("default")
    broker.tenant_backlogs("default")


def _exercise_workflows(broker):
    from taskqueue.workflows import chain
    from tests.taskapp.tasks import echo

    broker.set_paused("default", False)
    broker.purge_pending("default")
    handle = chain(echo.s(1), echo.s(), echo.s()).enqueue()  # submit_workflow
    (claimed,) = broker.claim("default", "w1", 1)
    broker.complete("default", [(claimed.id, claimed.attempt, "1")])
    broker.advance(["default"])  # advance_workflow, start_waiting
    echo.using(depends_on=[handle["0"]]).enqueue(2)  # watch_task
    echo.using(idempotency_key="k").enqueue(3)
    chain(echo.using(idempotency_key="k").s(3)).enqueue()  # rebind_node
    broker.cancel_workflow(handle.id)  # cancel_workflow, cancel_nodes
