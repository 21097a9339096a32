"""Django priorities (-100..100) and native ones (1..10) in one queue: one internal
order, tested through a real worker running one task at a time."""

from taskqueue.inspect import get_task
from taskqueue.priority import (
    DEFAULT_PRIORITY,
    MAX_PRIORITY,
    MIN_PRIORITY,
    django_of_native,
    level_of,
    level_of_django,
    native_of_django,
)
from tests.support.workers import run_burst
from tests.taskapp import django_tasks as dj
from tests.taskapp.tasks import record


def test_distinct_django_priorities_are_never_inverted():
    levels = [level_of_django(p) for p in range(-100, 101)]
    assert levels == list(range(201))


def test_native_priorities_sit_at_their_own_levels():
    for native in range(1, 11):
        django = django_of_native(native)
        assert level_of_django(django) == level_of(native)
        assert native_of_django(django) == native
    assert (native_of_django(-100), native_of_django(9), native_of_django(10)) == (1, 5, 6)


def test_a_django_priority_shows_as_the_native_one_nearest_its_level_halfway_up():
    natives = range(MIN_PRIORITY, MAX_PRIORITY + 1)
    for django in range(-100, 101):
        level = level_of_django(django)
        nearest = min(natives, key=lambda n: (abs(level_of(n) - level), -n))
        assert native_of_django(django) == nearest, django


def test_native_priorities_off_the_scale_map_to_the_ends_of_djangos():
    assert (django_of_native(0), django_of_native(11)) == (-100, 100)
    assert django_of_native(DEFAULT_PRIORITY) == 0


def test_both_scales_interleave_in_one_queue_by_level_then_fifo(evidence):
    # (kind, priority) in enqueue order; level: Django p -> p + 100, native n -> 100 + (n-5)*20
    plan = [
        ("native", 5),
        ("django", -100),
        ("django", 0),
        ("native", 10),
        ("django", 100),
        ("django", 1),
        ("native", 1),
        ("django", -80),
        ("django", 99),
        ("native", 6),
        ("django", 19),
        ("django", -81),
    ]
    for i, (kind, p) in enumerate(plan):
        tag = f"{i}:{kind}:{p}"
        if kind == "native":
            record.using(priority=p).enqueue(tag)
        else:
            dj.mark.using(priority=p).enqueue(tag)
    run_burst(concurrency=1)

    def level(step):
        kind, p = step[1]
        return level_of_django(p) if kind == "django" else level_of(p)

    expected = sorted(enumerate(plan), key=lambda step: (-level(step), step[0]))
    assert evidence() == [f"{i}:{kind}:{p}" for i, (kind, p) in expected]
    assert evidence()[:3] == ["3:native:10", "4:django:100", "8:django:99"]
    assert evidence()[-3:] == ["7:django:-80", "11:django:-81", "1:django:-100"]


def test_the_record_keeps_a_native_priority_and_the_exact_django_one():
    result = dj.mark.using(priority=37).enqueue("x")
    stored = get_task(result.id)
    assert stored.priority == 7
    assert stored.meta["django"] == {"priority": 37, "backend": "default"}
    fetched = dj.mark.get_result(result.id)
    assert fetched.task.priority == 37 and fetched.task == dj.mark.using(priority=37)
