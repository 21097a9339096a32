"""Untrusted Redis contents: task records written straight into a queue's pending set
(bypassing the producer and its validation, the way docs/redis-keys.md lays them out)
with malformed JSON, missing or malformed fields, wrong argument types, names such as
`builtins.eval` or `os.system`, bytes that are not UTF-8 and a 50 MB argument.

A real worker (`runworker --burst`, in a wrapper that installs an audit hook: see
audited_worker.py) runs them between good tasks. Each bad record must end in the
dead-letter queue with a clear reason, the good ones must complete, the worker must
keep going (a burst worker that drains the queue and exits 0), and nothing may be
imported, executed or spawned because of what a record says.
The twin runs a worker whose registry imports the module a name points into: the same
check must report that import, so the check can fail.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.test import Client

from taskqueue.priority import score_of
from tests.support.waits import wait_for
from tests.support.web import Api, make_token, make_user

from .rig import FAULTS_DIR, ROOT

pytestmark = pytest.mark.faults

ECHO = "tests.taskapp.tasks.echo"
ADD = "tests.taskapp.fault_tasks_hyg.add"
CANARY = "tests.faults.canary.boom"
BIG = 50 * 1024 * 1024
BAND = 100  # the default priority's band (docs/redis-keys.md, the pending score)
WORKER_TIMEOUT = 180  # a burst over ~40 tasks; generous for a loaded 2-core machine


def record(task_id: str, name: str, args="[]", kwargs="{}", **fields) -> dict:
    """A complete record as enqueue_tasks.lua writes it; `fields` override or add."""
    now = int(time.time() * 1000)
    full = {
        "id": task_id,
        "name": name,
        "queue": "default",
        "status": "pending",
        "band": BAND,
        "priority": 5,
        "args": args,
        "kwargs": kwargs,
        "max_retries": 0,
        "timeout": "",
        "meta": "",
        "attempts": 0,
        "failures": 0,
        "lost": 0,
        "created_at": now,
        "run_at": now,
        "idempotency_key": "",
    }
    return full | fields


def marker_cmd(marker: Path) -> str:
    return f"touch {marker}"


def bad_records(marker: Path) -> dict[str, tuple[dict, str, str]]:
    """id -> (record fields, expected error type, text the error message must contain)."""
    cmd = marker_cmd(marker)
    not_registered = "No task is registered under the name"
    invalid, not_json = "InvalidTaskRecord", "args or kwargs are not valid JSON"
    return {
        "bad-json-args": (record("", ECHO, args="[1, 2"), invalid, not_json),
        "bad-json-kwargs": (record("", ECHO, kwargs="{'value': 1}"), invalid, not_json),
        "deep-json": (record("", ECHO, args="[" * 200_000 + "]" * 200_000), invalid, not_json),
        "args-not-array": (
            record("", ECHO, args='{"value": 1}'),
            invalid,
            "args must be a JSON array and kwargs a JSON object",
        ),
        "kwargs-not-object": (
            record("", ECHO, kwargs="[1]"),
            invalid,
            "args must be a JSON array and kwargs a JSON object",
        ),
        "kwargs-bad-key": (
            record("", ECHO, args="[]", kwargs='{"value": 1, "not an identifier": 2}'),
            invalid,
            "kwargs keys must be identifiers",
        ),
        "wrong-types": (record("", ADD, args='["1", 2]'), "TypeError", "can only concatenate"),
        # checked against the task's signature before it runs (taskqueue/payloads.py)
        "too-few-args": (record("", ECHO, args="[]"), invalid, "value is required"),
        "eval": (
            record("", "builtins.eval", args=json.dumps([f"__import__('os').system({cmd!r})"])),
            invalid,
            f"{not_registered} 'builtins.eval'",
        ),
        "os-system": (
            record("", "os.system", args=json.dumps([cmd])),
            invalid,
            f"{not_registered} 'os.system'",
        ),
        "popen": (
            record("", "subprocess.Popen", args=json.dumps([["touch", str(marker)]])),
            invalid,
            f"{not_registered} 'subprocess.Popen'",
        ),
        "dunder-import": (
            record("", "__import__", args='["antigravity"]'),
            invalid,
            f"{not_registered} '__import__'",
        ),
        "canary": (record("", CANARY), invalid, f"{not_registered} '{CANARY}'"),
        "path-name": (record("", "../../etc/passwd"), invalid, not_registered),
        "long-name": (record("", "x" * 100_000), invalid, not_registered),
        "only-an-id": ({"id": ""}, invalid, f"{not_registered} ''"),
        "no-args-fields": (
            {k: v for k, v in record("", ECHO).items() if k not in ("args", "kwargs")},
            invalid,
            "value is required",
        ),
        "no-counters": (
            {
                k: v
                for k, v in record("", ADD, args='["1", 2]').items()
                if k not in ("attempts", "failures", "lost", "max_retries", "band", "priority")
            },
            "TypeError",
            "can only concatenate",
        ),
        "bad-counters": (
            record(
                "", ECHO, args='["x"]', attempts="many", failures="x", lost="1e999", max_retries="-"
            ),
            invalid,
            "record field failures is not a valid number: 'x'",
        ),
        "bad-timeout": (
            record("", ECHO, args='["x"]', timeout="soon"),
            invalid,
            "record field timeout is not a valid number: 'soon'",
        ),
        "nan-timeout": (
            record("", ECHO, args='["x"]', timeout="nan"),
            invalid,
            "record field timeout is not a valid number: 'nan'",
        ),
        "not-utf8": (record("", ECHO, args=b'["\xff\xfe"]'), invalid, "UTF-8"),
        "huge": (
            record("", ECHO, args=json.dumps(["x" * BIG])),
            invalid,
            "more than TASKQUEUE['MAX_PAYLOAD_BYTES']",
        ),
    }


def survivors() -> dict[str, dict]:
    """Records with damaged bookkeeping fields whose task is fine: they must complete.
    fails_once fails its first attempt, so its retry goes through the scheduled set and
    back to pending, where the missing or malformed band and seq place it."""
    fails_once = "tests.taskapp.tasks.fails_once"
    return {
        "bad-band-retried": record("", fails_once, band="x", seq="y", max_retries=1),
        "no-band-retried": {
            k: v for k, v in record("", fails_once, max_retries=1).items() if k != "band"
        },
    }


def put(r, prefix: str, queue: str, task_id: str, fields: dict, seq: int) -> None:
    """Write one record and make it pending, as enqueue_tasks.lua would."""
    base = f"{prefix}:{{{queue}}}:"
    fields = {k: (task_id if k == "id" else v) for k, v in fields.items()}
    r.hset(base + "task:" + task_id, mapping=fields)
    r.zadd(base + "pending", {task_id: score_of(BAND, seq)})
    r.zadd(base + "index", {task_id: int(time.time() * 1000)})
    r.incr(base + "seq")
    r.sadd(f"{prefix}:queues", queue)


def run_audited(
    tmp_path: Path, redis_url: str, prefix: str, *own: str, timeout: float = WORKER_TIMEOUT
) -> tuple[list, str]:
    """Run the audited burst worker; returns (audit events, worker log)."""
    events = tmp_path / f"events-{uuid.uuid4().hex[:6]}.jsonl"
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": redis_url,
        "TASKQUEUE_PREFIX": prefix,
        "TASKQUEUE_CANARY_FILE": str(tmp_path / "canary"),
        "PYTHONUNBUFFERED": "1",
    }
    argv = [sys.executable, str(FAULTS_DIR / "audited_worker.py"), str(events), *own]
    argv += ["--", "--burst", "--queues", "default", "--concurrency", "4"]
    log_path = tmp_path / f"{events.stem}.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = "killed: still running after {timeout} s (wedged)"
    log = log_path.read_text(errors="replace")
    assert code == 0, f"the worker exited {code}:\n{log[-5000:]}"
    lines = events.read_text().splitlines() if events.exists() else []
    return [json.loads(line) for line in lines], log


def violations(events: list[dict]) -> list[dict]:
    """Events the records caused: any program started, any import (after the warm-up
    the worker has no reason to import anything), any exec/eval, and any compile but
    one: Python 3.13's traceback formatting parses the failing line of a source file
    (ast.parse called from traceback.py) to place its carets, as it formats the
    traceback that goes into the dead-letter entry."""

    def expected(e: dict) -> bool:
        frames = e["caller"].split(" < ")
        return (
            e["event"] == "compile"
            and frames[0].endswith("/ast.py:54")
            and len(frames) > 1
            and "/traceback.py:" in frames[1]
        )

    return [e for e in events if not expected(e)]


def warm_up(r, prefix: str) -> None:
    """Ordinary tasks on the 'warmup' queue: a success, a failure, an unknown name."""
    put(r, prefix, "warmup", "w-ok", record("", ECHO, args='["hi"]', queue="warmup"), 1)
    put(r, prefix, "warmup", "w-fail", record("", ADD, args='["1", 2]', queue="warmup"), 2)
    put(r, prefix, "warmup", "w-unknown", record("", "no.such.task", queue="warmup"), 3)
    put(r, prefix, "warmup", "w-json", record("", ECHO, args="[", queue="warmup"), 4)


@pytest.mark.django_db
def test_bad_records_are_dead_lettered_and_nothing_runs(
    fault_redis, tq_prefix, tmp_path, monkeypatch, taskqueue_at
):
    r = fault_redis.client(encoding_errors="surrogateescape")  # one record is not UTF-8
    raw = fault_redis.client(decode_responses=False)
    marker = tmp_path / "pwned"
    bad = bad_records(marker)
    warm_up(raw, tq_prefix)
    good, seq = [], 0
    for bad_id, (fields, _, _) in bad.items():
        seq += 1
        put(raw, tq_prefix, "default", f"good-{seq}", record("", ECHO, args=f'["ok-{seq}"]'), seq)
        good.append(f"good-{seq}")
        put(raw, tq_prefix, "default", bad_id, fields, seq := seq + 1)
    put(raw, tq_prefix, "default", "good-last", record("", ECHO, args='["last"]'), seq + 1)
    good.append("good-last")

    events, log = run_audited(tmp_path, fault_redis.url, tq_prefix, "--warmup", "warmup")

    base = f"{tq_prefix}:{{default}}:"
    for task_id in good:
        rec = r.hgetall(base + "task:" + task_id)
        assert rec.get("status") == "completed", (task_id, rec.get("error_message"), log[-3000:])
    dead = set(r.zrange(base + "dead", 0, -1))
    problems = []
    for bad_id, (_, error_type, text) in bad.items():
        rec = r.hgetall(base + "task:" + bad_id)
        if bad_id not in dead or rec.get("status") != "dead":
            problems.append(f"{bad_id}: status {rec.get('status')!r}, not in the DLQ")
        elif rec.get("error_type") != error_type or text not in rec.get("error_message", ""):
            problems.append(f"{bad_id}: {rec.get('error_type')}: {rec.get('error_message')!r}")
        elif rec.get("dead_reason") != "failed":
            problems.append(f"{bad_id}: dead_reason {rec.get('dead_reason')!r}")
    assert not problems, "\n".join(problems) + "\n" + log[-3000:]
    for name in ("pending", "active", "scheduled"):
        assert r.zcard(base + name) == 0, name
    assert r.zcard(base + "completed") == len(good)
    assert not marker.exists(), "a record's command ran"
    assert not (tmp_path / "canary").exists(), "the canary module was imported"
    assert violations(events) == [], violations(events)[:10]
    taskqueue_at(fault_redis.url)
    assert shown_then_deleted(list(bad)) == {}


def shown_then_deleted(dead_ids: list[str]) -> dict[str, int]:
    """Every page of the API and the console that shows these dead letters, then the
    DELETE of each: {what: status} of those that did not answer 200."""
    user = make_user("ops", "view_console", "operate_tasks")
    api, console = Api(make_token(user)), Client()
    console.force_login(user)
    answers = {
        "api tasks": api.get("tasks", limit=200),
        "api dlq": api.get("dlq", limit=200),
        "console tasks": console.get("/tasks/"),
        "console dead": console.get("/dead/"),
    }
    for task_id in dead_ids:
        answers[f"api {task_id}"] = api.get(f"tasks/{task_id}")
        answers[f"console {task_id}"] = console.get(f"/tasks/{task_id}/")
        answers[f"delete {task_id}"] = api.delete(f"tasks/{task_id}")
    return {what: r.status_code for what, r in answers.items() if r.status_code != 200}


def test_damaged_bookkeeping_fields_lose_no_task(fault_redis, tq_prefix, worker_pool):
    """A retried task whose record lacks its band, or has band and seq that are not
    numbers, goes back to pending and completes (the promotion used to raise half-way:
    the task left the scheduled set and reached no other)."""
    r = fault_redis.client()
    raw = fault_redis.client(decode_responses=False)
    ids = list(survivors())
    for seq, (task_id, fields) in enumerate(survivors().items(), 1):
        put(raw, tq_prefix, "default", task_id, fields, seq)
    worker_pool(1)
    base = f"{tq_prefix}:{{default}}:"
    status = lambda: [r.hget(base + "task:" + i, "status") for i in ids]  # noqa: E731
    wait_for(lambda: status() == ["completed"] * len(ids), 30, f"both completed: {status()}")
    assert [r.hget(base + "task:" + i, "failures") for i in ids] == ["1", "1"]


def test_twin_an_engine_that_imports_by_name_is_caught(fault_redis, tq_prefix, tmp_path):
    raw = fault_redis.client(decode_responses=False)
    warm_up(raw, tq_prefix)
    put(raw, tq_prefix, "default", "canary", record("", CANARY), 1)
    put(raw, tq_prefix, "default", "ok", record("", ECHO, args='["ok"]'), 2)

    events, _ = run_audited(
        tmp_path, fault_redis.url, tq_prefix, "--warmup", "warmup", "--naive-resolver"
    )

    found = violations(events)
    # importlib.import_module() raises no "import" event of its own; loading the module
    # does: its source is compiled and executed
    caught = [e for e in found if e["event"] in ("compile", "exec") and "canary.py" in e["detail"]]
    assert len(caught) == 2, found
    assert (tmp_path / "canary").exists()


def test_a_task_id_that_is_not_utf8_runs_like_any_other(fault_redis, tq_prefix, worker_pool):
    """Redis treats ids as bytes; the engine's clients decode replies with
    surrogateescape, so an id written straight into Redis that is not UTF-8 is claimed,
    run and completed under exactly its own bytes (no second record, no stuck lease)."""
    raw = fault_redis.client(decode_responses=False)
    odd, base = b"\xff\xfe-not-utf8", f"{tq_prefix}:{{default}}:".encode()
    fields = record("", ECHO, args='["odd"]') | {"id": odd}
    raw.hset(base + b"task:" + odd, mapping=fields)
    raw.zadd(base + b"pending", {odd: score_of(BAND, 1)})
    raw.zadd(base + b"index", {odd: int(time.time() * 1000)})
    raw.sadd(f"{tq_prefix}:queues", "default")
    worker_pool(1)
    status = lambda: raw.hget(base + b"task:" + odd, "status")  # noqa: E731
    wait_for(lambda: status() == b"completed", 30, f"the task to complete: {status()}")
    assert raw.hget(base + b"task:" + odd, "result") == b'"odd"'
    assert raw.zrange(base + b"completed", 0, -1) == [odd]
    assert raw.keys(base + b"task:*") == [base + b"task:" + odd]
    assert raw.zcard(base + b"active") == 0
