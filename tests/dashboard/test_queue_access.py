"""Console users limited to queues through their groups (TASKQUEUE["QUEUE_ACCESS"]):
another queue's pages, tasks, actions and live updates answer 404 or are refused;
users in no listed group, and superusers, see every queue."""

import re

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group

from dashboard import access
from dashboard.live.relay import RELAY
from taskqueue import inspect
from taskqueue.errors import TaskDoesNotExist
from tests.console.sockets import LOCAL, communicator, session_cookie, until
from tests.support.records import make_dead
from tests.support.tasks import other, sample
from tests.support.web import HTMX, logged_in, make_user

pytestmark = pytest.mark.django_db

ACCESS = {"mailers": ["emails"], "reporters": ["reports"]}


@pytest.fixture(autouse=True)
def queue_access(monkeypatch):
    """QUEUE_ACCESS as the console reads it. (Set through the reader: until
    taskqueue/conf.py knows the option, TASKQUEUE with it fails the engine's check.)"""
    monkeypatch.setattr(access, "queue_access", lambda: ACCESS)


def member(username: str, *groups: str, **extra):
    user = make_user(username, "view_console", "operate_tasks", **extra)
    user.groups.add(*(Group.objects.get_or_create(name=g)[0] for g in groups))
    return user


@pytest.fixture
def mailer(db):
    return member("mia", "mailers")


@pytest.fixture
def client(mailer):
    return logged_in(mailer)


@pytest.fixture
def tasks(broker) -> dict[str, str]:
    """A pending task in each of default and emails."""
    return {"default": sample.enqueue(1).id, "emails": other.enqueue(1).id}


def post(client, url, data=None):
    return client.post(url, data or {}, **HTMX)


# -- who sees what ----------------------------------------------------------------------


def test_the_setting_is_read_from_taskqueue_queue_access(settings, monkeypatch):
    monkeypatch.undo()  # the real reader
    settings.TASKQUEUE = {"QUEUE_ACCESS": {"mailers": ["emails"]}}
    assert access.queue_access() == {"mailers": ["emails"]}
    settings.TASKQUEUE = {}
    assert access.queue_access() == {}


def test_a_user_sees_the_union_of_their_groups_queues(db):
    both = member("bo", "mailers", "reporters", "unlisted")
    assert access.queue_scope(both).names == frozenset({"emails", "reports"})


def test_a_user_in_no_listed_group_and_a_superuser_see_every_queue(db):
    assert not access.queue_scope(member("free", "unlisted")).limited
    assert not access.queue_scope(member("root", "mailers", is_superuser=True)).limited


# -- pages ------------------------------------------------------------------------------


def test_another_queues_page_is_a_404(client, tasks):
    assert client.get("/queues/default/").status_code == 404
    assert client.get("/queues/emails/").status_code == 200


def test_another_queues_task_page_is_a_404(client, tasks):
    assert client.get(f"/tasks/{tasks['default']}/").status_code == 404
    assert client.get(f"/tasks/{tasks['emails']}/").status_code == 200


def test_the_overview_shows_only_its_queues(client, tasks):
    html = client.get("/").content.decode()
    assert 'id="queue-emails"' in html
    assert 'id="queue-default"' not in html


def test_task_lists_leave_other_queues_out(client, tasks):
    row = 'id="task-{}"'.format
    html = client.get("/tasks/").content.decode()
    assert row(tasks["emails"]) in html and row(tasks["default"]) not in html
    named = client.get("/tasks/", {"queue": "default"})
    assert named.status_code == 400 and row(tasks["default"]) not in named.content.decode()
    by_id = client.get("/tasks/", {"q": tasks["default"]}).content.decode()
    assert row(tasks["default"]) not in by_id


def test_the_dead_letter_page_leaves_other_queues_out(client, broker):
    hidden = make_dead(broker, sample.enqueue(1), "HiddenError")
    shown = make_dead(broker, other.enqueue(1), "ShownError", queue="emails")
    html = client.get("/dead/").content.decode()
    assert shown in html and "ShownError" in html
    assert hidden not in html and "HiddenError" not in html


def test_the_scheduled_page_of_another_queue_is_a_404(client, tasks):
    assert client.get("/scheduled/", {"queue": "default"}).status_code == 404


