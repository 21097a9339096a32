"""Task records written straight into Redis (anyone with access to Redis can write one),
with a hostile value in any one field: nested too deep, too big, of the wrong type,
not UTF-8. Every API endpoint and console page that shows the record answers (never a
500), with a bounded response, and the actions on it work or refuse cleanly."""

import json
import time

import pytest
import redis

from api.tokens import create_token
from dashboard.fragments import render_fragment
from taskqueue import inspect
from taskqueue.audit import Actor
from tests.support.web import Api

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000  # what the worker dead-letters as "not valid JSON"
BIG = 5 * 1024 * 1024  # characters: more than any page shows or the API returns
PAGE_BOUND = 1024 * 1024  # bytes: no response about one record may be larger
NOT_UTF8 = b'["\xff\xfe"]'


@pytest.fixture
def raw(redis_server):
    r = redis.Redis.from_url(redis_server.url)  # bytes in, bytes out
    yield r
    r.close()


def base(task_id: str, status: str, now: int) -> dict:
    """A complete record as the scripts write it, of a task that failed once."""
    return {
        "id": task_id, "name": "console.sample", "queue": "default", "status": status,
        "priority": 5, "band": 100, "seq": 1, "args": "[1]", "kwargs": "{}",
        "max_retries": 0, "timeout": "30", "meta": "", "attempts": 1, "failures": 1,
        "lost": 0, "created_at": now - 3000, "run_at": now - 3000, "started_at": now - 2000,
        "finished_at": now - 1000 if status == "dead" else "", "heartbeat_at": now - 1500,
        "lease_until": now + 30_000 if status == "processing" else "",
        "worker": "w-1", "result": "", "error_type": "ValueError", "error_message": "boom",
        "traceback": "Traceback", "dead_reason": "failed" if status == "dead" else "",
        "idempotency_key": "", "cancel_requested": "0", "progress": '{"done": 1, "total": 4}',
        "h:1": f"w-1|{now - 2000}|{now - 1000}|dead",
        "e:1": '{"type": "ValueError", "message": "boom", "traceback": "T"}',
    }  # fmt: skip


SETS = {"dead": "dead", "processing": "active"}


def put(r, prefix: str, task_id: str, status: str, field: str, value) -> None:
    """Write the record with `field` set to `value`, and put it where its status says."""
    now = int(time.time() * 1000)
    key = f"{prefix}:{{default}}:"
    r.hset(key + "task:" + task_id, mapping=base(task_id, status, now) | {field: value})
    r.zadd(key + SETS[status], {task_id: now if status == "dead" else now + 30_000})
    r.zadd(key + "index", {task_id: now})
    r.hincrby(key + "errors", "ValueError", 1 if status == "dead" else 0)
    r.sadd(f"{prefix}:queues", "default", "emails")


JSON_FIELDS = ("args", "kwargs", "result", "progress", "meta", "e:1")
NUMBERS = ("priority", "band", "seq", "max_retries", "timeout", "attempts", "failures", "lost")
TIMES = ("created_at", "run_at", "started_at", "finished_at", "heartbeat_at", "lease_until")
TEXTS = ("id", "name", "queue", "worker", "error_type", "error_message", "traceback",
         "dead_reason", "idempotency_key", "tenant")  # fmt: skip
OTHERS = ("status", "cancel_requested", "h:1")
FIELDS = JSON_FIELDS + NUMBERS + TIMES + TEXTS + OTHERS

WRONG_JSON = {  # valid JSON of the wrong type or range
    "number": "5",
    "string": '"text"',
    "array": "[1, [2, {}]]",
    "object": '{"done": "x", "total": {}}',
    "nan": '{"done": NaN, "total": 1}',
    "overflow": '{"done": 1e308, "total": 1e-308}',
    "huge-int": '{"done": 1' + "0" * 400 + ', "total": 1}',
    "deep-but-parsable": "[" * 5000 + "]" * 5000,
}
WRONG_NUMBER = {"word": "many", "nan": "nan", "inf": "inf", "1e999": "1e999",
                "negative": "-5", "5000-digits": "9" * 5000}  # fmt: skip
WRONG_TIME = {"nan": "nan", "inf": "-inf", "year-3e9": "1e20", "before-year-1": "-1e20"}
WRONG_TEXT = {"json": '{"a": [1]}', "control": "a\x00b\x1b[31m<script>x</script>",
              "other-queue": "emails", "slash": "a/b", "empty": ""}  # fmt: skip
WRONG_OTHER = {
    "status": {"unknown": "bogus", "empty": "", "completed": "completed"},
    "cancel_requested": {"word": "yes", "big-number": "9" * 5000},
    "h:1": {"pipes": "||||||", "numbers": "w|nan|inf|weird", "empty": ""},
}


def hostile_values(field: str) -> dict[str, str | bytes]:
    """Every hostile value of one field, by name."""
    if field in JSON_FIELDS:
        wrong = WRONG_JSON
    elif field in NUMBERS:
        wrong = WRONG_NUMBER
    elif field in TIMES:
        wrong = WRONG_TIME
    elif field in TEXTS:
        wrong = WRONG_TEXT
    else:
        wrong = WRONG_OTHER[field]
    big = json.dumps(["x" * BIG]) if field in JSON_FIELDS else "x" * BIG
    return {"deep": DEEP, "big": big, "not-utf8": NOT_UTF8} | wrong


