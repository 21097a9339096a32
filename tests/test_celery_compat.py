"""Celery's names on taskqueue (docs/migrating.md): a Celery project's tasks module
(tests/celeryapp/), unchanged but for its imports, runs on a real in-process worker;
Celery options without an equivalent are refused, each with what to use instead."""

import asyncio
import inspect
import json
import warnings
from datetime import UTC, datetime, timedelta

import pytest

from taskqueue import celery_options, current_task, periodic, task
from taskqueue.celery_compat import beat_schedule_to_periodic, crontab, shared_task
from taskqueue.context import TaskContext, activate, deactivate
from taskqueue.errors import ValidationError
from taskqueue.inspect import queue_counts
from taskqueue.limits import Rate, task_limit
from taskqueue.registry import registry
from taskqueue.status import Status
from taskqueue.worker.retry import backoff_seconds
from tests.support.waits import wait_for
from tests.support.workers import background_worker, task_env  # noqa: F401 - fixtures

with warnings.catch_warnings():  # importing them warns once per Celery name, as it should
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.celeryapp import celery as celery_config
    from tests.celeryapp import tasks

    @task(bind=True)
    async def bound_async(self, x):
        await asyncio.sleep(0)
        return {"id": self.request.id, "x": x, "name": self.name}

    @shared_task(bind=True, max_retries=1, default_retry_delay=0)
    def always_retries(self):
        try:
            raise TimeoutError("gateway timed out")
        except TimeoutError as exc:
            raise self.retry(exc=exc) from exc


# Celery's names warn (DeprecationWarning); the tests of running them need no warning.
pytestmark = pytest.mark.filterwarnings("ignore:.*is Celery's name:DeprecationWarning")


@pytest.fixture(autouse=True)
def celery_names_warn_afresh(monkeypatch):
    monkeypatch.setattr(celery_options, "_warned", set())


# -- the Celery project's tasks, run unchanged ----------------------------------------------


def test_delay_runs_a_celery_style_task_on_a_worker(background_worker):  # noqa: F811
    handle = tasks.add.delay(2, 3)
    background_worker()
    assert handle.result(timeout=10) == 5


def test_apply_async_with_args_kwargs_and_countdown_schedules_then_runs_it(background_worker):  # noqa: F811
    handle = tasks.mul.apply_async((3,), {"y": 4}, countdown=0.5)
    assert handle.status == Status.SCHEDULED
    background_worker()
    assert handle.result(timeout=10) == 12


def test_a_celery_chain_and_chord_run_as_workflows(background_worker):  # noqa: F811
    chained = tasks.arithmetic().delay()
    chorded = tasks.doubled_total([1, 2, 3]).apply_async()
    background_worker()
    assert chained.result(timeout=15) == 2  # add.si(1, 1) ignores the 16 before it
    assert [step.result(timeout=5) for step in chained.tasks.values()] == [4, 16, 2]
    assert chorded.result(timeout=15) == 12


def test_bind_gives_self_request_and_autoretry_for_retries_with_backoff(background_worker):  # noqa: F811
    handle = tasks.fetch.delay("https://example.com")
    background_worker()
    result = handle.result(timeout=15)
    assert result == {"url": "https://example.com", "id": handle.id, "retries": 2}
    assert [a.outcome for a in handle.record().history] == ["retry", "retry", "completed"]


def test_self_retry_asks_for_another_attempt_after_default_retry_delay(background_worker):  # noqa: F811
    handle = tasks.charge.delay(10)
    background_worker()
    assert handle.result(timeout=10) == 10
    record = handle.record()
    assert [a.outcome for a in record.history] == ["retry", "completed"]


def test_update_state_meta_becomes_the_progress_the_next_heartbeat_sends():
    ctx = TaskContext(
        id="t1", name=tasks.export.name, queue="default", attempt=1, failures=0, max_retries=3
    )
    token = activate(ctx)
    try:
        assert tasks.export(3) == 3
    finally:
        deactivate(token)
    assert json.loads(ctx.progress) == {"done": 3, "total": 3}


