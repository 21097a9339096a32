"""A Hypothesis state machine drives the broker against real Redis and compares it,
step by step, with a plain Python model: priority order, FIFO within a priority,
every task in exactly one place, fencing and counters."""

import itertools
import uuid
from dataclasses import dataclass, replace

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from taskqueue.client import build_broker
from taskqueue.conf import get_config
from taskqueue.errors import InvalidTransition
from taskqueue.priority import band_of, level_of
from taskqueue.records import TaskError

from .factories import make_task

Q = "default"
LEASE = 10_000
SET_OF = {
    "pending": "pending",
    "scheduled": "scheduled",
    "processing": "active",
    "completed": "completed",
    "dead": "dead",
    "cancelled": "cancelled",
}


@dataclass
class Model:
    status: str
    band: int
    seq: int
    max_retries: int
    run_at: int
    attempts: int = 0
    failures: int = 0
    lost: int = 0
    lease_until: int = 0


class BrokerMachine(RuleBasedStateMachine):
    config = None

    def __init__(self):
        super().__init__()
        cfg = replace(self.config, PREFIX=f"m{uuid.uuid4().hex[:10]}", MAX_LEASE_LOSSES=2)
        self.broker = build_broker(cfg)
        self.max_lost = cfg.MAX_LEASE_LOSSES
        self.now = 1_800_000_000_000
        self.seq = 0
        self.tasks: dict[str, Model] = {}
        self.held: dict[str, int] = {}  # what the (single) simulated worker thinks it holds
        self.ids = itertools.count()

    def teardown(self):
        client = self.broker.client
        for key in client.scan_iter(match=f"{self.broker.config.PREFIX}:*"):
            client.unlink(key)
        client.close()

    def _next_seq(self):
        self.seq += 1
        return self.seq

    def _ids(self, status):
        return [i for i, m in self.tasks.items() if m.status == status]

    @rule(
        priority=st.integers(1, 10),
        delay=st.sampled_from([0, 0, 0, 1000, 7000]),
        max_retries=st.integers(0, 2),
    )
    def enqueue(self, priority, delay, max_retries):
        task_id = f"t{next(self.ids):04d}"
        t = make_task(task_id=task_id, priority=priority, delay_ms=delay, max_retries=max_retries)
        assert self.broker.enqueue([t], now=self.now) == [(task_id, True)]
        status = "scheduled" if delay else "pending"
        self.tasks[task_id] = Model(
            status, band_of(level_of(priority)), self._next_seq(), max_retries, self.now + delay
        )

    @rule(count=st.integers(1, 4))
    def claim(self, count):
        order = sorted(self._ids("pending"), key=lambda i: (self.tasks[i].band, self.tasks[i].seq))
        expected = order[:count]
        claimed = self.broker.claim(Q, "w", count, lease_ms=LEASE, now=self.now)
        assert [c.id for c in claimed] == expected
        for c in claimed:
            m = self.tasks[c.id]
            m.attempts += 1
            assert c.attempt == m.attempts
            m.status, m.lease_until = "processing", self.now + LEASE
            self.held[c.id] = c.attempt

    def _accepts(self, task_id):
        m = self.tasks.get(task_id)
        return m is not None and m.status == "processing" and m.attempts == self.held[task_id]

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def complete(self, data):
        task_id = data.draw(st.sampled_from(sorted(self.held)))
        ok = self._accepts(task_id)
        assert self.broker.complete(Q, [(task_id, self.held.pop(task_id), "1")], now=self.now) == [
            ok
        ]
        if ok:
            self.tasks[task_id].status = "completed"

    @precondition(lambda self: self.held)
    @rule(data=st.data(), retry=st.booleans(), delay=st.sampled_from([0, 500, 5000]))
    def fail(self, data, retry, delay):
        task_id = data.draw(st.sampled_from(sorted(self.held)))
        ok, attempt = self._accepts(task_id), self.held.pop(task_id)
        outcome = self.broker.fail(
            Q,
            task_id,
            attempt,
            retry_delay_ms=delay if retry else None,
            error=TaskError("E", "m", ""),
            now=self.now,
        )
        if not ok:
            assert outcome == "stale"
            return
        m = self.tasks[task_id]
        m.failures += 1
        if retry and m.failures <= m.max_retries:
            m.status, m.run_at = "scheduled", self.now + delay
        else:
            m.status = "dead"
        assert outcome == m.status

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def renew(self, data):
        task_id = data.draw(st.sampled_from(sorted(self.held)))
        ok = self._accepts(task_id)
        reply = self.broker.renew(Q, [(task_id, self.held[task_id])], lease_ms=LEASE, now=self.now)
        assert (reply[0] > 0) == ok
        if ok:
            self.tasks[task_id].lease_until = self.now + LEASE
        else:
            del self.held[task_id]

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def release(self, data):
        task_id = data.draw(st.sampled_from(sorted(self.held)))
        ok = self._accepts(task_id)
        assert self.broker.release(Q, [(task_id, self.held.pop(task_id))], now=self.now) == [ok]
        if ok:
            self.tasks[task_id].status = "pending"

    @rule(ms=st.sampled_from([1, 499, 500, 5000, LEASE - 1, LEASE, LEASE + 1]))
    def advance_time(self, ms):
        self.now += ms

    @rule()
    def promote(self):
        due = sorted(
            (m.run_at, i)
            for i, m in self.tasks.items()
            if m.status == "scheduled" and m.run_at <= self.now
        )
        assert self.broker.promote(Q, now=self.now)[0] == len(due)
        for _, task_id in due:
            self.tasks[task_id].status, self.tasks[task_id].seq = "pending", self._next_seq()

    @rule()
    def worker_dies_and_its_leases_expire(self):
        self.held.clear()
        self.now += LEASE + 1
        self.reap()

    @rule()
    def reap(self):
        expired = sorted(
            (m.lease_until, i)
            for i, m in self.tasks.items()
            if m.status == "processing" and m.lease_until <= self.now
        )
        requeued = dead = 0
        for _, task_id in expired:
            m = self.tasks[task_id]
            m.lost += 1
            if m.lost >= self.max_lost:
                m.status, dead = "dead", dead + 1
            else:
                m.status, requeued = "pending", requeued + 1
        assert self.broker.reap(Q, now=self.now) == (requeued, dead)

    @precondition(lambda self: self.tasks)
    @rule(data=st.data())
    def cancel(self, data):
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        m = self.tasks[task_id]
        if m.status in ("pending", "scheduled"):
            assert self.broker.cancel(Q, task_id, now=self.now) == ("cancelled", m.status)
            m.status = "cancelled"
        elif m.status == "processing":
            assert self.broker.cancel(Q, task_id, now=self.now)[0] == "requested"
        else:
            with pytest.raises(InvalidTransition):
                self.broker.cancel(Q, task_id, now=self.now)

    @precondition(lambda self: self.tasks)
    @rule(data=st.data())
    def requeue(self, data):
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        m = self.tasks[task_id]
        assert [r.before for r in self.broker.requeue(Q, [task_id], now=self.now)] == [m.status]
        if m.status in ("dead", "cancelled"):
            m.status, m.seq, m.failures, m.lost = "pending", self._next_seq(), 0, 0

    @precondition(lambda self: self.tasks)
    @rule(data=st.data())
    def delete(self, data):
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        status = self.tasks[task_id].status
        assert [r.before for r in self.broker.delete(Q, [task_id])] == [status]
        if status in ("completed", "dead", "cancelled"):
            del self.tasks[task_id]

    @invariant()
    def every_task_is_in_exactly_the_set_of_its_status(self):
        q = self.broker.keys.queue(Q)
        kinds = list(SET_OF.values())
        with self.broker.client.pipeline(transaction=False) as pipe:
            for task_id in self.tasks:
                for kind in kinds:
                    pipe.zscore(getattr(q, kind), task_id)
                pipe.hmget(q.task(task_id), "status", "attempts", "failures")
            replies = pipe.execute()
        step = len(kinds) + 1
        for n, (task_id, m) in enumerate(self.tasks.items()):
            row = replies[n * step : (n + 1) * step]
            places = [kind for kind, score in zip(kinds, row, strict=False) if score is not None]
            assert places == [SET_OF[m.status]], task_id
            assert row[-1] == [m.status, str(m.attempts), str(m.failures)], task_id

    @invariant()
    def the_counts_match_the_model(self):
        c = self.broker.counts(Q)
        got = {
            "pending": c.pending,
            "scheduled": c.scheduled,
            "processing": c.processing,
            "completed": c.completed,
            "dead": c.dead,
            "cancelled": c.cancelled,
        }
        assert got == {s: len(self._ids(s)) for s in SET_OF}


def test_the_broker_behaves_like_the_model(tq_settings):
    BrokerMachine.config = get_config()
    run_state_machine_as_test(
        BrokerMachine,
        settings=settings(
            max_examples=80,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
