"""R12: the road to the dead-letter queue and back.

- Always-failing tasks with 4 retries: each retry waits within the documented bounds
  (taskqueue/worker/retry.py, docs: exponential with full jitter, the n-th retry after
  uniform(0, min(RETRY_BACKOFF_MAX, base * 2**(n-1))) seconds); then the task is dead
  with its error type, message and traceback (and one error entry per attempt).
- Requeue from the DLQ clicked twice (the service the console and the API call, twice:
  at once, and again after the task ran) makes one task: it runs to its end once.
- DEAD_MAX and DEAD_TTL hold: the oldest dead letters beyond the cap are trimmed, and
  an idle queue's dead letters are gone once DEAD_TTL has passed.

Gaps are measured on Redis's clock: the failed attempt's end and the next attempt's
claim (the attempt history `h:<n>`); SLACK covers promotion and claim latency.

Broken twin: a requeue without its guard (the status check of requeue_tasks.lua taken
out) clicked twice makes the task run twice: the ledger must show it.
"""

import json
import time

import pytest

from taskqueue import services
from taskqueue.audit import Actor
from taskqueue.broker.scripts import source
from taskqueue.errors import InvalidTransition
from taskqueue.priority import BAND_WIDTH
from tests.support.waits import wait_for
from tests.taskapp.fault_tasks_hyg import add, always_fail_jitter, fails_on_first_attempt

from .oracle import check, history, wait_drained
from .rig import figures
from .sizes import pick

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

FAILING = pick(ci=20, full=100)
BASE = pick(ci=0.5, full=1.0)
RETRIES = 4
REQUEUED = pick(ci=10, full=50)
SLACK_MS = 1500  # promotion + claim on a loaded machine
DEAD_MAX = 10
DEAD_TTL = pick(ci=3, full=5)
WORKERS = 3
ACTOR = Actor("r12", "cli")


def backoff_gaps(rec: dict) -> list[int]:
    """ms between each failed attempt's end and the next attempt's claim."""
    h = history(rec)
    return [h[n + 1][1] - h[n][2] for n in range(1, RETRIES + 1)]


def test_r12_backoff_dead_letter_and_one_requeue(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    worker_pool(WORKERS, env={"TASKQUEUE_HYG_BACKOFF_BASE": str(BASE)})
    producer = make_producer()
    failing = producer.enqueue_many([(always_fail_jitter, (), {}) for _ in range(FAILING)])
    requeued = producer.enqueue_many([(fails_on_first_attempt, (), {}) for _ in range(REQUEUED)])
    r = fault_redis.client()
    ceiling = sum(BASE * 2**n for n in range(RETRIES))
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=ceiling + pick(60, 120))
    assert drain.done, drain
    base = f"{tq_prefix}:{{default}}:"

    # the backoff, and what the dead letter says
    worst = {n: 0.0 for n in range(1, RETRIES + 1)}
    means = {n: 0.0 for n in range(1, RETRIES + 1)}
    problems = []
    for task_id in failing:
        rec = r.hgetall(base + "task:" + task_id)
        if (rec["status"], rec["attempts"], rec["failures"]) != ("dead", "5", "5"):
            problems.append(f"{task_id}: {rec['status']} after {rec['attempts']} attempts")
            continue
        for n, gap in enumerate(backoff_gaps(rec), 1):
            bound = BASE * 2 ** (n - 1) * 1000
            worst[n] = max(worst[n], gap / bound)
            means[n] += gap / FAILING / 1000
            if not 0 <= gap <= bound + SLACK_MS:
                problems.append(f"{task_id}: retry {n} after {gap} ms, bound {bound:.0f} ms")
        if (rec["error_type"], rec["dead_reason"]) != ("ValueError", "failed"):
            problems.append(f"{task_id}: {rec['error_type']} / {rec['dead_reason']}")
        if rec["error_message"] != "always_fail_jitter: attempt 5 fails":
            problems.append(f"{task_id}: message {rec['error_message']!r}")
        if not rec["traceback"].startswith("Traceback (most recent call last):") or (
            'raise ValueError(f"always_fail_jitter' not in rec["traceback"]
        ):
            problems.append(f"{task_id}: traceback {rec['traceback'][:200]!r}")
        errors = [json.loads(rec[f"e:{n}"]) for n in range(1, 6)]
        if [e["message"] for e in errors] != [
            f"always_fail_jitter: attempt {n} fails" for n in range(1, 6)
        ] or not all(e["type"] == "ValueError" and e["traceback"] for e in errors):
            problems.append(f"{task_id}: per-attempt errors {errors}")
    assert not problems, problems[:10]
    assert means[RETRIES] > means[1], means  # the backoff grows

    # requeue from the DLQ, clicked twice: at once, and again once the task has run
    assert set(r.zrange(base + "dead", 0, -1)) >= set(requeued)
    half = len(requeued) // 2
    assert services.requeue_dead(ACTOR, ids=requeued[:half]) == half
    assert services.requeue_dead(ACTOR, ids=requeued[:half]) == 0  # the double click
    for task_id in requeued[half:]:
        services.retry(ACTOR, task_id)
    wait_for(lambda: all(ledger.completions().get(i) for i in requeued), 60, "requeued ran")
    assert services.requeue_dead(ACTOR, ids=requeued) == 0  # a late second click
    for task_id in requeued[half:]:
        with pytest.raises(InvalidTransition):
            services.retry(ACTOR, task_id)
    assert wait_drained(r, tq_prefix, producer, ledger, timeout=30).done
    completions = ledger.completions()
    assert [completions.get(i) for i in requeued] == [1] * len(requeued)
    report = check(r, tq_prefix, producer, ledger)
    report.assert_clean()
    assert set(report.dead) == set(failing)
    figures(
        "R12",
        failing=FAILING,
        retries=RETRIES,
        base_s=BASE,
        worst_gap_vs_bound={n: round(v, 2) for n, v in worst.items()},
        mean_gap_s={n: round(v, 3) for n, v in means.items()},
        requeued=len(requeued),
        runs_after_requeue=sum(completions.get(i, 0) for i in requeued),
        drain_s=round(drain.seconds, 2),
    )


