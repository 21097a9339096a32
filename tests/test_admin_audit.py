"""The Django admin of the audit trail and the archive: pages render, filter and search;
nobody, superusers included, adds, changes or deletes rows; admin actions are audited."""

import pytest
from django.urls import reverse
from django.utils import timezone

from taskqueue import archive, services
from taskqueue.audit import Actor
from taskqueue.inspect import TaskFilter
from taskqueue.models import AuditEvent, TaskArchive
from taskqueue.status import Status
from tests.support.records import make_dead
from tests.support.tasks import add, send

from . import finished

pytestmark = pytest.mark.django_db
EVENTS = "/admin/taskqueue/auditevent/"
ARCHIVE = "/admin/taskqueue/taskarchive/"
ALICE = Actor("alice", "console", ip="10.0.0.7", user_agent="Firefox/140")
BOB = Actor("bob", "api", ip="10.0.0.8")


@pytest.fixture
def admin_user(django_user_model):
    """A superuser without a password: no slow hashing (the admin client logs it in)."""
    return django_user_model.objects.create_superuser("admin", "admin@example.com", None)


def listed(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.fixture
def history(broker):
    """A few real actions: alice cancels a task, bob pauses a queue, alice requeues two
    dead letters of a queue by a filter."""
    dead = [make_dead(broker, send.enqueue(f"{i}@x"), "SMTPError") for i in range(2)]
    cancelled = add.enqueue(1, 2)
    services.cancel(ALICE, cancelled.id)
    services.pause(BOB, "emails")
    services.requeue_dead(ALICE, flt=TaskFilter(queue="emails", exception="SMTPError"))
    return {"cancelled": cancelled.id, "dead": dead}


def test_the_event_list_renders_with_a_link_to_the_tasks_console_page(admin_client, history):
    response = admin_client.get(EVENTS)
    assert [e.action for e in listed(response)] == ["requeue_dead", "pause", "cancel"]
    task_url = reverse("dashboard:task", args=[history["cancelled"]])
    assert f'href="{task_url}"' in response.text
    assert "exception=SMTPError queue=emails" in response.text


@pytest.mark.parametrize(
    ("params", "actions"),
    [
        ({"action": "cancel"}, ["cancel"]),
        ({"source": "api"}, ["pause"]),
        ({"queue": "emails"}, ["requeue_dead", "pause"]),
        ({"actor": "alice"}, ["requeue_dead", "cancel"]),
        ({"created_at__gte": "2000-01-01 00:00+00:00", "action": "pause"}, ["pause"]),
        ({"created_at__lt": "2000-01-01 00:00+00:00"}, []),
    ],
)
def test_the_event_list_filters(admin_client, history, params, actions):
    assert [e.action for e in listed(admin_client.get(EVENTS, params))] == actions


def test_the_event_list_has_a_date_hierarchy(admin_client, history):
    today = timezone.now()
    params = {"created_at__year": today.year, "created_at__month": today.month}
    assert len(listed(admin_client.get(EVENTS, params))) == 3
    assert listed(admin_client.get(EVENTS, {"created_at__year": 2001})) == []


def test_search_by_task_id_finds_single_and_bulk_events(admin_client, history):
    found = listed(admin_client.get(EVENTS, {"q": history["cancelled"]}))
    assert [e.action for e in found] == ["cancel"]
    found = listed(admin_client.get(EVENTS, {"q": history["dead"][1]}))
    assert [e.action for e in found] == ["requeue_dead"]


def test_search_by_actor(admin_client, history):
    assert [e.action for e in listed(admin_client.get(EVENTS, {"q": "bob"}))] == ["pause"]


def test_the_event_page_shows_every_field(admin_client, history):
    event = AuditEvent.objects.get(action="requeue_dead")
    response = admin_client.get(f"{EVENTS}{event.pk}/change/")
    assert response.status_code == 200
    for text in ("alice", "10.0.0.7", "Firefox/140", "SMTPError", "&quot;queue&quot;", "dead"):
        assert text in response.text
    archived = reverse("admin:taskqueue_taskarchive_changelist") + f"?audit_event={event.pk}"
    assert archived in response.text


def test_user_supplied_text_is_escaped(admin_client, broker):
    services.pause(Actor("<script>x()</script>", "api", user_agent="<b>ua</b>"), "default")
    event = AuditEvent.objects.get()
    response = admin_client.get(f"{EVENTS}{event.pk}/change/")
    assert "<script>x()" not in response.text and "&lt;script&gt;x()" in response.text
    assert "<b>ua</b>" not in response.text


def test_superusers_cannot_add_change_or_delete_events(admin_client, history):
    event = AuditEvent.objects.get(action="cancel")
    assert admin_client.get(f"{EVENTS}add/").status_code == 403
    assert admin_client.post(f"{EVENTS}add/", {"actor": "mallory"}).status_code == 403
    change = admin_client.post(f"{EVENTS}{event.pk}/change/", {"actor": "mallory"})
    assert change.status_code == 403
    assert admin_client.post(f"{EVENTS}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    admin_client.post(EVENTS, bulk)
    assert AuditEvent.objects.count() == 3
    assert AuditEvent.objects.get(pk=event.pk).actor == "alice"


def test_superusers_cannot_add_change_or_delete_archived_tasks(admin_client, history):
    archive.archive_once()
    row = TaskArchive.objects.get(task_id=history["cancelled"])
    assert admin_client.get(f"{ARCHIVE}add/").status_code == 403
    assert admin_client.post(f"{ARCHIVE}{row.pk}/change/", {"name": "x"}).status_code == 403
    assert admin_client.post(f"{ARCHIVE}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    admin_client.post(ARCHIVE, bulk)
    assert TaskArchive.objects.filter(pk=row.pk).exists()


@pytest.fixture
def archived(broker, history):
    """The history's tasks archived: one cancelled, two dead that were requeued (so only
    the cancelled one is still finished in Redis), and a dead one of another kind."""
    key_error = make_dead(broker, add.enqueue(3, 4), "KeyError")
    a_minute_ago = broker.time_ms() - 60_000
    finished.write_finished(broker, "emails", "dead", history["dead"], first_score=a_minute_ago)
    archive.archive_once()
    TaskArchive.objects.filter(task_id=key_error).update(finished_at="2025-03-04T05:06:07Z")
    return {**history, "key_error": key_error}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tests.support.tasks.add", ["cancelled", "key_error"]),
        ("emails", ["dead"]),
        ("cancelled", ["cancelled"]),
        ("KeyError", ["key_error"]),
    ],
)
def test_the_archive_is_searchable(admin_client, archived, query, expected):
    found = {r.task_id for r in listed(admin_client.get(ARCHIVE, {"q": query}))}
    wanted = set()
    for name in expected:
        wanted |= set(archived[name]) if name == "dead" else {archived[name]}
    assert found == wanted


def test_the_archive_is_searchable_by_task_id_and_filtered_by_time_range(admin_client, archived):
    found = listed(admin_client.get(ARCHIVE, {"q": archived["key_error"]}))
    assert [r.task_id for r in found] == [archived["key_error"]]
    in_2025 = {"finished_at__gte": "2025-01-01 00:00Z", "finished_at__lt": "2026-01-01 00:00Z"}
    assert [r.task_id for r in listed(admin_client.get(ARCHIVE, in_2025))] == [
        archived["key_error"]
    ]
    assert len(listed(admin_client.get(ARCHIVE, {"finished_at__year": 2025}))) == 1
    assert len(listed(admin_client.get(ARCHIVE, {"status__exact": "dead"}))) == 3


def test_an_audit_event_leads_to_the_archived_tasks_it_touched(admin_client, archived):
    event = AuditEvent.objects.get(action="requeue_dead")
    found = listed(admin_client.get(ARCHIVE, {"audit_event": event.pk}))
    assert sorted(r.task_id for r in found) == sorted(archived["dead"])
    row = TaskArchive.objects.get(task_id=archived["dead"][0])
    page = admin_client.get(f"{ARCHIVE}{row.pk}/change/")
    assert f"?q={row.task_id}" in page.text  # back to the events naming it


def test_retry_from_the_admin_goes_through_the_service_and_is_audited_once(
    admin_client, admin_user, broker
):
    task_id = make_dead(broker, add.enqueue(1, 2))
    archive.archive_once()
    row = TaskArchive.objects.get(task_id=task_id)
    response = admin_client.post(
        ARCHIVE,
        {"action": "retry_tasks", "_selected_action": [row.pk]},
        REMOTE_ADDR="192.0.2.9",
        HTTP_USER_AGENT="pytest-admin",
    )
    assert response.status_code == 302
    assert broker.get("default", task_id).status == Status.PENDING
    event = finished.only_event()
    assert (event.action, event.source, event.actor, event.user_id) == (
        "retry",
        "admin",
        admin_user.username,
        admin_user.pk,
    )
    assert (event.task_id, event.count, event.ip, event.user_agent) == (
        task_id,
        1,
        "192.0.2.9",
        "pytest-admin",
    )


def test_purge_from_the_admin_is_audited_once_and_keeps_the_archive_row(admin_client, broker):
    task_id = make_dead(broker, add.enqueue(1, 2))
    archive.archive_once()
    row = TaskArchive.objects.get(task_id=task_id)
    admin_client.post(ARCHIVE, {"action": "purge_dead_letters", "_selected_action": [row.pk]})
    assert broker.get("default", task_id) is None
    event = finished.only_event()
    assert (event.action, event.source, event.count, event.filter) == (
        "purge_dead",
        "admin",
        1,
        {"ids": [task_id]},
    )
    assert TaskArchive.objects.filter(task_id=task_id).exists()


def test_an_admin_action_that_does_nothing_records_nothing(admin_client, broker):
    task_id = finished.cancelled(broker, add.enqueue(1, 2))
    archive.archive_once()
    services.retry(Actor("ops", "cli"), task_id)  # now pending: nothing to retry
    row = TaskArchive.objects.get(task_id=task_id)
    response = admin_client.post(
        ARCHIVE, {"action": "retry_tasks", "_selected_action": [row.pk]}, follow=True
    )
    assert "0 task(s) retried; 1 skipped" in response.text
    assert AuditEvent.objects.filter(source="admin").count() == 0
