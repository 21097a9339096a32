"""The heartbeat's fast path and an operator's commands, in real worker processes
(`manage.py runworker`) with the default 30 s lease, so a heartbeat comes every 10 s:
progress and cancel requests reach Redis within a second all the same, and a worker
told to go quiet or to stop obeys within a second (docs/worker.md, "Worker control")."""

import itertools
import json
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from taskqueue import inspect, services
from taskqueue.audit import Actor
from taskqueue.broker.outcomes import Lease
from taskqueue.errors import ValidationError
from taskqueue.models import AuditEvent
from taskqueue.status import Status
from taskqueue.worker.heartbeat import FLUSH_S, Heartbeat, RuntimeStats
from taskqueue.workers import WorkerBeat, WorkerControl
from tests import factories
from tests.support.waits import wait_for
from tests.taskapp import control_tasks, tasks

pytestmark = pytest.mark.django_db

IMPORTS = {"TASKQUEUE_EXTRA": json.dumps({"IMPORTS": ["tests.taskapp.control_tasks"]})}
OPERATOR = Actor("olga", "console")


@pytest.fixture
def worker(spawn_worker, broker):
    """Start a runworker process; returns it once it is in the registry, with its id."""

    def start(*args: str):
        proc = spawn_worker("--concurrency", "2", *args, env=IMPORTS)
        entry = wait_for(
            lambda: next((w for w in inspect.workers() if w.pid == proc.pid), None),
            timeout=30,
            message="the worker to register",
        )
        proc.worker_id = entry.id
        return proc

    return start


def state_of(worker_id: str) -> str | None:
    return next((w.state for w in inspect.workers() if w.id == worker_id), None)


def noted(evidence, prefix: str) -> list[str]:
    return [n for n in evidence() if n.startswith(prefix)]


def release(redis_client, tq_prefix, tag: str) -> None:
    redis_client.set(f"{tq_prefix}:release:{tag}", 1)


def test_progress_of_a_running_task_shows_within_a_second(worker, evidence):
    worker()
    handle = control_tasks.counts_up.enqueue(3)
    for step in (1, 2, 3):
        [line] = wait_for(lambda s=step: noted(evidence, f"progress:{s}:"), timeout=30)
        reported = float(line.rsplit(":", 1)[1])
        wait_for(
            lambda s=step: (inspect.get_task(handle.id).progress or {}).get("step") == s,
            timeout=5,
            every=0.01,
            message=f"progress step {step} in the record",
        )
        assert time.time() - reported < 1.0, f"step {step} took {time.time() - reported:.2f} s"
    assert handle.result(timeout=30) == 3


def test_a_cancel_reaches_a_running_sync_task_within_a_second(worker, evidence):
    worker()
    handle = control_tasks.spins.enqueue("c")
    wait_for(lambda: "start:c" in evidence(), timeout=30, message="the task to start")
    asked = time.monotonic()
    assert services.cancel(OPERATOR, handle.id) == "requested"
    wait_for(lambda: handle.record().status == Status.CANCELLED, timeout=5, every=0.01)
    assert time.monotonic() - asked < 1.0


def test_quiet_stops_claiming_and_lets_the_running_task_finish(
    worker, evidence, redis_client, tq_prefix, broker
):
    proc = worker()
    running = control_tasks.runs_until_released.enqueue("q")
    wait_for(lambda: "start:q" in evidence(), timeout=30, message="the task to start")
    asked = time.monotonic()
    services.control_worker(OPERATOR, proc.worker_id, "quiet")
    wait_for(lambda: state_of(proc.worker_id) == "quiet", timeout=5, every=0.01)
    assert time.monotonic() - asked < 1.0
    later = [tasks.echo.enqueue(i) for i in range(3)]
    release(redis_client, tq_prefix, "q")
    wait_for(lambda: running.record().status == Status.COMPLETED, timeout=10)
    # The worker reported the task it ran, so it was busy with Redis since the enqueue,
    # and an idle worker claims within milliseconds: these stayed pending because it is quiet.
    assert [h.record().status for h in later] == [Status.PENDING] * 3
    assert broker.counts("default").pending == 3
    wait_for(lambda: next(w for w in inspect.workers() if w.id == proc.worker_id).in_flight == 0)
    assert proc.poll() is None, "a quiet worker does not exit"
    event = AuditEvent.objects.get(action="quiet_worker")
    assert (event.actor, event.detail["worker"]) == ("olga", proc.worker_id)


