"""Who may call the API: bearer tokens with scopes, console sessions with CSRF."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from api.models import ApiToken
from api.tokens import revoke_token
from taskqueue.audit import Actor
from taskqueue.models import AuditEvent
from tests.support.waits import wait_for
from tests.support.web import Api, error_of, make_token, make_user

pytestmark = pytest.mark.django_db
ENQUEUE = {"task": "tests.api.echo", "args": [1]}


def test_a_request_without_credentials_gets_401_with_a_bearer_challenge():
    response = Api().get("tasks")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="taskqueue"'
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize(
    "header",
    ["Bearer tq_00000000_" + "x" * 43, "Bearer nonsense", "Basic dXNlcjpwdw==", "Bearer ", "\x00"],
)
def test_a_bad_authorization_header_gets_401(header):
    response = Client(headers={"Authorization": header}).get("/api/v1/tasks")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="taskqueue", error=')


def test_a_revoked_token_is_refused(operator):
    secret = make_token(operator)
    assert Api(secret).get("tasks").status_code == 200
    revoke_token(Actor("tests", "system"), ApiToken.objects.get())
    assert Api(secret).get("tasks").status_code == 401


def test_a_token_of_an_inactive_user_is_refused(operator):
    secret = make_token(operator)
    User.objects.filter(pk=operator.pk).update(is_active=False)
    assert Api(secret).get("tasks").status_code == 401


def test_a_token_without_the_scope_gets_403(reader):
    response = reader.post("tasks", ENQUEUE)
    assert response.status_code == 403
    assert "'enqueue' scope" in error_of(response)["message"]
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def test_a_token_never_exceeds_its_users_permissions(operator):
    secret = make_token(operator)
    operator.user_permissions.clear()
    response = Api(secret).get("tasks")
    assert response.status_code == 403
    assert "taskqueue.view_console" in error_of(response)["message"]


def test_a_token_records_when_it_was_last_used(api):
    assert ApiToken.objects.get().last_used_at is None
    api.get("tasks")
    assert ApiToken.objects.get().last_used_at is not None


def test_an_action_by_token_is_audited_as_user_slash_token_name(api):
    task_id = api.post("tasks", ENQUEUE).json()["id"]
    event = AuditEvent.objects.get(action="enqueue")
    assert (event.actor, event.source, event.action, event.task_id) == (
        "olga/ci", "api", "enqueue", task_id,
    )  # fmt: skip
    assert (event.user.username, event.ip) == ("olga", "127.0.0.1")


def test_a_console_viewer_may_read_but_not_act():
    client = Client()
    client.force_login(make_user("vera", "view_console"))
    assert client.get("/api/v1/queues").status_code == 200
    response = Api(client=client).post("tasks", ENQUEUE)
    assert response.status_code == 403
    assert "taskqueue.operate_tasks" in error_of(response)["message"]


def test_a_logged_in_user_without_console_permission_gets_403():
    client = Client()
    client.force_login(make_user("nobody"))
    assert client.get("/api/v1/queues").status_code == 403


def test_a_session_write_needs_the_csrf_token(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    api = Api(client=client)
    refused = api.post("tasks", ENQUEUE)
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "csrf_failed"
    client.cookies["csrftoken"] = "a" * 32
    accepted = api.post("tasks", ENQUEUE, headers={"X-CSRFToken": "a" * 32})
    assert accepted.status_code == 201
    assert AuditEvent.objects.get(action="enqueue").actor == "olga"


def test_a_session_write_with_a_form_body_is_refused_before_any_parsing(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post("/api/v1/tasks", {"task": "tests.api.echo"})  # multipart
    assert response.status_code == 415


def test_token_requests_need_no_csrf_token(operator):
    headers = {"Authorization": f"Bearer {make_token(operator)}"}
    client = Client(enforce_csrf_checks=True, headers=headers)
    assert Api(client=client).post("tasks", ENQUEUE).status_code == 201


def test_a_bearer_header_wins_over_the_session(operator):
    client = Client(headers={"Authorization": "Bearer wrong"})
    client.force_login(operator)
    assert client.get("/api/v1/tasks").status_code == 401


def test_a_token_revoked_by_another_process_stops_working_once_its_cache_entry_expires(
    operator, monkeypatch
):
    from api import tokens

    monkeypatch.setattr(tokens, "TOKEN_CACHE_S", 0.2)
    api = Api(make_token(operator))
    assert api.get("queues").status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())  # no signal: as another process would
    assert api.get("queues").status_code == 200  # still cached here
    wait_for(lambda: api.get("queues").status_code == 401, timeout=5)


def test_losing_a_permission_in_this_process_takes_effect_at_once(operator):
    api = Api(make_token(operator))
    assert api.get("queues").status_code == 200
    operator.user_permissions.clear()
    assert api.get("queues").status_code == 403


def test_a_lookup_that_a_change_overtook_is_not_cached(operator, monkeypatch):
    from api import tokens

    secret = make_token(operator)
    real_has_perm = User.has_perm

    def change_lands_meanwhile(self, perm, obj=None):
        tokens.forget_tokens()  # as a revocation committed by another thread would
        return real_has_perm(self, perm, obj)

    monkeypatch.setattr(User, "has_perm", change_lands_meanwhile)
    assert tokens.find_token(secret) is not None
    assert tokens._cache == {}