def test_workflow_pages_are_404s(client, broker):
    assert client.get("/workflows/").status_code == 404
    assert client.get("/workflows/some-id/").status_code == 404
    assert post(client, "/workflows/some-id/cancel/").status_code == 404


# -- actions ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["cancel", "run-now", "delete", "retry"])
def test_an_action_on_another_queues_task_is_a_404(client, tasks, action):
    response = post(client, f"/tasks/{tasks['default']}/{action}/")
    assert response.status_code == 404
    assert inspect.get_task(tasks["default"]).status == "pending"


def test_retry_and_delete_of_another_queues_dead_task_are_404s(client, broker):
    dead = make_dead(broker, sample.enqueue(1))
    assert post(client, f"/tasks/{dead}/retry/").status_code == 404
    assert post(client, f"/tasks/{dead}/delete/").status_code == 404
    assert inspect.get_task(dead).status == "dead"


@pytest.mark.parametrize("action", ["pause", "resume", "purge"])
def test_an_action_on_another_queue_is_a_404(client, tasks, action):
    assert post(client, f"/queues/default/{action}/").status_code == 404
    counts = inspect.queue_counts("default")
    assert (counts.pending, counts.paused) == (1, False)


def test_an_action_on_its_own_queue_works(client, tasks):
    assert post(client, "/queues/emails/pause/").status_code == 200
    assert inspect.queue_counts("emails").paused


def test_bulk_skips_other_queues_tasks_as_missing(client, tasks):
    response = post(client, "/bulk/", {"action": "cancel", "ids": list(tasks.values())})
    html = response.content.decode()
    assert "Cancelled 1 of the 2 selected tasks. Not cancelled: 1 missing" in html
    assert f'id="task-{tasks["default"]}"' not in html  # no row of it comes back
    assert inspect.get_task(tasks["default"]).status == "pending"
    assert inspect.get_task(tasks["emails"]).status == "cancelled"


def test_dead_letter_actions_touch_only_its_queues(client, broker):
    hidden = make_dead(broker, sample.enqueue(1))
    shown = make_dead(broker, other.enqueue(1), queue="emails")
    selected = {"scope": "selected", "ids": [hidden, shown]}
    preview = post(client, "/dead/purge/", selected).content.decode()
    assert "Purge 1 dead letter" in preview
    token = re.search(r'name="confirmation" value="([0-9a-f]{32})"', preview).group(1)
    assert post(client, "/dead/purge/", {"confirmation": token}).status_code == 200
    assert inspect.get_task(hidden).status == "dead"
    with pytest.raises(TaskDoesNotExist):
        inspect.get_task(shown)
    matching = {"scope": "matching"}
    assert "Nothing to do" in post(client, "/dead/requeue/", matching).content.decode()
    assert inspect.get_task(hidden).status == "dead"


def test_requeueing_dead_letters_into_another_queue_is_a_404(client, broker):
    shown = make_dead(broker, other.enqueue(1), queue="emails")
    body = {"scope": "selected", "ids": [shown], "to_queue": "default"}
    assert post(client, "/dead/requeue/", body).status_code == 404
    assert inspect.get_task(shown).status == "dead"


# -- the live socket --------------------------------------------------------------------


@pytest.fixture
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("in_memory_layer")
def test_the_socket_refuses_to_watch_other_queues_and_their_tasks(mailer, tasks):
    cookie = session_cookie(mailer)
    asked = [
        "queue-card:default", "queue-card:emails", "queue-header:default",
        f"task-row:{tasks['default']}", f"task-panel:{tasks['emails']}", "totals:all",
    ]  # fmt: skip

    async def scenario():
        ws = communicator(LOCAL, cookie)
        assert (await ws.connect())[0]
        (sub,) = RELAY.registered()
        await ws.send_json_to({"watch": asked})
        await until(lambda: sub.watched, 5, "the watch")
        watched = set(sub.watched)
        await ws.disconnect()
        return watched

    assert async_to_sync(scenario)() == {
        ("queue-card", "emails"),
        ("task-panel", tasks["emails"]),
    }
    assert RELAY.join(timeout=10), "the console relay thread did not stop"
