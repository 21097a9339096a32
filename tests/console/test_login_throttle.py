"""Login throttling on the console's /login/ and the admin's /admin/login/: failed
passwords counted per account and per client address; a locked login is refused, the
right password too, with a message; lockouts are audited; they expire, or an
administrator lifts them with `manage.py unlocklogin` (dashboard/logins.py)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from dashboard import logins
from taskqueue.models import AuditEvent

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
CONSOLE, ADMIN = "/login/", "/admin/login/"
LOCKED = "Too many failed logins"


@pytest.fixture
def ada(db) -> User:
    return User.objects.create_user("ada", password=PASSWORD, is_staff=True)


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob", password=PASSWORD, is_staff=True)


def attempt(url: str, username: str, password: str, address: str = "10.0.0.1"):
    """One login through the page's form, from `address`, in a fresh browser."""
    client = Client(REMOTE_ADDR=address)
    response = client.post(url, {"username": username, "password": password})
    response.logged_in = "_auth_user_id" in client.session
    return response


def fail(url: str, username: str, times: int, address: str = "10.0.0.1"):
    for _ in range(times):
        response = attempt(url, username, "wrong", address)
        assert not response.logged_in
    return response


def later(monkeypatch, seconds: float) -> None:
    moved = timezone.now() + timedelta(seconds=seconds)
    monkeypatch.setattr(logins, "now", lambda: moved)


@pytest.mark.parametrize("url", [CONSOLE, ADMIN])
def test_the_nth_wrong_password_locks_the_account_and_then_the_right_one_is_refused(ada, url):
    limit = logins.limits().per_account
    response = fail(url, "ada", limit - 1)
    assert LOCKED not in response.content.decode()  # just a wrong password so far
    response = fail(url, "ada", 1)
    assert LOCKED in response.content.decode()
    response = attempt(url, "ada", PASSWORD)
    assert not response.logged_in
    assert LOCKED in response.content.decode()
    assert "ask an administrator" in response.content.decode()


def test_a_lock_on_the_console_login_holds_on_the_admin_login_too(ada):
    fail(CONSOLE, "ada", logins.limits().per_account)
    assert not attempt(ADMIN, "ada", PASSWORD).logged_in


def test_another_account_from_the_same_address_is_unaffected(ada, bob):
    fail(CONSOLE, "ada", logins.limits().per_account)
    assert attempt(CONSOLE, "bob", PASSWORD).logged_in


def test_the_locked_account_from_another_address_is_still_refused(ada):
    fail(CONSOLE, "ada", logins.limits().per_account, address="10.0.0.1")
    assert not attempt(CONSOLE, "ada", PASSWORD, address="10.9.9.9").logged_in


def test_an_address_failing_across_many_accounts_is_locked_for_every_account(ada):
    for i in range(logins.limits().per_address):
        fail(CONSOLE, f"guess{i}", 1, address="10.6.6.6")
    response = attempt(CONSOLE, "ada", PASSWORD, address="10.6.6.6")
    assert not response.logged_in and LOCKED in response.content.decode()
    assert attempt(CONSOLE, "ada", PASSWORD, address="10.0.0.2").logged_in


def test_a_successful_login_forgets_the_accounts_earlier_failures(ada):
    limit = logins.limits().per_account
    fail(CONSOLE, "ada", limit - 1)
    assert attempt(CONSOLE, "ada", PASSWORD).logged_in
    fail(CONSOLE, "ada", limit - 1)
    assert attempt(CONSOLE, "ada", PASSWORD).logged_in


def test_failures_older_than_the_window_are_forgotten(ada, monkeypatch):
    limit = logins.limits().per_account
    fail(CONSOLE, "ada", limit - 1)
    later(monkeypatch, logins.limits().lockout_seconds + 1)
    fail(CONSOLE, "ada", 1)
    assert attempt(CONSOLE, "ada", PASSWORD).logged_in


