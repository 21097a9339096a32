"""The Tasks page's search (issue 19, item 4): the short id the tables show finds its
task (in Redis by a bounded ZSCAN of each queue's index, in the archive by prefix); the
exception filter ignores case; a task that failed once and then completed shows that
attempt's error, and "failed at least once" and "ended failed" are two choices."""

import pytest
from django.utils import timezone

from taskqueue import archive, inspect, services
from taskqueue.audit import Actor
from taskqueue.inspect import TaskFilter
from taskqueue.priority import band_of, level_of
from taskqueue.records import NewTask, TaskError
from tests.finished import completed
from tests.support.records import make_dead, run_next
from tests.support.tasks import other, sample
from tests.support.web import logged_in, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(db):
    return logged_in(make_user("vera", "view_console"))


def short(task_id: str) -> str:
    """The id as a table shows it (truncatechars:14): 13 characters and an ellipsis."""
    return task_id[:13] + "\u2026"


def listing(client, **params) -> str:
    response = client.get("/tasks/", params)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def completed_after_failure(broker, error_type="ConnectionError") -> str:
    """A task whose first attempt failed with `error_type` and whose retry completed."""
    handle = sample.enqueue(1)
    claimed = run_next(broker, handle)
    error = TaskError(error_type, "refused by upstream", "Traceback ...")
    broker.fail("default", claimed.id, claimed.attempt, retry_delay_ms=0, error=error)
    broker.run_now("default", handle.id)  # the retry, due at once
    return completed(broker, handle, result=1)


# -- short ids ------------------------------------------------------------------------


def test_the_short_id_a_table_shows_finds_the_task(client, broker):
    wanted = sample.enqueue(1).id
    sample.enqueue(2)
    page = listing(client, q=short(wanted))
    assert f'id="task-{wanted}"' in page
    assert page.count('<tr id="task-') == 1


def test_the_start_of_an_id_without_the_ellipsis_and_in_capitals_finds_the_task(client, broker):
    wanted = sample.enqueue(1).id
    assert f'id="task-{wanted}"' in listing(client, q=wanted[:8].upper())


def test_a_short_id_search_keeps_to_the_chosen_queue(client, broker):
    in_emails = other.enqueue(1).id
    assert f'id="task-{in_emails}"' in listing(client, q=short(in_emails), queue="emails")
    assert f'id="task-{in_emails}"' not in listing(client, q=short(in_emails), queue="default")


def test_a_short_id_search_keeps_to_the_other_filters(client, broker):
    dead = make_dead(broker, sample.enqueue(1))
    assert f'id="task-{dead}"' in listing(client, q=short(dead), status="dead")
    assert f'id="task-{dead}"' not in listing(client, q=short(dead), status="pending")


def test_a_search_that_is_no_id_prefix_still_searches_the_names(client, broker):
    wanted = other.enqueue(1).id
    assert f'id="task-{wanted}"' in listing(client, q="other")


def test_the_short_id_of_an_archived_task_no_longer_in_redis_finds_its_record(client, broker):
    dead = make_dead(broker, sample.enqueue(1), "KeyError", "no key")
    archive.archive_once()
    services.delete(Actor("tests", "system"), dead)
    page = listing(client, q=short(dead))
    assert 'id="archived-matches"' in page
    assert f'href="/tasks/{dead}/"' in page
    assert "KeyError" in page


def test_the_archive_lookup_keeps_to_the_chosen_queue(client, broker):
    dead = make_dead(broker, sample.enqueue(1))
    archive.archive_once()
    services.delete(Actor("tests", "system"), dead)
    other.enqueue(1)  # a known queue named emails
    assert 'id="archived-matches"' in listing(client, q=short(dead), queue="default")
    assert 'id="archived-matches"' not in listing(client, q=short(dead), queue="emails")


def test_archived_by_prefix_reads_only_ids_starting_so(db):
    ids = ["abcd0000-1", "abcd0001-2", "abce0000-3", "ABCD0000-4"]
    for task_id in ids:
        archive.TaskArchive.objects.create(
            task_id=task_id, name="t", queue="default", status="dead", archived_at=timezone.now()
        )
    assert {r.task_id for r in archive.archived_by_prefix("abcd")} == {ids[0], ids[1]}
    assert archive.archived_by_prefix("abcd", limit=1)[0].task_id in ids[:2]
    assert archive.archived_by_prefix("%") == [] and archive.archived_by_prefix("_bcd") == []


# -- the bounded lookup in Redis ---------------------------------------------------------


