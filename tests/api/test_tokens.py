"""API tokens: created by the command or the admin (secret shown once), revoked in the
admin; only a hash is stored, and creation and revocation are audited."""

import io

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client

from api.models import ApiToken
from api.tokens import TOKEN_RE, hash_token
from taskqueue.models import AuditEvent
from tests.support.web import Api, make_user

pytestmark = pytest.mark.django_db


def create(*args) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("createapitoken", *args, stdout=out, stderr=err)
    return out.getvalue().strip()


def test_createapitoken_prints_a_working_secret_and_stores_only_its_hash(operator):
    secret = create("--user", "olga", "--scopes", "read,enqueue", "--name", "billing")
    assert TOKEN_RE.match(secret)
    token = ApiToken.objects.get()
    assert (token.name, token.scopes, token.key_hash) == (
        "billing", ["read", "enqueue"], hash_token(secret),
    )  # fmt: skip
    assert secret not in str(list(ApiToken.objects.values()))
    assert secret.startswith(f"tq_{token.prefix}_")
    assert Api(secret).get("queues").status_code == 200
    event = AuditEvent.objects.get()
    assert (event.action, event.source, event.detail["token"]) == (
        "token_created", "cli", token.prefix,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ghost"], "No user named 'ghost'"),
        (["--user", "olga", "--scopes", "read,root"], "scopes must be"),
        (["--user", "vera", "--scopes", "operate"], "lacks taskqueue.operate_tasks"),
    ],
)
def test_createapitoken_refuses_bad_requests(operator, args, message):
    make_user("vera", "view_console")
    with pytest.raises(CommandError, match=message):
        create(*args)
    assert not ApiToken.objects.exists()


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "", None))
    return client


def test_the_admin_shows_a_new_tokens_secret_once(admin_client, operator):
    response = admin_client.post(
        "/admin/api/apitoken/add/",
        {"user": operator.pk, "name": "deploys", "scopes": ["read", "operate"]},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    secret = response.context["secret"]
    assert token.key_hash == hash_token(secret) and secret in response.content.decode()
    assert (
        secret not in admin_client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    )
    assert AuditEvent.objects.get().action == "token_created"


def test_the_admin_refuses_scopes_the_user_lacks(admin_client):
    vera = make_user("vera", "view_console")
    response = admin_client.post(
        "/admin/api/apitoken/add/", {"user": vera.pk, "name": "x", "scopes": ["operate"]}
    )
    assert "lacks taskqueue.operate_tasks" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_in_the_admin_disables_the_token_and_is_audited(admin_client, operator):
    secret = create("--user", "olga", "--scopes", "read")
    token = ApiToken.objects.get()
    admin_client.post(
        "/admin/api/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Api(secret).get("queues").status_code == 401
    assert list(AuditEvent.objects.order_by("id").values_list("action", "source")) == [
        ("token_created", "cli"), ("token_revoked", "admin"),
    ]  # fmt: skip


def test_a_staff_member_may_create_tokens_only_for_themselves(operator):
    staff = make_user("sam", "view_console", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="add_apitoken"))
    client = Client()
    client.force_login(staff)
    response = client.post(
        "/admin/api/apitoken/add/", {"user": operator.pk, "name": "x", "scopes": ["read"]}
    )
    assert response.status_code == 200 and not ApiToken.objects.exists()
    assert "Select a valid choice" in response.content.decode()
