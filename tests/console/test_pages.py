"""Every console page: who may see it, the full page and its htmx partial, content."""

import re

import pytest

from taskqueue import services
from taskqueue.audit import Actor
from taskqueue.masking import MASK
from tests.support.records import make_dead, register_worker
from tests.support.tasks import other, sample
from tests.support.web import HTMX

pytestmark = pytest.mark.django_db

PAGES = {
    "/": 'id="totals"',
    "/queues/default/": 'id="listing"',
    "/tasks/": 'id="listing"',
    "/dead/": 'id="dead-page"',
    "/scheduled/": 'id="listing"',
    "/periodic/": 'id="periodic"',
    "/workers/": 'id="workers"',
}


@pytest.fixture
def some_tasks(broker):
    make_dead(broker, sample.enqueue("dies"))
    return {
        "pending": sample.enqueue(1),
        "scheduled": sample.using(delay=600).enqueue(2),
        "email": other.enqueue("x"),
    }


@pytest.mark.parametrize("url", [*PAGES, "/tasks/some-id/"])
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", PAGES)
def test_a_user_without_the_console_permission_gets_403(client, nobody, url):
    client.force_login(nobody)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize(("url", "marker"), PAGES.items())
def test_each_page_renders_in_full_and_as_its_htmx_partial(viewer_client, some_tasks, url, marker):
    full = viewer_client.get(url)
    assert full.status_code == 200
    assert b"<html" in full.content and marker.encode() in full.content
    partial = viewer_client.get(url, **HTMX)
    assert partial.status_code == 200
    assert b"<html" not in partial.content and marker.encode() in partial.content


def test_an_htmx_history_restore_gets_the_full_page(viewer_client):
    response = viewer_client.get("/tasks/", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert b"<html" in response.content


def test_a_viewer_sees_no_action_buttons(viewer_client, some_tasks):
    for url in [*PAGES, f"/tasks/{some_tasks['pending'].id}/"]:
        assert b"hx-post" not in viewer_client.get(url).content, url


def test_an_operator_sees_the_actions_of_each_task(operator_client, some_tasks):
    page = operator_client.get(f"/tasks/{some_tasks['scheduled'].id}/").content.decode()
    assert "Run now" in page and "Cancel" in page and "Delete" not in page


def test_the_overview_shows_each_queue_with_counts_and_a_chart(viewer_client, some_tasks):
    page = viewer_client.get("/").content.decode()
    assert 'id="queue-default"' in page and 'id="queue-emails"' in page
    assert "<dt>Pending</dt><dd>1</dd>" in page and '<dt>Dead</dt><dd class="bad">1</dd>' in page
    assert 'aria-label="Processed 0 and failed 1 in the last hour' in page
    assert '<rect class="failed"' in page


def test_the_queue_page_lists_a_status_tab_with_cursor_pages(viewer_client):
    ids = [sample.enqueue(i).id for i in range(60)]
    first = viewer_client.get("/queues/default/?status=pending").content.decode()
    assert first.count('data-live="task-row:') == 50
    assert f'id="task-{ids[0]}"' in first and f'id="task-{ids[50]}"' not in first
    next_query = re.search(r'href="\?([^"]*)"[^>]*>Next page', first)[1].replace("&amp;", "&")
    second = viewer_client.get(f"/queues/default/?{next_query}", **HTMX).content.decode()
    assert second.count('data-live="task-row:') == 10 and f'id="task-{ids[59]}"' in second


def test_an_unknown_queue_is_404(viewer_client):
    assert viewer_client.get("/queues/nope/").status_code == 404
    assert viewer_client.get("/queues/default%0A/").status_code == 404


def test_the_task_search_finds_by_id_and_filters_by_status(viewer_client, some_tasks):
    wanted = some_tasks["email"].id
    by_id = viewer_client.get(f"/tasks/?q={wanted}").content.decode()
    assert by_id.count('data-live="task-row:') == 1 and f'id="task-{wanted}"' in by_id
    dead = viewer_client.get("/tasks/?status=dead").content.decode()
    assert dead.count('data-live="task-row:') == 1 and "ValueError" in dead


def test_a_bad_filter_is_a_400_with_its_message(viewer_client):
    response = viewer_client.get("/tasks/?status=sleeping", **HTMX)
    assert response.status_code == 400
    assert b"status &#x27;sleeping&#x27; is not one of" in response.content


def test_the_task_page_shows_arguments_error_traceback_and_attempts(viewer_client, broker):
    handle = sample.enqueue("a", password="hunter2", nested={"api_token": "t0k"})
    make_dead(broker, handle, "KeyError", "missing 'x'", "Traceback (most recent call last)")
    page = viewer_client.get(f"/tasks/{handle.id}/").content.decode()
    assert "hunter2" not in page and "t0k" not in page and MASK in page
    assert "KeyError" in page and "Traceback (most recent call last)" in page
    assert 'class="timeline"' in page and "worker-1" in page


def test_an_unknown_task_is_404(viewer_client):
    assert viewer_client.get("/tasks/no-such-task/").status_code == 404


def test_the_dead_letters_are_grouped_and_filtered_by_exception(viewer_client, broker):
    make_dead(broker, sample.enqueue(1), "ValueError")
    make_dead(broker, sample.enqueue(2), "KeyError")
    make_dead(broker, sample.enqueue(3), "KeyError")
    page = viewer_client.get("/dead/").content.decode()
    assert '<code>KeyError</code> <span class="count">2</span>' in page
    filtered = viewer_client.get("/dead/?exception=ValueError", **HTMX).content.decode()
    assert filtered.count('data-live="task-row:') == 1


def test_scheduled_tasks_show_when_they_are_due(viewer_client, some_tasks):
    page = viewer_client.get("/scheduled/?queue=default").content.decode()
    assert f'id="task-{some_tasks["scheduled"].id}"' in page and "due <time" in page
    assert ">in 9 min" in page or ">in 10 min" in page


def test_workers_show_their_numbers_and_lost_ones_are_marked(viewer_client, broker):
    register_worker(broker, "alive", queues="default,emails")
    register_worker(broker, "silent", silent_for_s=5 * 60, queues="default,emails")
    page = viewer_client.get("/workers/").content.decode()
    assert page.count('class="badge lost"') == 1
    assert "web-1" in page and ">4242<" in page and "default, emails" in page


def test_a_cancelled_task_no_longer_offers_cancel(operator_client):
    handle = sample.enqueue(1)
    services.cancel(Actor("t", "console"), handle.id)
    page = operator_client.get(f"/tasks/{handle.id}/").content.decode()
    assert "Retry" in page and ">Cancel<" not in page


def test_periodic_schedules_show_their_last_and_next_run(
    viewer_client, settings, tq_settings, broker
):
    settings.TASKQUEUE = {
        **tq_settings,
        "PERIODIC": {"nightly": {"task": "demo.tasks.fast", "cron": "0 3 * * *"}},
    }
    broker.client.hset(
        broker.keys.periodic, "nightly", '{"last_tick": 1800000000000, "task_id": "t-42"}'
    )
    page = viewer_client.get("/periodic/").content.decode()
    assert "<code>nightly</code>" in page and "<code>0 3 * * *</code>" in page
    assert 'datetime="2027-01-15T08:00:00+00:00"' in page
    assert 'href="/tasks/t-42/"' in page
    assert "03:00:00" in page  # the next run, at 3 in the morning (TIME_ZONE is UTC)