def test_quiet_hands_back_the_tasks_claimed_ahead(worker, evidence, redis_client, tq_prefix):
    proc = worker("--prefetch", "4")
    first = [control_tasks.runs_until_released.enqueue(f"a{i}") for i in range(2)]
    wait_for(lambda: len(noted(evidence, "start:a")) == 2, timeout=30)
    ahead = [tasks.echo.enqueue(i) for i in range(3)]  # both slots are busy: buffered
    wait_for(lambda: all(h.record().status == Status.PROCESSING for h in ahead), timeout=10)
    services.control_worker(OPERATOR, proc.worker_id, "quiet")
    wait_for(lambda: all(h.record().status == Status.PENDING for h in ahead), timeout=5)
    assert state_of(proc.worker_id) == "quiet"
    for i in range(2):
        release(redis_client, tq_prefix, f"a{i}")
    wait_for(lambda: all(h.record().status == Status.COMPLETED for h in first), timeout=10)
    assert all(h.record().status == Status.PENDING for h in ahead)


def test_stop_makes_the_worker_exit_0_within_its_grace(worker, evidence, redis_client, tq_prefix):
    proc = worker("--grace", "5")
    running = control_tasks.runs_until_released.enqueue("s")
    wait_for(lambda: "start:s" in evidence(), timeout=30, message="the task to start")
    asked = time.monotonic()
    services.control_worker(OPERATOR, proc.worker_id, "stop")
    wait_for(lambda: state_of(proc.worker_id) in ("stopping", None), timeout=5, every=0.01)
    assert time.monotonic() - asked < 1.0
    waiting = tasks.echo.enqueue("not claimed by a stopping worker")
    release(redis_client, tq_prefix, "s")
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - asked < 5 + 2
    assert running.record().status == Status.COMPLETED
    assert waiting.record().status == Status.PENDING
    assert state_of(proc.worker_id) is None, "it left the registry"
    assert AuditEvent.objects.get(action="stop_worker").status_before == "running"


def test_stop_past_the_grace_hands_the_running_task_back(worker, evidence):
    proc = worker("--grace", "1")
    handle = control_tasks.spins.enqueue("g")
    wait_for(lambda: "start:g" in evidence(), timeout=30, message="the task to start")
    services.control_worker(OPERATOR, proc.worker_id, "stop")
    assert proc.wait(timeout=10) == 0
    assert handle.record().status == Status.PENDING


def test_a_command_for_an_unknown_or_bad_worker_is_refused(worker):
    proc = worker()
    for worker_id, command, field in [
        ("nope:1:abcd", "quiet", "worker"),
        (proc.worker_id, "reboot", "command"),
        (["a list"], "stop", "worker"),
        ("x" * 1000, "stop", "worker"),
    ]:
        with pytest.raises(ValidationError) as caught:
            services.control_worker(OPERATOR, worker_id, command)
        assert caught.value.field == field
    assert not AuditEvent.objects.exists()
    assert state_of(proc.worker_id) == "running"


def test_tq_workers_lists_quiets_and_stops_a_worker(worker, capsys):
    proc = worker()
    call_command("tq", "workers", "list")
    assert f"{proc.worker_id}  running  " in capsys.readouterr().out
    call_command("tq", "workers", "quiet", proc.worker_id, "--user", "sam")
    assert "quiet requested" in capsys.readouterr().out
    wait_for(lambda: state_of(proc.worker_id) == "quiet", timeout=5)
    call_command("tq", "workers", "stop", proc.worker_id, "--user", "sam")
    assert proc.wait(timeout=10) == 0
    events = AuditEvent.objects.order_by("id").values_list("action", "actor", "source")
    assert list(events) == [("quiet_worker", "sam", "cli"), ("stop_worker", "sam", "cli")]