def test_a_shared_task_is_not_retried_for_an_exception_autoretry_for_does_not_name(
    background_worker,  # noqa: F811
):
    handle = tasks.crash.delay()
    background_worker()
    record = wait_for(lambda: (r := handle.record()).status == Status.DEAD and r, timeout=10)
    assert (record.attempts, record.error_type) == (1, "ValueError")


def test_self_retry_past_max_retries_dead_letters_the_task_naming_the_exception(
    background_worker,  # noqa: F811
):
    handle = always_retries.delay()
    background_worker()
    record = wait_for(lambda: (r := handle.record()).status == Status.DEAD and r, timeout=10)
    assert record.attempts == 2
    assert (record.error_type, record.error_message) == (
        "taskqueue.errors.Retry",
        "TimeoutError: gateway timed out",
    )


def test_a_bound_async_task_stays_async_and_gets_self_on_the_worker(background_worker):  # noqa: F811
    assert bound_async.is_async and inspect.iscoroutinefunction(bound_async.func)
    handle = bound_async.delay(7)
    background_worker()
    assert handle.result(timeout=10) == {"id": handle.id, "x": 7, "name": bound_async.name}


def test_calling_a_bound_task_directly_passes_self_with_no_request_id():
    assert asyncio.run(bound_async(1)) == {"id": None, "x": 1, "name": bound_async.name}
    assert current_task() is None


# -- what the Celery names mean here ---------------------------------------------------------


def test_apply_async_maps_eta_queue_priority_and_time_limit_onto_using(broker):
    eta = datetime.now(UTC) + timedelta(hours=1)
    handle = tasks.report.apply_async(("monday",), eta=eta, priority=9, time_limit=5)
    record = handle.record()
    assert (record.queue, record.priority, record.timeout) == ("reports", 9, 5)
    assert (record.status, record.args) == (Status.SCHEDULED, ["monday"])
    assert abs((record.run_at - eta).total_seconds()) < 0.01


def test_shared_task_options_become_ours():
    opts = tasks.fetch.options
    assert (opts.retry_on, opts.retry_backoff, opts.retry_backoff_max) == ((ConnectionError,), 1, 1)
    assert (tasks.report.options.queue, tasks.report.options.timeout) == ("reports", 30)
    assert tasks.crash.options.retry_on == ()


def test_default_retry_delay_and_retry_backoff_false_make_a_fixed_delay():
    fixed, _ = celery_options.task_options({"default_retry_delay": 30})
    celery_default, _ = celery_options.task_options({"retry_backoff": False})
    for opts, seconds in ((fixed, 30), (celery_default, 180)):
        delays = [
            backoff_seconds(n, opts["retry_backoff"], opts["retry_backoff_max"], False)
            for n in range(4)
        ]
        assert delays == [seconds] * 4 and opts["retry_jitter"] is False


def test_each_celery_name_warns_once_naming_ours(broker):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tasks.add.delay(1, 1)
        tasks.add.delay(1, 1)
        tasks.add.apply_async((1, 1), countdown=1)
    messages = [str(w.message) for w in caught]
    assert all(w.category is DeprecationWarning for w in caught)
    assert messages == [
        "delay() is Celery's name; taskqueue's is enqueue() (docs/migrating.md).",
        "apply_async() is Celery's name; taskqueue's is using(...).enqueue() (docs/migrating.md).",
        "countdown= is Celery's name; taskqueue's is delay= (docs/migrating.md).",
    ]
    assert caught[0].filename == __file__  # points at the caller, not at taskqueue


# -- what is refused, and changes nothing ----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"rate_limit": "10/x"}, "is not a rate"),
        ({"soft_time_limit": 10}, "timeout="),
        ({"acks_late": False}, "acknowledges a task after it ran"),
        ({"max_retries": None}, "retry forever"),
        ({"default_retry_delay": 5, "retry_backoff": True}, "not both"),
        ({"default_retry_delay": 5, "retry_backoff": 0}, "not both"),
        ({"autoretry_for": (KeyError,), "retry_on": (KeyError,)}, "not both"),
        ({"bind": "yes"}, "bind must be True or False"),
    ],
)
def test_a_celery_option_without_an_equivalent_is_refused_and_nothing_registered(options, named):
    with pytest.raises(ValidationError, match=named):

        @shared_task(name="celery.refused", **options)
        def refused():
            return None

    assert "celery.refused" not in registry


