"""The console's error pages (issue 19, item 6): a missing task, an unknown queue or
page, a user without the permission, and a server error answer styled pages inside the
console's layout (navigation, logout), never Django's bare ones; a missing task offers
its archived record; /api/ paths keep answering the API's JSON errors; the 500 page
renders with the database and Redis down and shows no traceback."""

import json
import uuid

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.db.utils import OperationalError
from django.test import Client, RequestFactory

import taskqueue.inspect
from config import errors as site_errors
from dashboard import access
from dashboard import errors as console_errors
from taskqueue import archive, services
from taskqueue.audit import Actor
from tests.support.records import make_dead
from tests.support.tasks import other, sample
from tests.support.web import HTMX, error_of, logged_in, make_user

pytestmark = pytest.mark.django_db

NAV = '<nav aria-label="Console">'
LOGOUT = 'action="/logout/"'


@pytest.fixture
def viewer(db):
    return make_user("vera", "view_console")


@pytest.fixture
def client(viewer) -> Client:
    return logged_in(viewer)


def in_console_layout(response) -> str:
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert NAV in body and LOGOUT in body and 'id="error-page"' in body
    assert "console.css" in body
    return body


def archived_dead_task(broker, error_type="KeyError") -> str:
    """A dead task copied into the archive, then deleted from Redis."""
    dead = make_dead(broker, sample.enqueue(1, secret="x"), error_type, "no key")
    archive.archive_once()
    services.delete(Actor("tests", "system"), dead)
    return dead


# -- 404 --------------------------------------------------------------------------------


def test_a_deleted_task_answers_a_styled_404_with_navigation_and_logout(client, broker):
    gone = str(uuid.uuid4())
    response = client.get(f"/tasks/{gone}/")
    assert response.status_code == 404
    body = in_console_layout(response)
    assert "Task not found" in body and gone in body
    assert "No archived record of it either" in body


def test_an_unknown_queue_answers_a_styled_404(client, broker):
    response = client.get("/queues/nope/")
    assert response.status_code == 404
    body = in_console_layout(response)
    assert "There is no queue at <code>/queues/nope/</code>" in body


def test_a_path_that_names_no_page_answers_a_styled_404(client, broker):
    body = in_console_layout(response := client.get("/no/such/page/"))
    assert response.status_code == 404 and "Nothing here at" in body


def test_an_anonymous_visitor_gets_the_404_with_a_login_link_and_no_navigation(db):
    response = Client().get("/no/such/page/")
    body = response.content.decode()
    assert response.status_code == 404 and 'id="error-page"' in body
    assert NAV not in body and 'href="/login/"' in body


def test_a_missing_task_shows_its_archived_record(client, broker):
    dead = archived_dead_task(broker)
    response = client.get(f"/tasks/{dead}/")
    assert response.status_code == 404
    body = in_console_layout(response)
    assert 'id="archived-task"' in body
    assert "Archived record" in body and "KeyError" in body and "no key" in body
    assert "console.sample" in body
    assert "/admin/" not in body  # a viewer who is not staff gets no admin link


def test_staff_get_a_link_to_the_archived_record_in_the_admin(broker):
    dead = archived_dead_task(broker)
    staff = logged_in(make_user("stan", "view_console", is_staff=True))
    row = archive.archived_task(dead)
    body = staff.get(f"/tasks/{dead}/").content.decode()
    assert f'href="/admin/taskqueue/taskarchive/{row.pk}/change/"' in body


def test_a_user_limited_to_other_queues_is_not_shown_the_archived_record(broker, monkeypatch):
    dead = archived_dead_task(broker)
    other.enqueue(1)
    monkeypatch.setattr(access, "queue_access", lambda: {"mailers": ["emails"]})
    mailer = make_user("mia", "view_console")
    mailer.groups.add(Group.objects.create(name="mailers"))
    response = logged_in(mailer).get(f"/tasks/{dead}/")
    body = in_console_layout(response)
    assert response.status_code == 404 and 'id="archived-task"' not in body


# -- 403 --------------------------------------------------------------------------------


def test_a_logged_in_user_without_permission_gets_a_styled_403_with_logout(db):
    nobody = logged_in(make_user("nick"))
    for path in ("/", "/tasks/", "/queues/default/"):
        response = nobody.get(path)
        assert response.status_code == 403, path
        body = in_console_layout(response)
        assert "Not allowed" in body and "<strong>nick</strong>" in body


def test_a_viewer_posting_an_operator_action_gets_the_styled_403(client, broker):
    task = sample.enqueue(1).id
    response = client.post(f"/tasks/{task}/cancel/")
    assert response.status_code == 403
    in_console_layout(response)


def test_a_request_for_another_host_gets_the_styled_400_without_echoing_the_host(client):
    response = client.get("/tasks/", HTTP_HOST="<b>evil</b>.example")
    assert response.status_code == 400
    body = response.content.decode()  # refused before the user is read: no navigation
    assert 'id="error-page"' in body and "console.css" in body and "Bad request" in body
    assert "evil" not in body