@pytest.mark.slow
def test_under_a_supervisor_progress_cancel_quiet_and_stop_arrive_within_a_second(
    worker, evidence, redis_client, tq_prefix
):
    """`--processes 2`: the supervisor renews the children's leases and holds the
    registry entry; a child tells it of progress and of a cancel's wake-up token, and
    it tells every child to go quiet."""
    proc = worker("--processes", "2", "--grace", "5")
    counting = control_tasks.counts_up.enqueue(2)
    [line] = wait_for(lambda: noted(evidence, "progress:1:"), timeout=60)
    wait_for(lambda: (inspect.get_task(counting.id).progress or {}).get("step") == 1, every=0.01)
    assert time.time() - float(line.rsplit(":", 1)[1]) < 1.0

    spinning = control_tasks.spins.enqueue("sc")
    wait_for(lambda: "start:sc" in evidence(), timeout=30, message="the task to start")
    asked = time.monotonic()
    services.cancel(OPERATOR, spinning.id)
    wait_for(lambda: spinning.record().status == Status.CANCELLED, timeout=5, every=0.01)
    assert time.monotonic() - asked < 1.0

    held = control_tasks.runs_until_released.enqueue("sq")
    wait_for(lambda: "start:sq" in evidence(), timeout=30, message="the task to start")
    asked = time.monotonic()
    services.control_worker(OPERATOR, proc.worker_id, "quiet")
    wait_for(lambda: state_of(proc.worker_id) == "quiet", timeout=5, every=0.01)
    assert time.monotonic() - asked < 1.0
    quiet_children = lambda: Path(proc.log_path).read_text().count("quiet: claiming no more")  # noqa: E731
    wait_for(lambda: quiet_children() == 2, timeout=5, message="both children to go quiet")
    later = tasks.echo.enqueue("stays pending")
    release(redis_client, tq_prefix, "sq")
    wait_for(lambda: held.record().status == Status.COMPLETED, timeout=10)
    assert counting.result(timeout=30) == 2
    assert later.record().status == Status.PENDING

    services.control_worker(OPERATOR, proc.worker_id, "stop")
    assert proc.wait(timeout=15) == 0
    assert later.record().status == Status.PENDING


def test_progress_reports_are_coalesced_and_never_put_a_beat_off(broker, monkeypatch):
    """A task reporting progress without pause costs at most one renewal per FLUSH_S,
    and the registry is still written every interval."""
    renewals, registrations = [], []
    renew, register = broker.renew, broker.register_worker
    monkeypatch.setattr(broker, "renew", lambda *a: renewals.append(time.monotonic()) or renew(*a))
    monkeypatch.setattr(broker, "register_worker", lambda *a: registrations.append(register(*a)))
    task_id, attempt = factories.start(broker, factories.make_task())
    entry = WorkerBeat("w", "w", "h", 1, ("default",), 1, 1, 0)
    held = lambda: [("default", task_id, attempt, '{"step": 1}')]  # noqa: E731
    beat = Heartbeat(broker, 0.6, held, lambda *a: None, lambda: entry, RuntimeStats())
    beat.start()
    started = time.monotonic()
    try:
        while len(registrations) < 3:  # a report every ms (as a busy task), for three beats
            beat.progress_reported()
            assert time.monotonic() - started < 10, "the beats never came"
            time.sleep(0.001)
    finally:
        beat.stop()
        beat.join(5)
    elapsed = time.monotonic() - started
    assert len(renewals) <= elapsed / FLUSH_S + 3 + 1  # the flushes, and the beats' own
    gaps = [b - a for a, b in itertools.pairwise(renewals)]
    assert len(renewals) >= 4 and max(gaps) < FLUSH_S + 0.4


def test_a_renewal_announces_changed_progress_once(broker, redis_client):
    """The console shows progress at its next push: the renewal that writes new
    progress adds an event naming the task; the same progress again adds none."""
    task_id, attempt = factories.start(broker, factories.make_task())
    events = broker.keys.queue("default").events
    before = redis_client.xlen(events)
    for progress in ('{"step": 1}', '{"step": 1}', "", '{"step": 2}'):
        assert broker.renew("default", [(task_id, attempt, progress)]) == [Lease.RENEWED]
    added = redis_client.xrange(events, "-", "+")[before:]
    assert [(e["id"], e["status"]) for _, e in added] == [(task_id, "processing")] * 2
    assert inspect.get_task(task_id).progress == {"step": 2}


def test_control_keys_of_the_wrong_type_are_moved_aside(broker, redis_client):
    """Anyone can write any key: a control record or wake-up list of another type is
    moved aside (broker/damage.py) and the command goes through."""
    control, wake = broker.keys.worker_control("w:1:0"), broker.keys.worker_wake("w:1:0")
    redis_client.set(control, "not a hash")
    redis_client.hset(wake, "not", "a list")
    assert broker.worker_control("w:1:0") is None
    broker.control_worker("w:1:0", "quiet", "olga", broker.time_ms())
    assert (broker.worker_control("w:1:0").command, redis_client.lrange(wake, 0, -1)) == (
        "quiet",
        ["quiet"],
    )
    redis_client.hset(control, mapping={"command": "stop", "by": "x" * 1000, "at": "soon"})
    assert broker.worker_control("w:1:0") == WorkerControl("stop", "x" * 150, None)
