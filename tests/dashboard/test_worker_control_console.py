"""Quiet and stop a worker from the console's workers page (issue 19,
dashboard/worker_actions.py): operators only, POST with CSRF, confirmed, audited; the
command lands in the worker's control record with a wake-up token. Registry entries
are written as a worker writes them (tests/support/records.py); that a real worker
obeys is tests/worker/test_worker_control.py's part."""

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from dashboard import access
from taskqueue.models import AuditEvent
from tests.support.records import register_worker
from tests.support.web import HTMX, logged_in, make_user

pytestmark = pytest.mark.django_db

QUIET, STOP = "/workers/quiet/", "/workers/stop/"
WORKER = "web-1:4242:ab12"


@pytest.fixture
def operator(db):
    return make_user("otto", "view_console", "operate_tasks")


@pytest.fixture
def operator_client(operator) -> Client:
    return logged_in(operator)


@pytest.fixture
def viewer_client(db) -> Client:
    return logged_in(make_user("vera", "view_console"))


@pytest.fixture
def worker(broker):
    register_worker(broker, WORKER)
    return WORKER


def commanded(broker, worker_id=WORKER):
    control = broker.worker_control(worker_id)
    return control and (control.command, control.by)


def tokens(broker, worker_id=WORKER) -> list[str]:
    return broker.client.lrange(broker.keys.worker_wake(worker_id), 0, -1)


def test_an_operator_sees_quiet_and_stop_with_a_confirmation(operator_client, worker):
    html = operator_client.get("/workers/").content.decode()
    row = re.search(r'<tr id="worker-web-1:4242:ab12".*?</tr>', html, re.S).group(0)
    assert f'<input type="hidden" name="worker" value="{WORKER}">' in row
    assert 'hx-post="/workers/quiet/"' in row and 'hx-post="/workers/stop/"' in row
    assert 'hx-confirm="Quiet worker web-1:4242:ab12@web-1? It takes no new tasks' in row
    assert 'hx-confirm="Stop worker web-1:4242:ab12@web-1? It finishes its running' in row


def test_a_viewer_sees_no_buttons_and_may_not_post(viewer_client, worker, broker):
    html = viewer_client.get("/workers/").content.decode()
    assert WORKER in html and "/workers/quiet/" not in html and "Control</th>" not in html
    for url in (QUIET, STOP):
        assert viewer_client.post(url, {"worker": WORKER}, **HTMX).status_code == 403
    assert commanded(broker) is None and tokens(broker) == []
    assert not AuditEvent.objects.exists()


def test_quiet_records_the_command_wakes_the_worker_and_is_audited(operator_client, worker, broker):
    response = operator_client.post(QUIET, {"worker": WORKER}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Worker web-1:4242:ab12@web-1 goes quiet: it claims no new task" in html
    assert 'id="workers"' in html and 'hx-swap-oob="true"' in html  # the table, refreshed
    assert commanded(broker) == ("quiet", "otto")
    assert tokens(broker) == ["quiet"]
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.source, event.status_before) == (
        "quiet_worker",
        "otto",
        "console",
        "running",
    )
    assert event.detail == {"worker": WORKER, "name": f"{WORKER}@web-1", "host": "web-1",
                            "pid": 4242}  # fmt: skip
    assert event.ip == "127.0.0.1"


def test_stop_records_the_command_and_is_audited(operator_client, worker, broker):
    response = operator_client.post(STOP, {"worker": WORKER}, **HTMX)
    assert response.status_code == 200
    assert "is stopping: it finishes its running tasks" in response.content.decode()
    assert commanded(broker) == ("stop", "otto")
    assert AuditEvent.objects.get().action == "stop_worker"


def test_a_plain_form_post_redirects_back(operator_client, worker, broker):
    response = operator_client.post(QUIET, {"worker": WORKER, "next": "/workers/"})
    assert (response.status_code, response["Location"]) == (302, "/workers/")
    assert commanded(broker) == ("quiet", "otto")


def test_a_post_without_a_csrf_token_is_refused(operator, worker, broker):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(STOP, {"worker": WORKER}, **HTMX)
    assert response.status_code == 403 and b"CSRF" in response.content
    assert commanded(broker) is None and not AuditEvent.objects.exists()


def test_get_is_not_allowed(operator_client, worker, broker):
    assert operator_client.get(QUIET).status_code == 405
    assert commanded(broker) is None


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"worker": ""},
        {"worker": "nope:1:ffff"},
        {"worker": "x" * 100_000},
        {"worker": "\x00é\u202e<b>"},
        {"worker": ["a", "b"]},
    ],
)
def test_a_bad_or_unknown_worker_is_a_clear_400(operator_client, worker, broker, data):
    response = operator_client.post(STOP, data, **HTMX)
    assert response.status_code == 400
    assert "no worker with that id is registered." in response.content.decode()
    assert commanded(broker) is None and not AuditEvent.objects.exists()


def test_a_lost_worker_cannot_be_commanded(operator_client, broker):
    register_worker(broker, "gone:1:0000", silent_for_s=120)
    html = operator_client.get("/workers/").content.decode()
    row = re.search(r'<tr id="worker-gone:1:0000".*?</tr>', html, re.S).group(0)
    assert "/workers/stop/" not in row
    response = operator_client.post(STOP, {"worker": "gone:1:0000"}, **HTMX)
    assert response.status_code == 400 and "that worker is lost" in response.content.decode()
    assert commanded(broker, "gone:1:0000") is None


def test_a_quiet_worker_offers_stop_only_and_a_stopping_one_nothing(operator_client, broker):
    register_worker(broker, "q:1:0001", state="quiet")
    register_worker(broker, "s:1:0002", state="stopping")
    html = operator_client.get("/workers/").content.decode()
    quiet = re.search(r'<tr id="worker-q:1:0001".*?</tr>', html, re.S).group(0)
    stopping = re.search(r'<tr id="worker-s:1:0002".*?</tr>', html, re.S).group(0)
    assert "/workers/quiet/" not in quiet and "/workers/stop/" in quiet
    assert "/workers/" not in stopping.replace('id="worker-', "")


def test_a_user_limited_to_queues_commands_only_workers_of_those(broker, monkeypatch):
    monkeypatch.setattr(access, "queue_access", lambda: {"mailers": ["emails"]})
    register_worker(broker, "mail:1:0001", queues="emails")
    register_worker(broker, "both:1:0002", queues="emails,default")
    register_worker(broker, "dflt:1:0003", queues="default")
    user = make_user("mia", "view_console", "operate_tasks")
    user.groups.add(Group.objects.create(name="mailers"))
    client = logged_in(user)
    html = client.get("/workers/").content.decode()
    assert "dflt:1:0003" not in html
    both = re.search(r'<tr id="worker-both:1:0002".*?</tr>', html, re.S).group(0)
    assert "/workers/stop/" not in both
    for other in ("both:1:0002", "dflt:1:0003"):
        response = client.post(STOP, {"worker": other}, **HTMX)
        assert response.status_code == 400
        assert commanded(broker, other) is None
    response = client.post(QUIET, {"worker": "mail:1:0001"}, **HTMX)
    assert response.status_code == 200 and "dflt:1:0003" not in response.content.decode()
    assert commanded(broker, "mail:1:0001") == ("quiet", "mia")
