"""`runworker --processes P`: children supervised, hard limits, crashes, signals."""

import signal

import pytest

from taskqueue import services
from taskqueue.audit import Actor
from taskqueue.status import Status
from tests.support.waits import wait_for
from tests.taskapp import tasks

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def pids(evidence, tag):
    return {n.rsplit(":", 1)[1] for n in evidence() if n.startswith(f"start:{tag}:")}


def test_processes_mode_runs_tasks_in_several_children_and_bursts_to_an_end(spawn_worker, evidence):
    handles = [tasks.sleep_for.enqueue(0.2, "p") for _ in range(12)]
    supervisor = spawn_worker("--processes", "2", "--concurrency", "2", "--burst")
    assert supervisor.wait(60) == 0
    assert all(h.record().status == Status.COMPLETED for h in handles)
    assert len(pids(evidence, "p")) == 2


def test_a_task_that_kills_its_child_is_dead_lettered_and_the_others_run(spawn_worker, broker):
    poison = tasks.kill_my_worker.enqueue()
    normal = [tasks.echo.enqueue(i) for i in range(20)]
    supervisor = spawn_worker("--processes", "2", "--concurrency", "2")
    record = wait_for(lambda: (r := poison.record()).status == Status.DEAD and r, timeout=60)
    assert (record.dead_reason, record.attempts) == ("worker_lost", broker.config.MAX_LEASE_LOSSES)
    wait_for(lambda: all(h.record().status == Status.COMPLETED for h in normal), timeout=30)
    assert supervisor.poll() is None, "the supervisor kept going"


def test_the_hard_time_limit_kills_the_child_and_fails_the_task(spawn_worker, evidence):
    stubborn = tasks.ignores_its_time_limit.enqueue()
    spawn_worker("--processes", "1", "--concurrency", "2")
    wait_for(lambda: pids(evidence, "stubborn"), timeout=30, message="the task to start")
    record = wait_for(lambda: (r := stubborn.record()).status == Status.DEAD and r, timeout=30)
    assert record.error_type == "taskqueue.errors.TaskTimeout"
    after = tasks.echo.enqueue("the replacement child runs")
    assert after.result(timeout=30) == "the replacement child runs"


def test_cancel_kills_an_uncooperative_task_after_a_grace_period(spawn_worker, evidence):
    handle = tasks.sleep_for.enqueue(120, "stuck")
    spawn_worker("--processes", "1", lease=1.5)
    wait_for(lambda: pids(evidence, "stuck"), timeout=30, message="the task to start")
    assert services.cancel(Actor.system(), handle.id) == "requested"
    record = wait_for(lambda: (r := handle.record()).status == Status.CANCELLED and r, timeout=20)
    assert record.history[-1].outcome == "cancelled"


def test_sigterm_to_the_supervisor_lets_running_tasks_finish(spawn_worker, evidence):
    handle = tasks.sleep_for.enqueue(1.0, "term")
    supervisor = spawn_worker("--processes", "2")
    wait_for(lambda: pids(evidence, "term"), timeout=30, message="the task to start")
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(30) == 0
    assert handle.record().status == Status.COMPLETED


def test_children_are_replaced_after_max_tasks_per_child(spawn_worker, evidence):
    handles = [tasks.sleep_for.enqueue(0, "m") for _ in range(7)]
    spawn_worker("--processes", "1", "--concurrency", "1", "--max-tasks-per-child", "3")
    wait_for(lambda: all(h.record().status == Status.COMPLETED for h in handles), timeout=60)
    assert len(pids(evidence, "m")) >= 3


def test_children_release_their_tasks_when_the_supervisor_is_killed(spawn_worker, evidence):
    handle = tasks.sleep_for.enqueue(120, "orphan")
    supervisor = spawn_worker("--processes", "1", "--grace", "0.5")
    wait_for(lambda: pids(evidence, "orphan"), timeout=30, message="the task to start")
    supervisor.send_signal(signal.SIGKILL)
    record = wait_for(lambda: (r := handle.record()).status == Status.PENDING and r, timeout=20)
    assert record.history[-1].outcome == "released"