def test_the_prefix_lookup_stops_after_its_budget_of_zscan_calls(broker):
    handles = [sample.enqueue(i) for i in range(600)]
    last = handles[-1].id
    found, complete = broker.ids_with_prefix("default", last[:8], calls=1, count=10, limit=5)
    assert not complete  # one call of ~10 entries cannot walk 600
    found, complete = broker.ids_with_prefix("default", last[:13], calls=100, count=500, limit=5)
    assert complete and [e.id for e in found] == [last]


def test_a_short_id_search_among_20000_tasks_costs_a_bounded_number_of_zscan_calls(
    client, broker, monkeypatch
):
    band = band_of(level_of(5))
    for first in range(0, 20_000, 2000):
        batch = [
            NewTask(f"bulk-{i}", "console.sample", "default", "[]", "{}", 5, band, 3, None)
            for i in range(first, first + 2000)
        ]
        broker.enqueue(batch)
    wanted = sample.enqueue(1).id
    calls = []
    zscan = broker.client.zscan
    monkeypatch.setattr(broker.client, "zscan", lambda *a, **k: calls.append(a) or zscan(*a, **k))
    assert f'id="task-{wanted}"' in listing(client, q=short(wanted))
    found = len(calls)
    assert "No task matches." in listing(client, q="ffffffff-ffff")  # no such id
    missed = len(calls) - found
    assert 1 <= found <= missed <= inspect.ID_PREFIX_CALLS
    assert missed <= 20_000 // inspect.ID_PREFIX_COUNT * 2 + 1  # about one per COUNT ids


def test_glob_characters_in_a_prefix_match_only_themselves(broker, redis_client):
    sample.enqueue(1)
    for pattern in ("*", "?", "[", "\\", "[0-9a-f]*", "^"):
        found, complete = broker.ids_with_prefix("default", pattern, calls=5, count=100, limit=5)
        assert found == [] and complete, pattern


@pytest.mark.parametrize(
    ("q", "prefix"),
    [
        ("1b4e28ba-2fa1\u2026", "1b4e28ba-2fa1"),
        ("1B4E28BA", "1b4e28ba"),
        ("  abcd... ", "abcd"),
        ("abc", None),  # too short: a name search only
        ("deadbeef-zz", None),
        ("a" * 65, None),
        ("abcd\x00", None),
        ("ab\u0301cd", None),
        ("demo.tasks.add", None),
        ("", None),
        (None, None),
    ],
)
def test_which_searches_are_looked_up_as_the_start_of_an_id(q, prefix):
    assert inspect.id_prefix(q) == prefix


# -- the exception filter -----------------------------------------------------------------


def test_the_exception_filter_ignores_case(client, broker):
    dead = make_dead(broker, sample.enqueue(1), "ValueError")
    assert f'id="task-{dead}"' in listing(client, exception="valueerror")
    assert f'id="task-{dead}"' in listing(client, exception="VALUEERROR")
    assert f'id="task-{dead}"' not in listing(client, exception="valueerro")


def test_the_dead_letter_page_s_exception_filter_ignores_case_too(client, broker):
    dead = make_dead(broker, sample.enqueue(1), "ValueError")
    response = client.get("/dead/", {"exception": "valueerror"})
    assert f'id="task-{dead}"' in response.content.decode()


def test_a_task_that_failed_once_then_completed_shows_that_attempt_s_error(client, broker):
    done = completed_after_failure(broker)
    page = listing(client, exception="ConnectionError")
    row = page[page.index(f'id="task-{done}"') :].split("</tr>")[0]
    assert "status completed" in row
    assert "earlier attempt:" in row and "ConnectionError" in row
    assert "refused by upstream" in row


def test_failed_at_least_once_and_ended_failed_are_two_choices(client, broker):
    done = completed_after_failure(broker)
    dead = make_dead(broker, sample.enqueue(2), "ConnectionError")
    at_least_once = listing(client, exception="connectionerror")
    assert f'id="task-{done}"' in at_least_once and f'id="task-{dead}"' in at_least_once
    ended = listing(client, exception="connectionerror", failed="ended")
    assert f'id="task-{done}"' not in ended and f'id="task-{dead}"' in ended
    form = listing(client)
    assert "failed at least once" in form and "ended failed (dead)" in form


def test_ended_failed_with_another_status_is_refused_with_a_message(client, broker):
    response = client.get("/tasks/", {"failed": "ended", "status": "pending"})
    assert response.status_code == 400
    assert "Tasks that ended failed are dead, not pending" in response.content.decode()
    response = client.get("/tasks/", {"failed": "<script>x</script>"})
    assert response.status_code == 400
    assert "<script>x" not in response.content.decode()


