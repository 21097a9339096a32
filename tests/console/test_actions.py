"""Console actions: each goes through the service layer as the logged-in operator,
answers htmx with a message and the changed fragments, and is audited."""

import re

import pytest

import taskqueue
from taskqueue import inspect as taskqueue_inspect
from taskqueue.models import AuditEvent
from taskqueue.status import Status
from tests.support.records import make_dead
from tests.support.tasks import other, sample
from tests.support.web import HTMX

pytestmark = pytest.mark.django_db


def post(client, url, data=None, **extra):
    return client.post(url, data or {}, **HTMX, **extra)


def token_in(html: str) -> str:
    """The confirmation token of a confirmation panel."""
    return re.search(r'name="confirmation" value="([0-9a-f]{32})"', html).group(1)


def test_cancel_answers_with_a_message_and_the_new_row_and_is_audited(operator_client):
    handle = sample.enqueue(1)
    response = post(operator_client, f"/tasks/{handle.id}/cancel/", {"shown": "row"})
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Cancelled task {handle.id}." in html and 'id="messages"' in html
    assert f'<tr id="task-{handle.id}"' in html and "status cancelled" in html
    assert taskqueue.get_task(handle.id).status == Status.CANCELLED
    event = AuditEvent.objects.get()
    assert (event.actor, event.source, event.action) == ("otto", "console", "cancel")


def test_the_detail_page_gets_its_panel_back(operator_client):
    handle = sample.enqueue(1)
    html = post(operator_client, f"/tasks/{handle.id}/cancel/", {"shown": "panel"}).content
    assert b'<article class="task-panel" id="task-' in html


def test_an_illegal_transition_is_a_409_with_the_reason(operator_client):
    handle = sample.enqueue(1)
    post(operator_client, f"/tasks/{handle.id}/cancel/")
    response = post(operator_client, f"/tasks/{handle.id}/cancel/")
    assert response.status_code == 409
    assert b"it is cancelled" in response.content
    assert AuditEvent.objects.count() == 1


def test_an_unknown_task_is_a_404_message(operator_client):
    response = post(operator_client, "/tasks/nope/retry/")
    assert response.status_code == 404 and b"No task with id" in response.content


def test_retry_run_now_and_delete(operator_client, broker):
    dead = make_dead(broker, sample.enqueue(1))
    later = sample.using(delay=600).enqueue(2)
    assert post(operator_client, f"/tasks/{dead}/retry/").status_code == 200
    assert post(operator_client, f"/tasks/{later.id}/run-now/").status_code == 200
    assert taskqueue.get_task(dead).status == Status.PENDING
    assert taskqueue.get_task(later.id).status == Status.PENDING
    post(operator_client, f"/tasks/{later.id}/cancel/")
    html = post(operator_client, f"/tasks/{later.id}/delete/", {"shown": "row"}).content.decode()
    assert f'<tr id="task-{later.id}" hx-swap-oob="delete">' in html
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["retry", "run_now", "cancel", "delete"]


def test_bulk_acts_on_the_selection_and_reports_what_it_skipped(operator_client, broker):
    pending = [sample.enqueue(i).id for i in range(3)]
    response = post(operator_client, "/bulk/", {"action": "cancel", "ids": [*pending, "ghost"]})
    assert b"Cancelled 3 of the 4 selected tasks. Not cancelled: 1 missing" in response.content
    assert all(taskqueue.get_task(i).status == Status.CANCELLED for i in pending)
    retried = post(operator_client, "/bulk/", {"action": "retry", "ids": pending}).content
    assert b"Retried 3 tasks." in retried


def test_bulk_without_a_selection_says_so(operator_client):
    response = post(operator_client, "/bulk/", {"action": "retry"})
    assert response.status_code == 400 and b"Select at least one task." in response.content