TABLE = [(field, kind, value) for field in FIELDS for kind, value in hostile_values(field).items()]


@pytest.fixture
def reader(operator):
    return Api(create_token(Actor("t", "system"), operator, "t", ("read", "operate"))[1])


RECORD_READS = {  # each record's own pages
    "api detail": lambda api, c, i: api.get(f"tasks/{i}"),
    "api search": lambda api, c, i: api.get("tasks", q=i),
    "console task": lambda api, c, i: c.get(f"/tasks/{i}/"),
    "console task panel": lambda api, c, i: c.get(f"/tasks/{i}/", headers={"HX-Request": "true"}),
}
LIST_READS = {  # the lists that show both records
    "api list": lambda api, c: api.get("tasks"),
    "api dlq": lambda api, c: api.get("dlq", name="console.sample"),
    "console tasks": lambda api, c: c.get("/tasks/"),
    "console dead": lambda api, c: c.get("/dead/"),
    "console in flight": lambda api, c: c.get("/queues/default/", {"status": "processing"}),
    "console overview": lambda api, c: c.get("/"),
}


def read_everything(api, client, *task_ids: str) -> dict[str, tuple[int, int]]:
    """(status code, body size) of every read that shows the records."""
    out = {name: read(api, client) for name, read in LIST_READS.items()}
    for task_id in task_ids:
        out |= {
            f"{name} {task_id}": read(api, client, task_id) for name, read in RECORD_READS.items()
        }
    return {name: (r.status_code, len(r.content)) for name, r in out.items()}


def unanswered(answers: dict) -> dict:
    return {name: a for name, a in answers.items() if a[0] != 200 or a[1] > PAGE_BOUND}


@pytest.mark.parametrize(
    ("field", "value"), [pytest.param(f, v, id=f"{f}-{k}") for f, k, v in TABLE]
)
def test_a_hostile_field_is_shown_by_every_read_and_the_actions_work(
    raw, tq_prefix, reader, operator_client, field, value
):
    put(raw, tq_prefix, "dead-1", "dead", field, value)
    put(raw, tq_prefix, "busy-1", "processing", field, value)
    assert not unanswered(read_everything(reader, operator_client, "dead-1", "busy-1"))
    for task_id in ("dead-1", "busy-1"):
        for kind in ("task-row", "task-panel", "task-running"):  # what the relay pushes
            render_fragment(kind, task_id, can_operate=True)
    check_actions(raw, tq_prefix, reader, operator_client, field, value)


def check_actions(raw, prefix, api, console, field, value):
    """Requeue into another queue, retry, cancel, delete: done, or refused with a 4xx."""
    htmx = {"HX-Request": "true"}
    status_is_hostile = field == "status"
    moved = api.post("dlq/requeue", {"ids": ["dead-1"], "to_queue": "emails"})
    assert moved.status_code == 200, moved.content[:300]
    put(raw, prefix, "dead-2", "dead", field, value)
    answers = {
        "retry": api.post("tasks/dead-2/retry").status_code,
        "cancel": console.post("/tasks/dead-2/cancel/", headers=htmx).status_code,
        "delete": api.delete("tasks/dead-2").status_code,
        "cancel running": console.post("/tasks/busy-1/cancel/", headers=htmx).status_code,
    }
    if status_is_hostile:
        assert set(answers.values()) <= {200, 409}, answers
        return
    assert moved.json()["count"] == 1
    assert copied(raw, prefix) == stored_as(field, value), "the move changed what it copied"
    assert answers == {"retry": 200, "cancel": 200, "delete": 200, "cancel running": 200}


# Ids as a record's key and its sets' members say them (the console's URLs cannot hold
# some of them: those rows have no link and no buttons, and nothing answers 500).
HOSTILE_IDS = {
    "slash": b"a/b",
    "empty": b"",
    "dot-dot": b"..",
    "space": b"a b",
    "query": b"?q=1#x",
    "control": b"a\x1bb",
    "long": b"x" * 100,
    "not-utf8": b"\xff\xfe-id",
    "markup": b"<script>alert(1)</script>",
}


def put_id(r, prefix: str, task_id: bytes) -> None:
    now = int(time.time() * 1000)
    key = f"{prefix}:{{default}}:".encode()
    r.hset(key + b"task:" + task_id, mapping=base("ignored", "dead", now))
    r.zadd(key + b"dead", {task_id: now})
    r.zadd(key + b"index", {task_id: now})
    r.sadd(f"{prefix}:queues", "default", "emails")