def test_purging_dead_letters_by_exception_takes_the_same_tasks_the_list_shows(broker):
    dead = make_dead(broker, sample.enqueue(1), "ValueError")
    listed = inspect.dead_letters(TaskFilter(exception="valueerror")).items
    assert [t.id for t in listed] == [dead]
    purged = services.purge_dead(Actor("tests", "system"), flt=TaskFilter(exception="valueerror"))
    assert purged == 1


# -- inside args and kwargs ----------------------------------------------------------------


def test_a_search_inside_args_and_kwargs_finds_the_tasks_holding_the_text(client, broker):
    by_kwarg = sample.enqueue(order="A-1234").id
    by_arg = sample.enqueue("ship a-1234 today").id
    neither = sample.enqueue(order="B-1").id
    page = listing(client, args="a-1234")
    assert f'id="task-{by_kwarg}"' in page and f'id="task-{by_arg}"' in page
    assert f'id="task-{neither}"' not in page


def test_a_search_inside_arguments_never_matches_a_masked_secret(client, broker):
    secret = sample.enqueue(password="hunter2", api_key="k-999").id
    assert f'id="task-{secret}"' not in listing(client, args="hunter2")
    assert f'id="task-{secret}"' not in listing(client, args="k-999")


def test_a_search_inside_arguments_keeps_to_the_other_filters(client, broker):
    dead = make_dead(broker, sample.enqueue(order="C-5"), "ValueError")
    unlike = make_dead(broker, sample.enqueue(order="E-9"), "ValueError")
    assert f'id="task-{dead}"' in listing(client, args="c-5", status="dead")
    assert f'id="task-{unlike}"' not in listing(client, args="c-5", status="dead")
    assert f'id="task-{dead}"' not in listing(client, args="c-5", status="pending")
    assert f'id="task-{dead}"' not in listing(client, args="c-5", exception="KeyError")


def test_a_search_inside_arguments_with_a_short_id_keeps_to_that_task(client, broker):
    wanted = sample.enqueue(order="D-1").id
    also = sample.enqueue(order="D-1").id
    page = listing(client, args="d-1", q=short(wanted))
    assert f'id="task-{wanted}"' in page and f'id="task-{also}"' not in page
    assert f'id="task-{also}"' in listing(client, args="d-1", q="console.sam")


def test_a_search_inside_arguments_reads_a_bounded_number_of_records_a_page(broker, monkeypatch):
    monkeypatch.setattr(inspect, "ARGS_SCAN_BUDGET", 200)
    wanted = sample.enqueue(order="needle").id
    for i in range(300):  # newer than the wanted one, none matching
        sample.enqueue(order=f"hay-{i}")
    first = inspect.search_arguments(TaskFilter(), "needle", limit=50)
    assert first.items == [] and first.next_cursor is not None
    second = inspect.search_arguments(TaskFilter(), "needle", cursor=first.next_cursor)
    assert [t.id for t in second.items] == [wanted]


def test_an_archived_task_no_longer_in_redis_is_found_by_its_arguments(client, broker):
    dead = make_dead(broker, sample.enqueue(order="Z-42", token="tok-1"), "KeyError")
    archive.archive_once()
    services.delete(Actor("tests", "system"), dead)
    page = listing(client, args="z-42")
    assert 'id="archived-matches"' in page and f'href="/tasks/{dead}/"' in page
    assert 'id="archived-matches"' not in listing(client, args="tok-1")  # masked there too


# -- hostile input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    [
        "a" * 100_000,
        "\x00",
        "abcd\x00",
        "%00",
        "\U0001f4a3\u202e\ufeff",
        "0" * 64,
        "-" * 200,
        "<script>alert(1)</script>",
        "*",
    ],
)
def test_hostile_searches_answer_a_page_and_echo_nothing_unescaped(client, broker, q):
    sample.enqueue(1)
    response = client.get("/tasks/", {"q": q, "exception": q, "args": q})
    assert response.status_code in (200, 400)
    body = response.content.decode()
    assert "<script>alert" not in body
    shown = body.split('name="q" value="', 1)[1].split('"', 1)[0]
    assert len(shown) <= 200  # the search is cut to 200 characters


@pytest.mark.parametrize("raw", ["%ED%A0%80abcd", "%FF%FE", "abcd%00ef", "%E2%80%A6"])
def test_searches_that_are_not_utf8_or_hold_nul_answer_a_page(client, broker, raw):
    sample.enqueue(1)
    response = client.get(f"/tasks/?q={raw}&exception={raw}&args={raw}")
    assert response.status_code in (200, 400)
