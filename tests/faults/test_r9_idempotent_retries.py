"""R9: enqueues through the fault proxy with 5 % of the replies dropped; the producer
sends a request again whenever a call errors or times out, as a client of the JSON API
retrying a POST would: a new call (a new task id), the same idempotency key. Must hold:
exactly one task per request exists and runs.

The producer's client has redis-py's own retry turned off, so every dropped reply
reaches the producer (redis-py would otherwise resend the same task id, which the
enqueue script leaves alone: test_enqueue_resend.py).

Broken twin: the same requests without idempotency keys. Every dropped reply was an
enqueue that ran, so the retry makes a second task: the oracle counts them as phantom
(finished, but not a task the producer was acknowledged for).
"""

import random
import time
import uuid

import pytest
from redis.backoff import NoBackoff
from redis.retry import Retry

from taskqueue.broker.redis_broker import RedisBroker
from taskqueue.client import connect
from taskqueue.conf import get_config
from taskqueue.errors import BrokerUnavailable
from tests.taskapp.fault_tasks import work

from .oracle import check, wait_drained
from .proxy import FaultProxy
from .rig import figures
from .sizes import pick

pytestmark = pytest.mark.faults

REQUESTS = pick(ci=1_000, full=5_000)
DROP = 0.05
WORKERS = 2
MAX_TRIES = 20


class RetryingProducer:
    """One enqueue per request through its own client; a failed call is sent again as a
    new call with the same idempotency key (none when `keyed` is False)."""

    def __init__(self, url: str, *, keyed: bool):
        client = connect(url, socket_timeout=2.0, retry=Retry(NoBackoff(), 0))
        self.broker = RedisBroker(client, get_config())
        self.keyed = keyed
        self.token = uuid.uuid4().hex[:8]
        self.acked: list[str] = []
        self.failed_calls: list[str] = []  # ids of calls that raised (they may exist)
        self.ambiguous_ids: set[str] = set()  # none: every request ends acknowledged
        self.queues: set[str] = set()  # the queues the oracle looks at

    @property
    def acked_ids(self) -> set[str]:
        return set(self.acked)

    @property
    def enqueued_ids(self) -> set[str]:
        """The tasks the producer asked for: one per request, the acknowledged one."""
        return set(self.acked)

    def request(self, i: int) -> None:
        caller = work.using(idempotency_key=f"{self.token}-{i}") if self.keyed else work
        for _ in range(MAX_TRIES):
            new = caller.prepare(random.randint(1, 5))
            self.queues.add(new.queue)
            try:
                [(task_id, _)] = self.broker.enqueue([new])
            except BrokerUnavailable:
                self.failed_calls.append(new.id)
                continue
            self.acked.append(task_id)
            return
        raise AssertionError(f"request {i}: no answer after {MAX_TRIES} calls")

    def run(self, n: int) -> None:
        for i in range(n):
            self.request(i)
        self.broker.client.close()


def send_through_dropping_proxy(fault_redis, taskqueue_at, *, keyed: bool):
    taskqueue_at(fault_redis.url)
    with FaultProxy("127.0.0.1", fault_redis.port) as proxy:
        proxy.drop_reply(DROP, close_after=0.05)
        producer = RetryingProducer(proxy.url, keyed=keyed)
        started = time.monotonic()
        producer.run(REQUESTS)
        elapsed = time.monotonic() - started
        drops = proxy.stats().drops
    return producer, drops, elapsed


def tasks_in_redis(r, prefix: str) -> int:
    return r.zcard(f"{prefix}:{{default}}:index")


def test_r9_retried_enqueues_with_idempotency_keys_make_exactly_one_task_each(
    fault_redis, worker_pool, taskqueue_at, ledger, tq_prefix
):
    worker_pool(WORKERS)
    producer, drops, elapsed = send_through_dropping_proxy(fault_redis, taskqueue_at, keyed=True)
    r = fault_redis.client()
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=pick(60, 120))
    report = check(r, tq_prefix, producer, ledger)
    created = tasks_in_redis(r, tq_prefix)
    figures(
        "R9",
        requests=REQUESTS,
        dropped_replies=drops,
        failed_calls=len(producer.failed_calls),
        enqueue_s=round(elapsed, 2),
        tasks_created=created,
        tasks_ran=len(ledger.completions()),
        extra_completions=report.extra_completions,
        drain_s=round(drain.seconds, 2),
    )
    assert drops > 0 and len(producer.failed_calls) >= drops
    assert drain.done, drain
    report.assert_clean()
    assert len(producer.acked_ids) == created == REQUESTS
    assert ledger.completions() == dict.fromkeys(producer.acked_ids, 1)


def test_r9_twin_retries_without_idempotency_keys_are_caught_as_extra_tasks(
    fault_redis, worker_pool, taskqueue_at, ledger, tq_prefix
):
    worker_pool(WORKERS)
    producer, drops, _ = send_through_dropping_proxy(fault_redis, taskqueue_at, keyed=False)
    r = fault_redis.client()
    wait_drained(r, tq_prefix, producer, ledger, timeout=pick(60, 120))
    report = check(r, tq_prefix, producer, ledger)
    created = tasks_in_redis(r, tq_prefix)
    figures(
        "R9-twin",
        requests=REQUESTS,
        dropped_replies=drops,
        tasks_created=created,
        phantom=len(report.phantom),
    )
    assert drops > 0
    assert created > REQUESTS  # one more task per dropped reply
    assert len(report.phantom) == created - REQUESTS
    assert set(report.phantom) <= set(producer.failed_calls)
    with pytest.raises(AssertionError, match="phantom"):
        report.assert_clean()