@pytest.mark.parametrize("task_id", [pytest.param(v, id=k) for k, v in HOSTILE_IDS.items()])
def test_a_hostile_task_id_leaves_every_list_answering(
    raw, tq_prefix, reader, operator_client, task_id
):
    put_id(raw, tq_prefix, task_id)
    answers = {name: read(reader, operator_client) for name, read in LIST_READS.items()}
    answers["console queue"] = operator_client.get("/queues/default/", {"status": "dead"})
    assert {name: r.status_code for name, r in answers.items() if r.status_code != 200} == {}
    text = task_id.decode("utf-8", "replace")
    render_fragment("task-row", text, can_operate=True)
    requeued = reader.post("dlq/requeue", {"filter": {"queue": "default"}})
    assert requeued.status_code == 200 and requeued.json()["count"] == 1, requeued.content[:300]
    key = f"{tq_prefix}:{{default}}:".encode()
    assert raw.zrange(key + b"pending", 0, -1) == [task_id]  # acted on under its own bytes
    moved = reader.post("dlq/requeue", {"ids": [text], "to_queue": "emails"})
    assert moved.status_code in (200, 422), moved.content[:300]
    raw.delete(key + b"task:" + task_id)  # (the test's clean-up deletes keys by str name)


COPIED = ("name", "args", "kwargs", "meta")


def copied(r, prefix: str) -> list[bytes]:
    """The copied fields of the one task the move created in queue emails."""
    (copy_id,) = r.zrange(f"{prefix}:{{emails}}:pending", 0, -1)
    return r.hmget(f"{prefix}:{{emails}}:task:".encode() + copy_id, COPIED)


def stored_as(field: str, value) -> list[bytes]:
    written = base("dead-1", "dead", 0) | {field: value}
    return [v if isinstance(v, bytes) else str(v).encode() for v in map(written.get, COPIED)]


# -- one 50 MB argument: never read whole ------------------------------------------------


def redis_sent(r) -> int:
    return r.info("stats")["total_net_output_bytes"]


def test_a_50_mb_argument_is_never_read_whole_by_a_page(raw, tq_prefix, reader, viewer_client):
    put(raw, tq_prefix, "huge", "dead", "args", json.dumps(["x" * 50 * 1024 * 1024]))
    before = redis_sent(raw)
    answers = read_everything(reader, viewer_client, "huge")
    sent = redis_sent(raw) - before
    assert not unanswered(answers), answers
    assert sent < 2 * 1024 * 1024, f"Redis sent {sent} bytes for {len(answers)} reads"
    detail = reader.get("tasks/huge").json()
    assert detail["args"] is None
    assert "too large" in detail["unreadable"]["args"]


def test_a_field_nested_too_deep_reads_as_unreadable_in_the_api(raw, tq_prefix, reader):
    put(raw, tq_prefix, "deep", "dead", "args", DEEP)
    detail = reader.get("tasks/deep").json()
    assert detail["args"] is None
    assert "nested" in detail["unreadable"]["args"]
    assert detail["kwargs"] == {} and "kwargs" not in detail["unreadable"]


def test_the_console_says_a_field_is_unreadable(raw, tq_prefix, viewer_client):
    put(raw, tq_prefix, "deep", "dead", "args", DEEP)
    page = viewer_client.get("/tasks/deep/").content.decode()
    assert "Unreadable" in page and "nested" in page


def test_a_record_is_known_by_where_it_is_stored_not_by_what_it_says(raw, tq_prefix):
    put(raw, tq_prefix, "here", "dead", "queue", "emails")
    raw.hset(f"{tq_prefix}:{{default}}:task:here", "id", "elsewhere")
    record = inspect.get_task("here")
    assert (record.id, record.queue) == ("here", "default")


# -- bytes that are not UTF-8 (shown with U+FFFD) ------------------------------------------


@pytest.fixture
def bad_record(raw, tq_prefix) -> str:
    base_key = f"{tq_prefix}:{{default}}:"
    now = int(time.time() * 1000)
    fields = {
        "id": "bad",
        "name": b"tests.\xff",
        "queue": "default",
        "status": "dead",
        "args": b'["\xff\xfe"]',
        "kwargs": "{}",
        "error_type": "InvalidTaskRecord",
        "error_message": b"not \xfe UTF-8",
        "traceback": b"Traceback \xff",
        "created_at": now,
        "finished_at": now,
    }
    raw.hset(base_key + "task:bad", mapping=fields)
    raw.zadd(base_key + "dead", {"bad": now})
    raw.zadd(base_key + "index", {"bad": now})
    raw.sadd(f"{tq_prefix}:queues", "default")
    return "bad"


@pytest.mark.parametrize("url", ["/tasks/bad/", "/tasks/", "/dead/", "/"])
def test_console_pages_show_it(viewer_client, bad_record, url):
    response = viewer_client.get(url)
    assert response.status_code == 200


def test_the_api_shows_it(viewer, bad_record):
    api = Api(create_token(Actor("t", "system"), viewer, "t", ("read",))[1])
    detail = api.get("tasks/bad")
    assert detail.status_code == 200
    assert detail.json()["error_message"] == "not \ufffd UTF-8"
    assert detail.json()["args"] == ["\ufffd\ufffd"]
    assert api.get("tasks").status_code == 200
    assert api.get("dlq").status_code == 200