# -- hostile paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/tasks/<script>alert(1)</script>/",
        "/queues/<img src=x onerror=alert(1)>/",
        "/tasks/abc%00def/",
        "/tasks/%E2%80%AE%F0%9F%92%A3/",
        "/tasks/%ED%A0%80/",
        "/tasks/" + "a" * 5000 + "/",
        "/" + "x" * 20_000 + "/",
    ],
)
def test_hostile_paths_answer_a_404_that_escapes_and_cuts_what_it_shows(client, broker, path):
    response = client.get(path)
    assert response.status_code == 404
    body = in_console_layout(response)
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "a" * 201 not in body and "x" * 201 not in body


# -- /api/ keeps its JSON ----------------------------------------------------------------


def test_api_paths_keep_answering_json_errors(client, broker):
    for path in ("/api/v1/nope", "/api/nope", "/api/v2/tasks", f"/api/v1/tasks/{uuid.uuid4()}"):
        response = client.get(path)
        assert response.status_code in (401, 404), path
        assert error_of(response)["code"] in ("not_found", "unauthorized")
    assert error_of(client.get("/api/nope"))["code"] == "not_found"


@pytest.mark.parametrize(
    ("handler", "status", "code"),
    [
        (site_errors.bad_request, 400, "bad_request"),
        (site_errors.forbidden, 403, "forbidden"),
        (site_errors.not_found, 404, "not_found"),
    ],
)
def test_the_site_s_error_handlers_answer_json_under_api(handler, status, code):
    response = handler(RequestFactory().get("/api/v1/whatever"), Exception("secret detail"))
    assert response.status_code == status and json_error(response)["code"] == code
    assert b"secret detail" not in response.content


def test_an_api_server_error_answers_json_without_the_exception():
    response = site_errors.server_error(RequestFactory().get("/api/v1/tasks"))
    assert response.status_code == 500 and json_error(response)["code"] == "server_error"


def json_error(response) -> dict:
    """The API's one error shape, from a response a handler returned directly."""
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


# -- 500 ----------------------------------------------------------------------------------


def down_client(viewer, settings, monkeypatch) -> Client:
    """A logged-in client whose Redis and database are both down."""
    client = logged_in(viewer)
    client.raise_request_exception = False
    settings.TASKQUEUE = {**settings.TASKQUEUE, "REDIS_URL": "redis://127.0.0.1:1/0"}

    def refuse(self, *args, **kwargs):
        raise OperationalError("database is down: secret-db-detail")

    monkeypatch.setattr(SessionStore, "load", refuse)
    return client


def test_the_500_page_renders_in_the_console_layout_with_the_database_and_redis_down(
    viewer, settings, monkeypatch
):
    response = down_client(viewer, settings, monkeypatch).get("/queues/default/")
    assert response.status_code == 500
    body = in_console_layout(response)
    assert "Server error" in body
    assert "Traceback" not in body and "secret-db-detail" not in body
    assert "OperationalError" not in body


def test_the_500_page_with_redis_down_shows_no_broker_detail(client, settings):
    client.raise_request_exception = False
    settings.TASKQUEUE = {**settings.TASKQUEUE, "REDIS_URL": "redis://127.0.0.1:1/0"}
    response = client.get("/queues/default/")
    body = in_console_layout(response)
    assert response.status_code == 500
    assert "127.0.0.1:1" not in body and "Traceback" not in body


def test_the_500_page_falls_back_to_a_constant_page_when_its_template_fails(monkeypatch):
    def broken(name):
        raise RuntimeError("template engine broken")

    monkeypatch.setattr(console_errors.loader, "get_template", broken)
    response = site_errors.server_error(RequestFactory().get("/tasks/"))
    assert response.status_code == 500
    assert response.content.decode() == console_errors.BARE_500


def test_an_htmx_request_for_a_missing_task_answers_404(client, broker):
    response = client.get(f"/tasks/{uuid.uuid4()}/", **HTMX)
    assert response.status_code == 404


# -- a form posted without its CSRF token -----------------------------------------------


def test_a_post_without_its_csrf_token_gets_the_styled_403_and_does_nothing(broker, db):
    operator = make_user("olga", "view_console", "operate_tasks")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator)
    response = strict.post("/queues/default/pause/")
    assert response.status_code == 403
    body = in_console_layout(response)
    assert "Form expired" in body and "security token" in body
    assert not taskqueue.inspect.queue_counts("default").paused


def test_the_csrf_failure_view_keeps_the_json_shape_under_api(db):
    # the API checks CSRF itself (api/auth.py); Django's check reaching an /api/ path
    # (any view it guards) answers the API's shape all the same
    request = RequestFactory().post("/api/v1/queues/default/pause")
    response = site_errors.csrf_failure(request, "CSRF token missing.")
    assert response.status_code == 403
    assert json.loads(response.content)["error"]["code"] == "csrf_failed"
