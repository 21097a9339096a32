"""R6: enqueues at a steady rate while 3 workers consume; Redis is killed with SIGKILL
and started again on the same data dir (AOF, fsync every second) after 3 s.

Must hold: no acknowledged enqueue is lost; during the outage the JSON API answers 503
(not 500, not a hang: each call is bounded) to an enqueue and to a read; every worker
claims again within 10 s of Redis being back (its first ledger start record after
the restart).

The workers run tasks a little slower than they arrive, so a backlog of acknowledged
tasks is waiting in Redis when it dies: the restart has something to lose.

Broken twin: the same with a Redis that has no AOF (and no snapshots): the restart
comes back empty and the oracle must report the backlog as lost.
"""

import threading
import time

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connections
from django.test import Client

from api.tokens import create_token
from taskqueue.audit import Actor
from tests.taskapp.fault_tasks import work

from .oracle import check, wait_drained
from .rig import figures
from .sizes import pick

pytestmark = pytest.mark.faults

RATE = pick(ci=150, full=300)  # enqueues per second
SECONDS = pick(ci=10, full=40)  # of load
KILL_AT = pick(ci=4, full=15)  # seconds into the load
OUTAGE = 3.0
TASK_MS = 50
WORKERS = 3
CONCURRENCY = pick(ci=2, full=4)  # 3 x 2 (4) / 50 ms: at most 120 (240) tasks/s
WORKER_ARGS = ("--concurrency", str(CONCURRENCY))
BACK_WITHIN = 10.0  # s: every worker claims again
API_WITHIN = 5.0  # s: each API call during the outage answers
AOF_WINDOW = 2.5  # s before the kill: Redis may have acknowledged writes not yet in its AOF


@pytest.fixture
def api_client(transactional_db) -> Client:
    """A Django test client with a bearer token that may read and enqueue (committed to
    the database: the calls run in a thread of their own, to bound them)."""
    user = User.objects.create_user("r6", password=None)
    perms = Permission.objects.filter(
        content_type__app_label="taskqueue", codename__in=("view_console", "operate_tasks")
    )
    user.user_permissions.add(*perms)
    token = create_token(Actor("tests", "system"), user, "r6", ("read", "enqueue"))[1]
    return Client(headers={"Authorization": f"Bearer {token}"})


def bounded(call, timeout: float):
    """(response or None when it did not answer within `timeout`, seconds taken)."""
    result = []

    def run():
        try:
            result.append(call())
        finally:
            connections.close_all()

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    return (result[0] if result else None), time.monotonic() - started


def api_calls(client: Client) -> dict:
    body = {"task": work.name, "args": [TASK_MS]}
    return {
        "POST /api/v1/tasks": lambda: client.post(
            "/api/v1/tasks", body, content_type="application/json"
        ),
        "GET /api/v1/queues": lambda: client.get("/api/v1/queues"),
    }


def answer(response) -> str | None:
    """'503 broker_unavailable' (status and error code), or None: no answer in time."""
    if response is None:
        return None
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "-"
    return f"{response.status_code} {code}"


def probe_api(client: Client, until: float) -> list[tuple[str, str | None, float]]:
    """Call each endpoint again and again until `until` (monotonic)."""
    seen = []
    while time.monotonic() < until:
        for name, call in api_calls(client).items():
            response, took = bounded(call, API_WITHIN)
            seen.append((name, answer(response), took))
    return seen


def backlog(r, prefix: str) -> int:
    base = f"{prefix}:{{default}}:"
    return sum(r.zcard(base + name) for name in ("pending", "scheduled", "active"))


def first_claims_after(ledger, pids, since: float) -> dict[int, float | None]:
    """pid -> seconds from `since` (epoch) to its first start record after it."""
    firsts: dict[int, float] = {}
    for e in ledger.read():
        if e.kind == "start" and e.t >= since and e.pid in pids and e.pid not in firsts:
            firsts[e.pid] = e.t - since
    return {pid: firsts.get(pid) for pid in pids}


