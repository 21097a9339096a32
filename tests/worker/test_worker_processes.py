"""Real `manage.py runworker` processes: kill them, stop them, starve them of Redis."""

import itertools
import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from django.core.management import get_commands, load_command_class

import taskqueue
from taskqueue.embedded_redis import RedisProcess, free_port
from taskqueue.status import Status
from tests.support.waits import wait_for
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db


def started(evidence, tag):
    return [n for n in evidence() if n.startswith(f"start:{tag}:")]


def test_our_runworker_is_the_one_django_runs():
    assert get_commands()["runworker"] == "taskqueue"
    command = load_command_class("taskqueue", "runworker")
    assert "--burst" in command.create_parser("manage.py", "runworker").format_help()


def test_a_sigkilled_workers_task_completes_elsewhere_after_its_lease_expires(
    spawn_worker, evidence
):
    handle = tasks.sleep_for.enqueue(1.0, "k")
    first = spawn_worker(lease=1.5)
    wait_for(lambda: started(evidence, "k"), message="the task to start")
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    assert handle.record().status == Status.PROCESSING  # still leased to the dead worker
    spawn_worker(lease=1.5)
    record = wait_for(lambda: (r := handle.record()).status == Status.COMPLETED and r, timeout=20)
    assert record.attempts == 2
    assert [a.outcome for a in record.history] == ["lost", "completed"]


def test_sigterm_during_a_short_task_lets_it_finish_and_exits_zero(spawn_worker, evidence):
    handle = tasks.sleep_for.enqueue(1.0, "short")
    worker = spawn_worker()
    wait_for(lambda: started(evidence, "short"), message="the task to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    record = handle.record()
    assert (record.status, record.attempts) == (Status.COMPLETED, 1)


def test_sigterm_during_a_long_task_releases_it_to_start_elsewhere_at_once(spawn_worker, evidence):
    handle = tasks.sleep_for.enqueue(60, "long")
    worker = spawn_worker("--grace", "0.5")
    wait_for(lambda: started(evidence, "long"), message="the task to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    record = handle.record()
    assert (record.status, record.failures) == (Status.PENDING, 0)  # released, not failed
    assert record.history[0].outcome == "released"
    spawn_worker()  # the lease (30 s) is not what brings it back
    wait_for(lambda: len(started(evidence, "long")) == 2, timeout=10, message="a second start")
    assert handle.record().attempts == 2


def test_a_second_sigterm_releases_at_once(spawn_worker, evidence):
    handle = tasks.sleep_for.enqueue(60, "twice")
    worker = spawn_worker("--grace", "60")
    wait_for(lambda: started(evidence, "twice"), message="the task to start")
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: b"stopping: no new tasks" in Path(worker.log_path).read_bytes(), timeout=10)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    assert handle.record().status == Status.PENDING


def test_a_task_longer_than_its_lease_is_not_stolen_while_it_hogs_the_gil(spawn_worker, evidence):
    handle = tasks.hog_the_gil.enqueue(4.0)
    spawn_worker(lease=1.0)
    wait_for(lambda: started(evidence, "hog"), message="the task to start")
    spawn_worker(lease=1.0)  # an idle rival that would take the task if its lease expired
    record = wait_for(lambda: (r := handle.record()).status == Status.COMPLETED and r, timeout=20)
    assert record.attempts == 1
    assert len(started(evidence, "hog")) == 1


def test_cron_ticks_fire_once_each_with_three_workers(spawn_worker, evidence, broker):
    schedule = {"tick": {"task": "tests.taskapp.tasks.tick", "cron": "* * * * * */2"}}
    env = {"TASKQUEUE_PERIODIC": json.dumps(schedule)}
    for _ in range(3):
        spawn_worker(env=env)
    wait_for(lambda: len([n for n in evidence() if n.startswith("tick:")]) >= 3, timeout=20)
    ticks = [n.split(":")[1] for n in evidence() if n.startswith("tick:")]
    assert len(ticks) == len(set(ticks)), "no tick ran twice"
    keys = [taskqueue.get_task(task_id).idempotency_key for task_id in ticks]
    moments = sorted(int(k.rsplit(":", 1)[1]) for k in keys)
    assert all(b - a == 2000 for a, b in itertools.pairwise(moments)), moments
    assert broker.periodic_state()["tick"].task_id in ticks


def cpu_used(proc: psutil.Process, seconds: float) -> float:
    """The CPU seconds the process used in the next `seconds` (a measurement window)."""
    before = proc.cpu_times()
    time.sleep(seconds)
    after = proc.cpu_times()
    return (after.user - before.user) + (after.system - before.system)


def test_an_idle_worker_uses_almost_no_cpu(spawn_worker, broker):
    worker = spawn_worker()
    wait_for(lambda: broker.workers(), message="the worker to register")
    proc = psutil.Process(worker.pid)
    tasks.echo.enqueue("warm-up")
    wait_for(lambda: broker.counts("default").completed == 1, message="the warm-up task")
    # what starting and the warm-up left to do (first sweeps, reports) ends first: a
    # worker that keeps polling never has such a second, and the test fails here
    settled = lambda: cpu_used(proc, 1.0) <= 0.01  # noqa: E731
    wait_for(settled, timeout=20, message="a second at ~0 CPU")
    began = time.time()
    used = cpu_used(proc, 5.0)
    if (began - 2) // 60 != (time.time() + 1) // 60:
        # a minute began in or just before the window: the demo app's
        # @task(cron="* * * * *") fired and ran, which is work, not idle; the next
        # window is a minute clear of it
        wait_for(settled, timeout=20, message="a second at ~0 CPU after the cron tick")
        used = cpu_used(proc, 5.0)
    assert used < 0.05, f"{used:.3f} s of CPU in 5 s idle (limit 1 %)"


@pytest.mark.slow
def test_a_worker_survives_redis_frozen_for_ten_seconds(
    tmp_path, spawn_worker, settings, tq_settings
):
    with RedisProcess(tmp_path / "frozen", port=free_port(), persistent=False) as own:
        settings.TASKQUEUE = {**tq_settings, "REDIS_URL": own.url}
        worker = spawn_worker(env={"REDIS_URL": own.url})
        assert tasks.echo.enqueue("before").result(timeout=15) == "before"
        os.kill(own.process.pid, signal.SIGSTOP)
        time.sleep(10)  # the outage being tested
        os.kill(own.process.pid, signal.SIGCONT)
        handle = tasks.echo.enqueue("after")
        assert handle.result(timeout=15) == "after"
        assert worker.poll() is None, "the worker is still running"


@pytest.mark.slow
def test_a_worker_started_before_redis_waits_for_it(tmp_path, spawn_worker, settings, tq_settings):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    worker = spawn_worker(env={"REDIS_URL": url})
    log = Path(worker.log_path)
    wait_for(lambda: b"waiting for it" in log.read_bytes() or worker.poll() is not None, timeout=30)
    assert worker.poll() is None, log.read_text()
    with RedisProcess(tmp_path / "late", port=port, persistent=False):
        settings.TASKQUEUE = {**tq_settings, "REDIS_URL": url}
        assert tasks.echo.enqueue("late").result(timeout=20) == "late"
