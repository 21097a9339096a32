"""A Hypothesis state machine over random DAGs on the real Redis: tasks complete, fail,
are requeued and cancelled in random order across two queues, and outbox entries are
applied late, twice, or not until the end. After every step: no task left `waiting`
before all its parents completed, and a started child's arguments hold exactly its
parents' results in order. At the end, once every outbox is applied and every task
run: nothing waits whose parents all completed (nothing waits forever)."""

import json
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from taskqueue.client import get_broker
from taskqueue.inspect import get_workflow
from taskqueue.records import TaskError
from taskqueue.workflows import workflow
from tests.taskapp.tasks import echo

QUEUES = ("q0", "q1")


@st.composite
def dags(draw):
    n = draw(st.integers(2, 10))
    edges = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
            .filter(lambda e: e[0] < e[1])
            .map(lambda e: (str(e[0]), str(e[1]))),
            max_size=2 * n,
            unique=True,
        )
    )
    queues = draw(st.lists(st.sampled_from(QUEUES), min_size=n, max_size=n))
    immutable = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return n, edges, queues, immutable


class Workflows(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.broker = get_broker()
        client = self.broker.client
        for key in client.scan_iter(match=f"{self.broker.keys.prefix}:*", count=1000):
            client.unlink(key)

    @initialize(dag=dags(), on_failure=st.sampled_from(["wait", "cancel"]))
    def submit(self, dag, on_failure):
        n, edges, queues, immutable = dag
        nodes = {}
        for i in range(n):
            call = echo.using(queue=queues[i])
            nodes[str(i)] = call.si(f"own{i}") if immutable[i] else call.s(f"own{i}")
        self.handle = workflow(nodes, edges, on_failure=on_failure)
        self.parents = {str(i): [p for p, c in edges if c == str(i)] for i in range(n)}
        self.immutable = {str(i): immutable[i] for i in range(n)}
        self.queue_of = {str(i): queues[i] for i in range(n)}
        self.key_of = {h.id: key for key, h in self.handle.tasks.items()}
        self.ran: dict[str, int] = {}

    def statuses(self) -> dict[str, str]:
        out = {}
        for queue in QUEUES:
            keys = [k for k, q in self.queue_of.items() if q == queue]
            ids = [self.handle.tasks[k].id for k in keys]
            for key, summary in zip(keys, self.broker.summaries(queue, ids), strict=True):
                out[key] = summary.status if summary else "missing"
        return out

    @rule(queue=st.sampled_from(QUEUES), succeed=st.booleans(), apply=st.booleans())
    def run_one(self, queue, succeed, apply):
        claimed = self.broker.claim(queue, "w1", 1)
        if not claimed:
            return
        (c,) = claimed
        key = self.key_of[c.id]
        self.check_args(key, json.loads(c.args))
        self.ran[key] = self.ran.get(key, 0) + 1
        if succeed:
            self.broker.complete(queue, [(c.id, c.attempt, json.dumps(f"r{key}"))])
        else:
            error = TaskError("ValueError", "boom", "")
            self.broker.fail(queue, c.id, c.attempt, retry_delay_ms=None, error=error)
        if apply:
            self.broker.advance([queue])

    @rule(queue=st.sampled_from(QUEUES))
    def apply_outbox(self, queue):
        self.broker.advance([queue])

    @rule(queue=st.sampled_from(QUEUES))
    def apply_outbox_twice(self, queue):
        """The same entries applied again, as after a worker died before deleting them."""
        outbox = self.broker.keys.queue(queue).outbox
        for _, fields in self.broker.client.xrange(outbox):
            self.broker.client.xadd(outbox, fields)
        self.broker.advance([queue])

    @rule(node=st.integers(0, 9))
    def requeue(self, node):
        key = str(node)
        if key in self.queue_of:
            self.broker.requeue(self.queue_of[key], [self.handle.tasks[key].id])

    @precondition(lambda self: not getattr(self, "cancelled_one", False))
    @rule(node=st.integers(0, 9))
    def cancel_node(self, node):
        key = str(node)
        if key in self.queue_of and self.statuses()[key] in ("waiting", "pending"):
            self.cancelled_one = True
            self.broker.cancel(self.queue_of[key], self.handle.tasks[key].id)

    def check_args(self, key, args):
        own = f"own{key}"
        parents = self.parents[key]
        if self.immutable[key] or not parents:
            assert args == [own]
        elif len(parents) == 1:
            assert args == [f"r{parents[0]}", own]
        else:
            assert args == [[f"r{p}" for p in parents], own]

    @invariant()
    def nothing_left_waiting_early(self):
        if not hasattr(self, "handle"):
            return
        status = self.statuses()
        for key, parents in self.parents.items():
            if status[key] in ("pending", "processing", "completed", "dead"):
                assert all(status[p] == "completed" for p in parents), (key, status)

    def teardown(self):
        if not hasattr(self, "handle"):
            return
        for _ in range(60):  # run everything that can run, applying every outbox
            self.broker.advance(QUEUES)
            progressed = False
            for queue in QUEUES:
                for c in self.broker.claim(queue, "w1", 10):
                    key = self.key_of[c.id]
                    self.check_args(key, json.loads(c.args))
                    self.broker.complete(queue, [(c.id, c.attempt, json.dumps(f"r{key}"))])
                    progressed = True
            if not progressed:
                break
        self.broker.advance(QUEUES)
        status = self.statuses()
        for key, parents in self.parents.items():
            if all(status[p] == "completed" for p in parents):
                assert status[key] != "waiting", (key, status)
        for key in self.ran:
            assert status[key] != "waiting"
        # its counts are its nodes', and once none is open or dead it has finished
        info = get_workflow(self.handle.id)
        finals = list(status.values())
        assert info.completed == finals.count("completed"), (info, status)
        if all(s in ("completed", "cancelled") for s in finals):
            assert info.status in ("completed", "cancelled") and info.finished_at, (info, status)


def test_random_workflows_release_each_child_once_and_never_early(broker):
    machine = Workflows
    machine.TestCase.settings = settings(
        max_examples=int(os.environ.get("WORKFLOW_EXAMPLES", "60")),
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=machine.TestCase.settings)