def run_outage(redis_server, producer, tq_prefix, client: Client | None):
    """Load, kill -9 at KILL_AT, probe the API during the outage, restart after OUTAGE s;
    returns the backlog at the kill, the API's answers, when Redis died and came back."""
    producer.start(work, RATE * SECONDS, lambda i: (TASK_MS,), rate=RATE)
    time.sleep(KILL_AT)  # the load runs: the scenario's timeline
    waiting = backlog(redis_server.client(), tq_prefix)
    redis_server.kill9()
    killed, killed_at = time.monotonic(), time.time()
    probes = probe_api(client, killed + OUTAGE - 1.0) if client else []
    time.sleep(max(0.0, killed + OUTAGE - time.monotonic()))  # holding the outage
    redis_server.start()
    back_at = time.time()
    producer.join(SECONDS * 3)
    return waiting, probes, killed_at, back_at


def finished_before(ledger, t: float, seconds: float) -> int:
    """Successful ends in the `seconds` before `t` (epoch)."""
    return sum(1 for e in ledger.read() if e.kind == "end" and e.ok and t - seconds <= e.t <= t)


def test_r6_redis_killed_and_restarted_loses_no_acknowledged_enqueue(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix, api_client
):
    pool = worker_pool(WORKERS, args=WORKER_ARGS)
    producer = make_producer()
    assert api_client.get("/api/v1/queues").status_code == 200  # the token works
    waiting, probes, killed, back = run_outage(fault_redis, producer, tq_prefix, api_client)
    r = fault_redis.client()
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=pick(90, 300))
    report = check(r, tq_prefix, producer, ledger)
    claims = first_claims_after(ledger, set(pool.pids), back)
    redone_bound = finished_before(ledger, killed, AOF_WINDOW)
    known = [s for s in claims.values() if s is not None]
    figures(
        "R6",
        rate=RATE,
        seconds=SECONDS,
        outage_s=OUTAGE,
        acked=report.acked,
        ambiguous=report.ambiguous,
        backlog_at_kill=waiting,
        lost=len(report.lost),
        extra_completions=report.extra_completions,
        finished_in_aof_window=redone_bound,
        api_calls=len(probes),
        api_answers=sorted({f"{name}: {got}" for name, got, _ in probes}),
        api_slowest_s=round(max(took for *_, took in probes), 3),
        claims_again_s=sorted(round(s, 2) for s in known),
        worker_restarts=pool.restarts,
        drain_s=round(drain.seconds, 2),
    )
    assert waiting > 0, "nothing was waiting in Redis when it died: the scenario proves nothing"
    assert probes and all(got == "503 broker_unavailable" for _, got, _ in probes), probes
    assert drain.done, drain
    # at-least-once: a completion Redis acknowledged but had not yet written to its AOF
    # (everysec postpones the write up to 2 s while an fsync is slow) runs again
    report.assert_clean(max_duplicates=redone_bound)
    assert None not in claims.values() and max(known) <= BACK_WITHIN, claims
    assert pool.restarts == 0, pool.tails()


def test_r6_twin_redis_without_aof_is_caught_losing_acknowledged_tasks(
    make_fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    no_aof = make_fault_redis(persistent=False)
    worker_pool(WORKERS, redis=no_aof, args=WORKER_ARGS)
    producer = make_producer(no_aof.url)
    waiting, *_ = run_outage(no_aof, producer, tq_prefix, client=None)
    r = no_aof.client()
    wait_drained(r, tq_prefix, producer, ledger, timeout=60, idle=2.0)
    report = check(r, tq_prefix, producer, ledger)
    figures("R6-twin", backlog_at_kill=waiting, lost=len(report.lost), acked=report.acked)
    # what the workers held (running, prefetched) ran from their memory: most of the
    # rest is gone (the backlog moves between the count and the kill)
    held = WORKERS * (CONCURRENCY + max(CONCURRENCY, 4))
    assert waiting > 2 * held
    assert len(report.lost) >= waiting // 2
    with pytest.raises(AssertionError, match="lost"):
        report.assert_clean()
