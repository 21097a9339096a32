"""R14: workflows under crashes. Workflows of chains, fan-outs, fan-ins (diamonds, groups
after groups), chords and DAGs given as edges (wf_oracle.py's shapes), their nodes
spread over three queues, run by real workers while:

- a SIGKILL storm hits the workers (a random one every KILL_EVERY s) as the workflows
  are submitted and run;
- Redis is killed and started again on its AOF in the middle of the workflows;
- workers SIGKILL themselves inside the windows of a release (after a completion was
  recorded, before its outbox entry is applied; after the workflow's script released
  a child, before the child is started in its queue): the maintenance sweep of the
  other workers must finish the release, once;
- on a real 3-master Redis Cluster whose masters keep an AOF, the three queues on three
  different masters (so a parent and its child are on different shards, and each
  workflow's own keys on whichever master its id hashes to), both at once: the storm,
  and one master killed and started again mid-run.

Must hold (wf_oracle.check): 0 lost, 0 started early, 0 with wrong arguments (a chord's
callback gets exactly its header's results, in order), 0 released twice, 0 attempts
started twice; extra runs (at-least-once after a kill) are counted and bounded by
kills x concurrency.

Broken twins (wf_broken_worker.py), each caught: `no-advance` (workers never apply the
outbox and their maintenance never sweeps it: children stay waiting, reported lost),
`release-early` (a child is released when its first parent completes: reported started
early, with its missing parents' results as nulls) and `release-twice` (a release not
guarded by the task's status, and outbox entries applied twice as after a crash:
reported released twice).
"""

import json
import random
import signal
import threading
import time

import pytest
from redis.crc import key_slot

from taskqueue.broker.workflow_ops import SWEEP_AGE_MS
from taskqueue.client import get_broker
from taskqueue.worker.maintenance import SWEEP_S
from tests.support.waits import wait_for
from tests.topologies import POLL_REDIS, LocalCluster

from .rig import figures, wrapper
from .sizes import pick
from .wf_oracle import Shaper, check, wait_done

pytestmark = pytest.mark.faults

WORKFLOWS = pick(ci=10, full=200)
NODES = pick(ci=20, full=50)
LEASE = pick(ci=3.0, full=5.0)
RESTART_LEASE = pick(ci=10.0, full=15.0)  # longer than the outage: see R7
KILL_EVERY = pick(ci=1.0, full=1.5)
MAX_KILLS = pick(ci=5, full=40)
SUBMIT_S = KILL_EVERY * (MAX_KILLS + 1)  # submissions go on for the whole storm
OUTAGE = pick(ci=1.0, full=3.0)
CRASH_ONE_IN = pick(ci=25, full=600)  # releases a worker dies in (wf_broken_worker.py)
CRASH_WORKFLOWS = pick(ci=5, full=200)
WORKERS = 3
CONCURRENCY = 8
QUEUES = ("wf-a", "wf-b", "wf-c")
EXTRA = {"EVENTS_MAXLEN": 10_000_000}  # every state change stays in the event streams
TIMEOUT = pick(ci=90, full=600)
TWIN_STALL = SWEEP_AGE_MS / 1000 + 3 * SWEEP_S  # any sweep would have released them


def worker_args(queues) -> list[str]:
    return ["--queues", ",".join(queues), "--concurrency", str(CONCURRENCY)]


def start(worker_pool, taskqueue_at, url, queues, n=WORKERS, lease=LEASE, **options):
    """Workers on `queues` and this process's settings pointed at `url`."""
    env = {"TASKQUEUE_EXTRA": json.dumps(EXTRA)} | options.pop("env", {})
    pool = worker_pool(n, url=url, lease=lease, args=worker_args(queues), env=env, **options)
    taskqueue_at(url, QUEUES=list(queues), **EXTRA)
    return pool


def submit(queues, n=WORKFLOWS, size=NODES, *, over=0.0, ms=(5, 50), midway=None, seed=14):
    """Submit n workflows (every third a DAG of edges), spread over `over` s, calling
    `midway(handles so far)` half-way: (their handles, label -> Node of every node)."""
    rng = random.Random(seed)
    handles, models = [], {}
    begun = time.monotonic()
    for i in range(n):
        shaper = Shaper(f"w{i}", size, queues, rng, ms)
        handles.append(shaper.submit(as_dag=i % 3 == 2))
        models |= shaper.nodes
        if midway is not None and i == n // 2:
            midway(handles)  # the workflow just submitted has barely begun
        delay = begun + over * (i + 1) / n - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing: the storm hits submissions as well
    return handles, models


def storm(pool, stop: threading.Event) -> threading.Thread:
    """SIGKILL a random worker every KILL_EVERY s, MAX_KILLS times at most, until `stop`."""

    def run():
        while len(pool.kills) < MAX_KILLS and not stop.wait(KILL_EVERY):
            pool.kill_random(signal.SIGKILL)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def progress(handles) -> tuple[int, int]:
    """(nodes completed, nodes waiting for their parents) of these workflows, now."""
    broker = get_broker()
    infos = broker.workflow_infos([h.id for h in handles])
    queues = {t.queue for h in handles for t in h.tasks.values()}
    return sum(i.completed for i in infos if i), sum(broker.counts(q).waiting for q in queues)


