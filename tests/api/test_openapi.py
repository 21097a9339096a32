"""GET /api/v1/openapi.json, and the API's conformance to it (schemathesis, in-process
against the WSGI app): for generated valid and invalid requests, no server error, and
every status code, content type and body as documented."""

import contextlib

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import urls
from api.openapi import document
from config.wsgi import application
from tests.support.records import make_dead, register_worker
from tests.support.tasks import echo
from tests.support.web import Api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
schema.config.generation.update(
    modes=list(schemathesis.GenerationMode), max_examples=15, deterministic=True
)


def test_the_document_is_served_without_authentication():
    response = Api().get("openapi.json")
    assert response.status_code == 200
    assert response.json() == document() and document()["openapi"] == "3.1.0"


def documented_routes() -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document()["paths"].items() for method in item}


def served_routes() -> set[tuple[str, str]]:
    out = set()
    for pattern in urls.urlpatterns:
        handlers = getattr(pattern.callback, "handlers", None)
        if handlers is None:
            continue  # the catch-all 404
        path = "/" + str(pattern.pattern).replace("<str:", "{").replace(">", "}")
        out |= {(path, method) for method in handlers}
    return out


def test_every_served_route_is_documented_and_nothing_else():
    assert served_routes() == documented_routes()


def test_scopes_in_the_document_match_the_views():
    for pattern in urls.urlpatterns:
        for method, handler in getattr(pattern.callback, "handlers", {}).items():
            path = "/" + str(pattern.pattern).replace("<str:", "{").replace(">", "}")
            operation = document()["paths"][path][method.lower()]
            if handler.scope is None:
                assert operation["security"] == [], path
            else:
                assert operation["description"].startswith(f"Needs the `{handler.scope}`"), path


@pytest.fixture
def seeded(api, broker):
    """A healthy deployment (a live worker: no 5xx is ever right) with tasks to find."""
    register_worker(broker, "w-1")
    make_dead(broker, echo.enqueue(1).id)
    echo.enqueue(2)
    with database_connection_kept_open():
        yield api


@contextlib.contextmanager
def database_connection_kept_open():
    """The WSGI app is called directly here, not through Django's test client, so its
    request signals would close the database connection that holds the test's
    transaction (SQLite in memory ignores that; PostgreSQL does not). Do what the test
    client does: leave the connection alone for the test's length."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
          deadline=None)  # fmt: skip
def test_the_api_conforms_to_its_document(case, seeded):
    token = seeded.client.defaults["HTTP_AUTHORIZATION"]
    case.call_and_validate(headers={"Authorization": token}, checks=CHECKS)
