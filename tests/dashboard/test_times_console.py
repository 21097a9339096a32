"""Times and attempts in the console (issue 19, item 7), and the queue page's "new
rows" bar (item 3), as the server renders them: every relative time is a
<time datetime data-ago> with the absolute time and its zone as its title (the page
counts it on: test_times_and_phone_browser.py); a requeued task's attempts say what the
numbers mean instead of "6/3" or "2 of at most 1"."""

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.template import Context, Template

from dashboard.templatetags.console import Attempts, absolute, age, attempts_of
from taskqueue import inspect
from taskqueue.records import Attempt, TaskError
from tests.support.records import make_dead, run_next
from tests.support.tasks import mail, sample
from tests.support.web import logged_in, make_user

pytestmark = pytest.mark.django_db

GOES_ON = "(the count goes on after a requeue)"
AGE = re.compile(
    r'<time datetime="(?P<iso>[^"]+)" data-ago title="(?P<title>[^"]+)">(?P<text>[^<]+)</time>'
)


@pytest.fixture
def client(db):
    return logged_in(make_user("otto", "view_console", "operate_tasks"))


def test_a_relative_time_carries_its_iso_time_and_the_absolute_time_with_its_zone():
    when = datetime.now(UTC) - timedelta(seconds=12.4)
    match = AGE.fullmatch(age(when))
    assert match, age(when)
    assert datetime.fromisoformat(match["iso"]) == when.replace(
        microsecond=when.microsecond // 1000 * 1000
    )
    assert match["iso"].endswith("+00:00")  # an absolute time, its zone said
    assert match["title"] == f"{when:%Y-%m-%d %H:%M:%S} UTC"
    assert match["text"] == "12 s ago"


def test_the_absolute_time_names_another_zone_and_its_offset(settings):
    settings.TIME_ZONE = "Europe/Paris"
    assert absolute(datetime(2026, 12, 6, 14, 39, 27, tzinfo=UTC)) == (
        "2026-12-06 15:39:27 CET, UTC+01:00"
    )
    assert absolute(datetime(2026, 7, 6, 14, 39, 27, tzinfo=UTC)).endswith("CEST, UTC+02:00")


def test_no_time_is_a_dash_and_times_at_the_calendar_edges_still_render():
    assert age(None) == "\u2013"
    assert age("not a time") == "\u2013"
    for edge in (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)):
        assert AGE.fullmatch(age(edge)), age(edge)


def test_a_task_row_shows_its_age_as_a_live_time(client, broker):
    handle = sample.enqueue(1)
    html = client.get(f"/tasks/?q={handle.id}").content.decode()
    row = html[html.index(f'id="task-{handle.id}"') :]
    match = AGE.search(row)
    assert match and match["text"].endswith("ago"), row[:2000]
    created = inspect.get_task(handle.id).created_at
    assert datetime.fromisoformat(match["iso"]) == created.replace(
        microsecond=created.microsecond // 1000 * 1000
    )
    assert match["title"].endswith(" UTC")


def test_a_task_page_shows_live_relative_times(client, broker):
    handle = sample.enqueue(1)
    html = client.get(f"/tasks/{handle.id}/").content.decode()
    assert AGE.search(html), "the Created line's relative time"