def mid_workflow(handles) -> tuple[int, int]:
    """progress() once a fifth of the nodes completed while some still wait: the moment
    for a Redis restart to land in the middle of the workflows."""
    nodes = sum(len(h.tasks) for h in handles)

    def under_way():
        done, waiting = progress(handles)
        return (done, waiting) if done >= nodes // 5 and waiting else None

    return wait_for(under_way, 60, "a fifth of the nodes completed, some still waiting")


def settle_outboxes(queues) -> None:
    """The outbox entry of a workflow's last completion is deleted a round trip after
    the workflow completed (by the sweep if its worker died in between)."""
    broker = get_broker()
    outboxes = [broker.keys.queue(q).outbox for q in queues]
    wait_for(
        lambda: not any(broker.client.xlen(k) for k in outboxes),
        LEASE + SWEEP_AGE_MS / 1000 + 3 * SWEEP_S,
        "the outboxes to empty",
    )


def sweep_applied(pool) -> int:
    """Outbox entries applied by a maintenance sweep (their writer had died), per the
    worker logs."""
    lines = pool.grep("notification(s) applied by the sweep")
    return sum(int(line.split(": ")[-1].split()[0]) for line in lines)


def outcome(scenario: str, pool, run, report, began: float, **more) -> dict:
    return figures(
        scenario,
        workflows=report.workflows,
        nodes=report.nodes,
        kills=len(pool.kills),
        worker_restarts=pool.restarts,
        seconds=round(time.monotonic() - began, 2),
        drain_s=round(run.seconds, 2),
        lost=len(report.lost),
        early=len(report.early),
        wrong_args=len(report.wrong_args),
        released_twice=len(report.released_twice),
        double_starts=len(report.double_starts),
        extra_runs=report.extra_runs,
        sweep_applied=sweep_applied(pool),
        **more,
    )


def storm_over(url, queues, worker_pool, taskqueue_at, ledger, midway=None):
    """The storm while the workflows are submitted and run, `midway(handles)` (a Redis
    restart) half-way through the submissions: (pool, run, report, start time)."""
    began = time.monotonic()
    pool = start(worker_pool, taskqueue_at, url, queues)
    stop = threading.Event()
    killer = storm(pool, stop)
    handles, models = submit(queues, over=SUBMIT_S, midway=midway)
    run = wait_done(get_broker(), handles, timeout=TIMEOUT, stall=TIMEOUT)
    stop.set()
    killer.join(10)
    if run.done:
        settle_outboxes(queues)
    report = check(get_broker(), handles, models, ledger, queues)
    return pool, run, report, began


def test_r14_a_sigkill_storm_over_workflows_loses_no_node_and_starts_none_early(
    fault_redis, worker_pool, taskqueue_at, ledger
):
    pool, run, report, began = storm_over(
        fault_redis.url, QUEUES, worker_pool, taskqueue_at, ledger
    )
    outcome("R14-storm", pool, run, report, began)
    assert run.done, report.summary()
    assert len(pool.kills) == MAX_KILLS
    report.assert_clean()
    assert report.extra_runs <= len(pool.kills) * CONCURRENCY


def test_r14_a_redis_restart_mid_workflow_loses_no_node(
    fault_redis, worker_pool, taskqueue_at, ledger
):
    began = time.monotonic()
    pool = start(worker_pool, taskqueue_at, fault_redis.url, QUEUES, lease=RESTART_LEASE)
    handles, models = submit(QUEUES)
    done_before, waiting = mid_workflow(handles)
    fault_redis.restart(after=OUTAGE)
    run = wait_done(get_broker(), handles, timeout=TIMEOUT, stall=TIMEOUT)
    if run.done:
        settle_outboxes(QUEUES)
    report = check(get_broker(), handles, models, ledger, QUEUES)
    outcome(
        "R14-redis-restart",
        pool,
        run,
        report,
        began,
        outage_s=OUTAGE,
        completed_at_restart=done_before,
        waiting_at_restart=waiting,
    )
    assert run.done, report.summary()
    report.assert_clean()
    assert pool.restarts == 0, pool.tails()


def test_r14_workers_dying_inside_a_release_lose_no_node_and_release_none_twice(
    fault_redis, worker_pool, taskqueue_at, ledger
):
    began = time.monotonic()
    env = {"FAULTS_BREAK": "crash-in-advance", "FAULTS_CRASH_ONE_IN": str(CRASH_ONE_IN)}
    pool = start(
        worker_pool,
        taskqueue_at,
        fault_redis.url,
        QUEUES,
        command=wrapper("wf_broken_worker.py"),
        env=env,
    )
    handles, models = submit(QUEUES, n=CRASH_WORKFLOWS)
    run = wait_done(get_broker(), handles, timeout=TIMEOUT, stall=TIMEOUT)
    if run.done:
        settle_outboxes(QUEUES)
    report = check(get_broker(), handles, models, ledger, QUEUES)
    outcome("R14-crash-in-advance", pool, run, report, began, deaths=len(pool.deaths))
    assert run.done, report.summary()
    report.assert_clean()
    assert pool.deaths, "no worker died inside a release: the scenario proved nothing"
    assert report.extra_runs <= len(pool.deaths) * CONCURRENCY