def test_pause_resume_and_purge_a_queue(operator_client):
    for i in range(3):
        sample.enqueue(i)
    paused = post(operator_client, "/queues/default/pause/").content.decode()
    assert "Paused default" in paused and 'class="badge paused"' in paused
    assert taskqueue.inspect.queue_counts("default").paused
    post(operator_client, "/queues/default/resume/")
    assert not taskqueue.inspect.queue_counts("default").paused
    panel = post(operator_client, "/queues/default/purge/").content.decode()
    assert "Delete these 3 pending tasks of default?" in panel
    purged = post(operator_client, "/queues/default/purge/", {"confirmation": token_in(panel)})
    assert "Deleted 3 pending tasks of default, the ones you confirmed" in purged.content.decode()
    assert taskqueue.inspect.queue_counts("default").pending == 0


def test_requeue_all_matching_shows_the_count_first_then_requeues(operator_client, broker):
    values = [make_dead(broker, sample.enqueue(i), "ValueError") for i in range(2)]
    make_dead(broker, sample.enqueue(9), "KeyError")
    form = {"scope": "matching", "exception": "ValueError", "queue": "", "name": ""}
    preview = post(operator_client, "/dead/requeue/", form).content.decode()
    assert "Requeue 2 dead letters" in preview and "exception ValueError" in preview
    assert all(taskqueue.get_task(i).status == Status.DEAD for i in values)
    assert not AuditEvent.objects.exists()
    confirm = form | {"confirmation": token_in(preview), "confirm_to_queue": ""}
    done = post(operator_client, "/dead/requeue/", confirm).content.decode()
    assert "Requeued 2 dead letters, the ones you confirmed." in done
    assert all(taskqueue.get_task(i).status == Status.PENDING for i in values)
    assert taskqueue.inspect.dead_groups() == {"KeyError": 1}


def test_requeue_selected_into_another_queue(operator_client, broker):
    dead = make_dead(broker, sample.enqueue(1))
    form = {"scope": "selected", "ids": [dead], "to_queue": "emails"}
    preview = post(operator_client, "/dead/requeue/", form).content.decode()
    assert "Requeue 1 dead letter" in preview
    confirm = {"confirmation": token_in(preview), "confirm_to_queue": "emails"}
    post(operator_client, "/dead/requeue/", confirm)
    assert taskqueue.inspect.queue_counts("emails").pending == 1
    event = AuditEvent.objects.get()
    assert event.filter == {
        "confirmation": confirm["confirmation"],
        "confirmed": 1,
        "to_queue": "emails",
    }
    assert event.detail["ids"] == [dead] and event.count == 1


def test_purge_dead_letters_of_one_queue(operator_client, broker):
    make_dead(broker, sample.enqueue(1))
    make_dead(broker, other.enqueue(2))
    form = {"queue": "emails", "scope": "matching"}
    confirm = {
        "confirmation": token_in(post(operator_client, "/dead/purge/", form).content.decode())
    }
    assert (
        b"Deleted 1 dead letter, the ones" in post(operator_client, "/dead/purge/", confirm).content
    )
    assert taskqueue.inspect.dead_groups() == {"ValueError": 1}


def test_a_plain_form_post_redirects_back_with_the_message(operator_client):
    handle = sample.enqueue(1)
    response = operator_client.post(
        f"/tasks/{handle.id}/cancel/", {"next": f"/tasks/{handle.id}/"}, follow=True
    )
    assert response.redirect_chain == [(f"/tasks/{handle.id}/", 302)]
    assert f"Cancelled task {handle.id}." in response.content.decode()


def test_next_must_stay_on_this_site(operator_client):
    handle = sample.enqueue(1)
    response = operator_client.post(
        f"/tasks/{handle.id}/cancel/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


@pytest.mark.parametrize("where", ["foo", "dashboard:overview", "javascript:alert(1)"])
def test_a_next_that_is_not_a_url_on_this_site_goes_to_the_overview(operator_client, where):
    handle = sample.enqueue(1)
    response = operator_client.post(
        f"/tasks/{handle.id}/cancel/", {"next": where}, HTTP_REFERER=where
    )
    assert (response.status_code, response["Location"]) == (302, "/")


def test_pausing_a_queue_that_does_not_exist_is_404_and_creates_nothing(operator_client):
    response = operator_client.post("/queues/newq-from-console/pause/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404
    assert "newq-from-console" not in taskqueue_inspect.queues()