def test_celerys_rate_limit_is_ours_for_all_workers_together():
    """Celery's syntax, a number included (tasks per second); docs/flow-control.md."""
    per_minute = task(name="celery.rate_m", rate_limit="10/m")(lambda: None)
    per_second = task(name="celery.rate_n", rate_limit=5)(lambda: None)
    try:
        assert str(task_limit(per_minute).rate) == "10/m"
        assert task_limit(per_second).rate == Rate(5, 1000, 1)
    finally:
        registry.unregister("celery.rate_m")
        registry.unregister("celery.rate_n")


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"expires": 60}, "do not expire"),
        ({"link": None}, "use a chain"),
        ({"task_id": "abc"}, "idempotency_key="),
        ({"countdown": 5, "delay": 5}, "not both"),
        ({"routing_key": "x"}, "give queue="),
        ({"nonsense": 1}, "unknown apply_async"),
        ({"level": 100}, "unknown apply_async"),
        ({"eta": datetime(2030, 1, 1)}, "timezone-aware"),  # naive: refused
    ],
)
def test_an_apply_async_option_without_an_equivalent_is_refused_and_nothing_sent(
    broker, options, named
):
    with pytest.raises(ValidationError, match=named):
        tasks.add.apply_async((1, 2), **options)
    counts = queue_counts("default")
    assert (counts.pending, counts.scheduled) == (0, 0)


def test_apply_async_refuses_args_that_are_not_a_list():
    with pytest.raises(ValidationError, match="args must be a list or tuple"):
        tasks.add.apply_async("12")


def test_a_canvas_takes_no_apply_async_options():
    with pytest.raises(ValidationError, match=r"task\.using"):
        tasks.arithmetic().apply_async(countdown=5)


# -- beat -----------------------------------------------------------------------------------


def test_a_celery_beat_schedule_becomes_periodic_schedules():
    setting = beat_schedule_to_periodic(celery_config.beat_schedule)
    found = {s.name: s for s in periodic.schedules(setting)}
    nightly = found["nightly-report"]
    assert (nightly.cron, nightly.queue, nightly.args) == ("30 3 * * *", "reports", ["yesterday"])
    assert found["sum-every-5-minutes"].cron == "*/5 * * * *"
    assert found["sum-every-5-minutes"].kwargs == {"numbers": [1, 2, 3]}
    assert found["weekday-mornings"].cron == "0 7 * * mon-fri"


@pytest.mark.parametrize(
    ("every", "cron"),
    [
        (30, "* * * * * */30"),
        (timedelta(minutes=15), "*/15 * * * *"),
        (timedelta(hours=6), "0 */6 * * *"),
        (timedelta(days=1), "0 0 * * *"),
    ],
)
def test_a_beat_interval_that_divides_the_clock_becomes_cron(every, cron):
    setting = beat_schedule_to_periodic({"n": {"task": "t", "schedule": every}})
    assert setting == {"n": {"task": "t", "cron": cron, "args": [], "kwargs": {}}}


@pytest.mark.parametrize(
    ("schedule", "named"),
    [
        (timedelta(seconds=45), "no cron form"),
        (timedelta(hours=5), "no cron form"),
        (timedelta(minutes=7), "no cron form"),
        ("x", "must be crontab"),
    ],
)
def test_a_beat_schedule_without_a_cron_form_is_refused(schedule, named):
    with pytest.raises(ValidationError, match=named):
        beat_schedule_to_periodic({"n": {"task": "t", "schedule": schedule}})


def test_crontab_refuses_fields_cron_cannot_read():
    with pytest.raises(ValidationError, match="not a valid cron expression"):
        crontab(minute=75)