# -- on a real 3-master cluster --------------------------------------------------------------


class PersistentCluster(LocalCluster):
    """A LocalCluster whose masters keep an AOF (everysec), so one can be killed and
    started again on its own data, as one Redis is in the scenario above."""

    def _node(self, index: int):
        node = super()._node(index)
        node.persistent = True
        return node

    def restart(self, port: int, after: float) -> None:
        node = next(n for n in self.nodes if n.port == port)
        self.kill(port)
        time.sleep(after)  # holding the outage
        node.start()
        for n in self.nodes:
            wait_for(lambda n=n: self.state_ok(n.port), 30, "cluster_state:ok", **POLL_REDIS)


@pytest.fixture
def cluster(tmp_path):
    found = PersistentCluster(tmp_path / "cluster", masters=3)
    try:
        yield found.start()
    finally:
        found.stop()


def queues_on_each_master(cluster) -> tuple[str, ...]:
    """One queue name per master: a queue's keys are in the slot of its name."""
    by_master: dict[int, str] = {}
    for n in range(100):
        name = f"wf-{n}"
        by_master.setdefault(cluster.master_of(key_slot(name.encode())), name)
    assert len(by_master) == 3, by_master
    return tuple(by_master.values())


def test_r14_on_a_3_master_cluster_storm_and_master_restart_lose_no_node(
    cluster, worker_pool, taskqueue_at, ledger
):
    queues = queues_on_each_master(cluster)
    restarted = {}

    def restart_a_queues_master(handles):
        restarted["completed"], restarted["waiting"] = progress(handles)
        restarted["port"] = cluster.master_of(key_slot(queues[0].encode()))
        cluster.restart(restarted["port"], after=OUTAGE)

    pool, run, report, began = storm_over(
        cluster.url, queues, worker_pool, taskqueue_at, ledger, midway=restart_a_queues_master
    )
    masters = sorted({cluster.master_of(key_slot(q.encode())) for q in queues})
    outcome(
        "R14-cluster",
        pool,
        run,
        report,
        began,
        masters=len(masters),
        restarted_master=restarted["port"],
        completed_at_restart=restarted["completed"],
        waiting_at_restart=restarted["waiting"],
    )
    assert len(masters) == 3
    assert restarted["waiting"] > 0, "the restart should land in the middle of workflows"
    assert run.done, report.summary()
    report.assert_clean()
    assert report.extra_runs <= len(pool.kills) * CONCURRENCY


# -- the broken twins ------------------------------------------------------------------------


def twin(mode, fault_redis, worker_pool, taskqueue_at, ledger, *, ms=(5, 50)):
    """4 workflows of 12 nodes on 2 workers of the broken twin `mode`."""
    env = {"FAULTS_BREAK": mode}
    start(
        worker_pool,
        taskqueue_at,
        fault_redis.url,
        QUEUES,
        n=2,
        command=wrapper("wf_broken_worker.py"),
        env=env,
    )
    handles, models = submit(QUEUES, n=4, size=12, ms=ms)
    run = wait_done(get_broker(), handles, timeout=60, stall=TWIN_STALL)
    return run, check(get_broker(), handles, models, ledger, QUEUES)


def test_r14_twin_that_never_advances_is_caught_losing_the_children(
    fault_redis, worker_pool, taskqueue_at, ledger
):
    run, report = twin("no-advance", fault_redis, worker_pool, taskqueue_at, ledger)
    figures("R14-twin-no-advance", lost=len(report.lost), by_status=dict(report.lost_by_status))
    assert not run.done
    assert report.lost_by_status["waiting"] > 0, report.summary()
    assert any(k.endswith(".outbox") for k in report.leftovers), report.leftovers
    with pytest.raises(AssertionError, match="lost"):
        report.assert_clean()


def test_r14_twin_that_releases_at_the_first_parent_is_caught_starting_children_early(
    fault_redis, worker_pool, taskqueue_at, ledger
):
    run, report = twin("release-early", fault_redis, worker_pool, taskqueue_at, ledger, ms=(5, 400))
    figures("R14-twin-release-early", early=len(report.early), wrong=len(report.wrong_args))
    assert run.done, report.summary()  # every node ran: only the order is wrong
    assert report.early, report.summary()
    assert report.wrong_args, report.summary()
    with pytest.raises(AssertionError, match="started early"):
        report.assert_clean()


def test_r14_twin_whose_release_is_unguarded_is_caught_releasing_children_twice(
    fault_redis, worker_pool, taskqueue_at, ledger
):
    _, report = twin("release-twice", fault_redis, worker_pool, taskqueue_at, ledger)
    figures("R14-twin-release-twice", released_twice=len(report.released_twice))
    assert report.released_twice, report.summary()
    with pytest.raises(AssertionError, match="released twice"):
        report.assert_clean()
