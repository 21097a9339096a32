"""Users, API tokens and clients for the tests of the API and the console: a client
for /api/v1/ that speaks JSON with a bearer token, and a logged-in console client."""

import json

from django.contrib.auth.models import Permission, User
from django.test import Client

from api.tokens import create_token
from taskqueue.audit import Actor

ALL_SCOPES = ("read", "enqueue", "operate")
HTMX = {"HTTP_HX_REQUEST": "true"}  # the header htmx sends: the console answers a partial


class Api:
    """A test client for /api/v1/: JSON in, the response out (`.json()` to read it)."""

    def __init__(self, token: str | None = None, client: Client | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = client or Client(headers=headers)

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1/{path}", params)

    def post(self, path: str, body=None, *, headers=None, raw: bytes | str | None = None,
             content_type: str = "application/json"):  # fmt: skip
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(
            f"/api/v1/{path}", data, content_type=content_type, headers=headers or {}
        )

    def delete(self, path: str):
        return self.client.delete(f"/api/v1/{path}")


def make_user(username: str, *codenames: str, **extra) -> User:
    """A user without a password (no slow hashing; tests log in with force_login) who
    holds the taskqueue permissions named, every one of which must exist."""
    user = User.objects.create_user(username, password=None, **extra)
    perms = Permission.objects.filter(content_type__app_label="taskqueue", codename__in=codenames)
    assert len(perms) == len(set(codenames)), f"not all of {codenames} are permissions"
    user.user_permissions.add(*perms)
    return user


def make_token(user: User, scopes=ALL_SCOPES, name: str = "tests") -> str:
    return create_token(Actor("tests", "system"), user, name, scopes)[1]


def logged_in(user: User) -> Client:
    """A console client with `user`'s session."""
    client = Client()
    client.force_login(user)
    return client


def error_of(response) -> dict:
    """The `error` object of an API error response (and proof of the one shape)."""
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]
