"""GET /api/v1/health: Redis answers and a worker is alive. No authentication."""

import pytest

from tests.support.records import register_worker
from tests.support.web import Api

pytestmark = pytest.mark.django_db


def test_healthy_with_redis_and_a_live_worker(broker):
    register_worker(broker, "w-1")
    response = Api().get("health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "reasons": [],
        "workers": {"live": 1, "lost": 0},
        "unserved_queues": [],
    }


def test_unhealthy_without_a_live_worker(broker):
    register_worker(broker, "w-old", silent_for_s=600)
    response = Api().get("health")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["No live worker is registered (1 lost)."]


def test_unhealthy_when_redis_does_not_answer(unreachable_redis):
    response = Api().get("health")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["Redis is unavailable."]  # no hosts or paths