def test_r12_dead_letters_are_capped_and_expire(fault_redis, worker_pool, make_producer, tq_prefix):
    extra = {"DEAD_MAX": DEAD_MAX, "DEAD_TTL": DEAD_TTL}
    worker_pool(WORKERS, env={"TASKQUEUE_EXTRA": json.dumps(extra)})
    producer = make_producer()
    n = DEAD_MAX + 15
    ids = producer.enqueue_many([(add, ("1", i), {}) for i in range(n)])  # each a TypeError
    r = fault_redis.client()
    base = f"{tq_prefix}:{{default}}:"
    wait_for(lambda: int(r.hget(base + "stats", "dead") or 0) == n, 30, "all dead")
    dead = r.zrange(base + "dead", 0, -1)
    assert len(dead) == DEAD_MAX
    assert r.hget(base + "stats", "dead_trimmed") == str(n - DEAD_MAX)
    assert r.hget(base + "errors", "TypeError") == str(DEAD_MAX)
    trimmed = [i for i in ids if i not in set(dead)]
    assert not any(r.exists(base + "task:" + i) for i in trimmed)
    died = time.time()
    # nothing else happens in this queue now: the TTL alone must empty the DLQ
    wait_for(lambda: r.zcard(base + "dead") == 0, DEAD_TTL + 15, "the dead letters expired")
    expired_after = time.time() - died
    assert not any(r.exists(base + "task:" + i) for i in dead)
    assert r.hlen(base + "errors") == 0
    figures("R12-dlq", dead_max=DEAD_MAX, dead_ttl_s=DEAD_TTL, gone_after_s=round(expired_after, 2))


UNGUARDED = source("requeue_tasks").replace(
    "if requeued[status] then", "if status ~= 'missing' then"
)


def unguarded_requeue(r, prefix: str, ids: list[str]) -> None:
    """requeue_tasks.lua without its guard, run the way the broker runs it."""
    base = f"{prefix}:{{default}}:"
    keys = [base + k for k in ("pending", "dead", "cancelled", "seq", "errors", "events")]
    keys += [base + "wake", base + "stats"]
    assert source("requeue_tasks") != UNGUARDED
    r.eval(UNGUARDED, len(keys), *keys, base, "", 1000, 64, BAND_WIDTH, "dead", *ids)


def test_r12_twin_requeue_without_its_guard_runs_twice(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    worker_pool(1)
    producer = make_producer()
    ids = producer.enqueue_many([(fails_on_first_attempt, (), {}) for _ in range(5)])
    r = fault_redis.client()
    assert wait_drained(r, tq_prefix, producer, ledger, timeout=30).done
    unguarded_requeue(r, tq_prefix, ids)
    wait_for(lambda: all(ledger.completions().get(i) for i in ids), 30, "requeued ran")
    unguarded_requeue(r, tq_prefix, ids)  # the late second click
    assert wait_drained(r, tq_prefix, producer, ledger, timeout=30).done
    completions = ledger.completions()
    assert [completions.get(i) for i in ids] == [2] * len(ids)  # caught: each ran twice
    assert check(r, tq_prefix, producer, ledger).extra_completions == len(ids)
