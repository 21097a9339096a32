"""The console's bulk actions act on exactly what the operator confirmed (issue 19,
item 2; docs/console.md#exact-bulk-actions): the purge and the DLQ actions count first
and note what they counted; the confirmation acts on those tasks only, and the message
and the audit event say what became of the others."""

import re

import pytest

from taskqueue import inspect
from taskqueue.models import AuditEvent
from taskqueue.status import Status
from tests.support.records import make_dead, run_next
from tests.support.tasks import other, sample
from tests.support.web import HTMX

pytestmark = pytest.mark.django_db


def post(client, url, data=None):
    return client.post(url, data or {}, **HTMX).content.decode()


def token_in(html: str) -> str:
    return re.search(r'name="confirmation" value="([0-9a-f]{32})"', html).group(1)


def test_the_purge_deletes_the_tasks_counted_and_keeps_the_ones_that_arrived_since(
    operator_client, broker
):
    post(operator_client, "/queues/default/pause/")
    counted = [sample.enqueue(i).id for i in range(23)]
    panel = post(operator_client, "/queues/default/purge/")
    assert "Delete these 23 pending tasks of default?" in panel and "Yes, delete 23" in panel
    assert inspect.queue_counts("default").pending == 23  # counting changed nothing
    late = sample.enqueue("late").id
    done = post(operator_client, "/queues/default/purge/", {"confirmation": token_in(panel)})
    assert "Deleted 23 pending tasks of default, the ones you confirmed" in done
    assert (
        '<div id="purge-confirm" class="confirm" aria-live="polite" hx-swap-oob="true"></div>'
        in done
    )
    assert inspect.get_task(late).status == Status.PENDING
    assert not any(broker.get("default", i) for i in counted)
    event = AuditEvent.objects.get(action="purge_queue")
    assert event.count == 23 and event.filter["confirmed"] == 23
    assert event.filter["confirmation"] == token_in(panel) and event.detail == {"not_pending": {}}


def test_a_counted_task_that_changed_meanwhile_is_named_not_deleted(operator_client, broker):
    first = sample.enqueue(1)
    sample.enqueue(2)
    panel = post(operator_client, "/queues/default/purge/")
    run_next(broker, first)  # a worker starts the first
    done = post(operator_client, "/queues/default/purge/", {"confirmation": token_in(panel)})
    assert "Deleted 1 pending task of default, of the 2 you confirmed" in done
    assert "1 was no longer pending (1 processing)" in done
    assert inspect.get_task(first.id).status == Status.PROCESSING


def test_a_used_or_forged_confirmation_deletes_nothing_and_counts_again(operator_client):
    sample.enqueue(1)
    token = token_in(post(operator_client, "/queues/default/purge/"))
    post(operator_client, "/queues/default/purge/", {"confirmation": token})
    for i in range(2):
        sample.enqueue(i)
    for bad in (token, "f" * 32, "<script>", ""):
        again = post(operator_client, "/queues/default/purge/", {"confirmation": bad})
        assert "expired or was used already" in again or "confirmation must be" in again
        assert "Delete these 2 pending tasks of default?" in again  # a fresh count
    assert inspect.queue_counts("default").pending == 2
    assert AuditEvent.objects.filter(action="purge_queue").count() == 1


def test_a_token_of_one_queue_does_nothing_on_another(operator_client):
    sample.enqueue(1)
    other.enqueue(1)
    token = token_in(post(operator_client, "/queues/default/purge/"))
    html = post(operator_client, "/queues/emails/purge/", {"confirmation": token})
    assert "expired" in html
    assert inspect.queue_counts("emails").pending == 1


def test_an_empty_queue_has_nothing_to_confirm(operator_client):
    cancelled = other.enqueue(1).id  # a queue in use, with nothing pending
    post(operator_client, f"/tasks/{cancelled}/cancel/")
    panel = post(operator_client, "/queues/emails/purge/")
    assert "No task of emails is pending: nothing to purge." in panel
    assert 'name="confirmation"' not in panel


def test_the_dlq_requeue_leaves_a_dead_letter_that_died_after_the_count(operator_client, broker):
    counted = [make_dead(broker, sample.enqueue(i)) for i in range(3)]
    form = {"scope": "matching", "exception": "ValueError", "queue": "", "name": ""}
    preview = post(operator_client, "/dead/requeue/", form)
    assert "Requeue 3 dead letters" in preview
    later = make_dead(broker, sample.enqueue("later"))
    post(operator_client, f"/tasks/{counted[0]}/retry/")  # someone else requeued it
    done = post(operator_client, "/dead/requeue/", {"confirmation": token_in(preview)})
    assert (
        "Requeued 2 of the 3 dead letters you confirmed; 1 was no longer dead (1 pending)" in done
    )
    assert inspect.get_task(later).status == Status.DEAD
    event = AuditEvent.objects.get(action="requeue_dead")
    assert (event.count, event.filter["confirmed"]) == (2, 3)
    assert sorted(event.detail["ids"]) == sorted(counted[1:])
    assert event.detail["not_dead"] == {"pending": 1}


def test_another_button_of_the_dlq_form_never_confirms(operator_client, broker):
    dead = make_dead(broker, sample.enqueue(1))
    preview = post(operator_client, "/dead/requeue/", {"scope": "selected", "ids": [dead]})
    assert 'name="confirmation"' in preview and "<button" in preview
    # the panel's token rides on its own button only: "Delete selected…" posts the form
    again = post(operator_client, "/dead/purge/", {"scope": "selected", "ids": [dead]})
    assert "Purge 1 dead letter" in again
    assert inspect.get_task(dead).status == Status.DEAD


def test_bulk_retry_says_what_became_of_the_task_it_did_not_retry(operator_client, broker):
    dead = make_dead(broker, sample.enqueue(1))
    pending = sample.enqueue(2).id
    html = post(operator_client, "/bulk/", {"action": "retry", "ids": [dead, pending]})
    assert (
        "Retried 1 of the 2 selected tasks. Not retried: 1 pending "
        "(only dead or cancelled tasks can be retried)." in html
    )