def record(attempts, max_retries, status, outcomes=(), lost=0):
    history = tuple(Attempt(n, "w", None, None, o) for n, o in enumerate(outcomes, 1))
    return SimpleNamespace(attempts=attempts, max_retries=max_retries, status=status,
                           history=history, lost=lost, failures=0)  # fmt: skip


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (record(0, 2, "pending"), Attempts(0, 3)),
        (record(2, 2, "scheduled", ["retry", "retry"]), Attempts(2, 3)),
        (record(3, 2, "dead", ["retry", "retry", "dead"]), Attempts(3, 3)),
        # dead after 3, requeued: pending again, no run yet in its new round
        (record(3, 2, "pending", ["retry", "retry", "dead"]), Attempts(3, 3, True, 3, 0)),
        # ... then 3 more runs, dead again: "6/3" before
        (record(6, 2, "dead", ["retry", "retry", "dead"] * 2), Attempts(6, 3, True, 3, 3)),
        # max_retries 0, dead, requeued, ran again: "Attempts 2 of at most 1" before
        (record(2, 0, "completed", ["dead", "completed"]), Attempts(2, 1, True, 1, 1)),
        # a cancelled run requeued
        (record(2, 0, "processing", ["cancelled", None]), Attempts(2, 1, True, 1, 1)),
        # no history to tell after which attempt; more runs than a round allows
        (record(5, 1, "pending"), Attempts(5, 2, True)),
        (record(3, 1, "completed", lost=1), Attempts(3, 2)),  # a lost lease, no requeue
        (record(4, None, "pending"), Attempts(4, None)),
    ],
)
def test_attempts_tell_a_requeue_apart(task, expected):
    assert attempts_of(task) == expected


def requeued_twice_dead(broker) -> str:
    """A task with max_retries 0 that died, was requeued and died again."""
    handle = mail.using(queue="default").enqueue("a@example.com")
    make_dead(broker, handle)
    broker.requeue("default", [handle.id])
    claimed = run_next(broker, handle)
    broker.fail("default", handle.id, claimed.attempt, retry_delay_ms=None,
                error=TaskError("ValueError", "again", ""))  # fmt: skip
    return handle.id


def test_a_requeued_task_says_what_its_attempts_mean(client, broker):
    task_id = requeued_twice_dead(broker)
    html = client.get(f"/tasks/{task_id}/").content.decode()
    assert "of at most 1</dd>" not in html  # "Attempts 2 of at most 1"
    text = re.sub(r"<[^>]+>", "", html)
    assert f"2 in all {GOES_ON} · requeued after attempt 1: 1 of at most 1 since" in text

    html = client.get(f"/tasks/?q={task_id}").content.decode()
    row = html[html.index(f'id="task-{task_id}"') :]
    cell = re.search(r'<td class="num">(.*?)</td>', row, re.S)[1]
    assert "/1" not in cell  # "2/1"
    parts = [p for p in re.sub(r"<[^>]+>", "|", cell).split("|") if p.strip()]
    assert parts == ["2", "1 of 1 since requeue"]
    assert (
        f'title="2 attempts in all {GOES_ON}; requeued after attempt 1: 1 of at most 1 since"'
        in cell
    )


def test_a_task_never_requeued_keeps_its_short_count(client, broker):
    handle = sample.using(max_retries=2).enqueue(1)
    run_next(broker, handle)
    html = client.get(f"/tasks/?q={handle.id}").content.decode()
    row = html[html.index(f'id="task-{handle.id}"') :]
    short = '<span class="attempts" title="1 of at most 3 attempts">1<span class="muted">/3</span>'
    assert short in row
    assert "since requeue" not in row


def test_a_queue_list_carries_what_its_new_rows_bar_compares(client, broker):
    for i in range(3):
        sample.enqueue(i)
    html = client.get("/queues/default/").content.decode()
    bar = re.search(r'<div id="new-rows"[^>]*>', html)[0]
    assert 'data-new-rows="nav.tabs .tab-pending .count"' in bar
    assert 'data-loaded="3"' in bar and " hidden" in bar
    assert 'hx-get="/queues/default/"' in html and 'hx-swap="morph"' in html


def test_a_full_first_page_in_run_order_has_no_new_rows_bar(client, broker, monkeypatch):
    monkeypatch.setattr("dashboard.views.PAGE_SIZE", 2)
    for i in range(3):
        sample.enqueue(i)
    assert 'id="new-rows"' not in client.get("/queues/default/").content.decode()
    # a newest-first tab shows new tasks at its top: it keeps the bar
    assert 'id="new-rows"' in client.get("/queues/default/?status=completed").content.decode()


def test_templates_render_a_missing_time_as_a_dash():
    html = Template("{% load console %}{% age when %}").render(Context({"when": None}))
    assert html == "\u2013"