def test_the_lock_expires_after_the_lockout_period(ada, monkeypatch):
    fail(CONSOLE, "ada", logins.limits().per_account)
    later(monkeypatch, logins.limits().lockout_seconds - 5)
    assert not attempt(CONSOLE, "ada", PASSWORD).logged_in
    later(monkeypatch, logins.limits().lockout_seconds + 1)
    assert attempt(CONSOLE, "ada", PASSWORD).logged_in


def test_each_lockout_is_audited_once_with_who_and_from_where(ada):
    fail(ADMIN, "ada", logins.limits().per_account + 3)  # 3 more after the lock
    attempt(ADMIN, "ada", PASSWORD)
    (event,) = AuditEvent.objects.filter(action="login_locked")
    assert (event.actor, event.source, event.ip) == ("ada", "admin", "10.0.0.1")
    assert event.detail["locked"] == "account"
    assert event.detail["failures"] == logins.limits().per_account
    assert event.detail["until"] > timezone.now().isoformat()


def test_an_address_lockout_is_audited_with_the_address(db):
    for i in range(logins.limits().per_address):
        fail(CONSOLE, f"guess{i}", 1, address="10.6.6.6")
    (event,) = AuditEvent.objects.filter(action="login_locked")
    assert (event.source, event.ip, event.detail["locked"]) == ("console", "10.6.6.6", "address")


def test_unlocklogin_lifts_an_account_lock_and_is_audited(ada, capsys):
    fail(CONSOLE, "ada", logins.limits().per_account)
    call_command("unlocklogin", "ada", "--user", "root")
    assert "Unlocked: account ada" in capsys.readouterr().out
    assert attempt(CONSOLE, "ada", PASSWORD).logged_in
    event = AuditEvent.objects.get(action="login_unlocked")
    assert (event.actor, event.source, event.count) == ("root", "cli", 1)
    assert event.detail == {"accounts": ["ada"], "addresses": []}


def test_unlocklogin_lifts_an_address_lock(ada):
    for i in range(logins.limits().per_address):
        fail(CONSOLE, f"guess{i}", 1, address="10.6.6.6")
    call_command("unlocklogin", "--address", "10.6.6.6")
    assert attempt(CONSOLE, "ada", PASSWORD, address="10.6.6.6").logged_in


def test_unlocklogin_lists_the_current_locks(ada, capsys):
    fail(CONSOLE, "ada", logins.limits().per_account)
    call_command("unlocklogin", "--list")
    out = capsys.readouterr().out
    assert "account ada" in out and "until" in out


def test_unlocklogin_of_an_account_that_is_not_locked_says_so_and_records_nothing(ada):
    with pytest.raises(CommandError, match="No login lock"):
        call_command("unlocklogin", "ada")
    assert not AuditEvent.objects.filter(action="login_unlocked").exists()


def test_the_limits_come_from_the_setting(settings, ada):
    settings.LOGIN_THROTTLE = {"ACCOUNT_FAILURES": 2, "LOCKOUT_SECONDS": 60}
    assert logins.limits() == logins.Limits(per_account=2, per_address=20, lockout_seconds=60)
    fail(CONSOLE, "ada", 2)
    assert not attempt(CONSOLE, "ada", PASSWORD).logged_in


@pytest.mark.parametrize(
    "value", [[], {"ACCOUNT_FAILURE": 3}, {"ACCOUNT_FAILURES": 0}, {"LOCKOUT_SECONDS": "15m"}]
)
def test_a_bad_setting_is_reported_and_the_defaults_apply(settings, value):
    from django.core import checks

    settings.LOGIN_THROTTLE = value
    assert "dashboard.E001" in [e.id for e in checks.run_checks(tags=["dashboard"])]
    assert logins.limits() == logins.Limits()


def test_an_auditor_finds_the_lockouts_in_the_admin(ada, admin_client):
    fail(CONSOLE, "ada", logins.limits().per_account)
    response = admin_client.get("/admin/taskqueue/auditevent/", {"action": "login_locked"})
    assert response.status_code == 200
    assert [e.actor for e in response.context["cl"].result_list] == ["ada"]
    assert "login locked out" in response.content.decode()
