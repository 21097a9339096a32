"""GET /api/v1/metrics: Prometheus text, read fresh from Redis on every scrape."""

import pytest

from tests.support.records import make_dead, register_worker
from tests.support.scrape import samples
from tests.support.tasks import echo
from tests.support.web import Api

pytestmark = pytest.mark.django_db


def test_metrics_report_depth_counters_and_workers(reader, broker):
    make_dead(broker, echo.enqueue(1).id)
    echo.enqueue(2)
    register_worker(broker, "w-1")
    register_worker(broker, "w-2", silent_for_s=120)
    got = samples(reader.get("metrics"))
    q = ("queue", "default")
    assert got[("taskqueue_queue_tasks", (q, ("status", "dead")))] == 1
    assert got[("taskqueue_queue_tasks", (q, ("status", "pending")))] == 1
    assert got[("taskqueue_tasks_enqueued_total", (q,))] == 2
    assert got[("taskqueue_tasks_dead_total", (q,))] == 1
    assert got[("taskqueue_tasks_failed_total", (q,))] == 1
    assert got[("taskqueue_workers", (("state", "live"),))] == 1
    assert got[("taskqueue_workers", (("state", "lost"),))] == 1


def test_runtime_histograms_come_from_what_the_workers_recorded(reader, broker):
    key = broker.keys.queue("default").runtime
    recorded = {"b0": 3, "b7": 1, "sum_ms": 1015, "count": 4}
    broker.client.hset(key, mapping={f"tests.api.echo|{k}": v for k, v in recorded.items()})
    got = samples(reader.get("metrics"))
    labels = (("le", "0.005"), ("queue", "default"), ("task", "tests.api.echo"))
    assert got[("taskqueue_task_runtime_seconds_bucket", labels)] == 3
    inf = (("le", "+Inf"), ("queue", "default"), ("task", "tests.api.echo"))
    assert got[("taskqueue_task_runtime_seconds_bucket", inf)] == 4
    both = (("queue", "default"), ("task", "tests.api.echo"))
    assert got[("taskqueue_task_runtime_seconds_count", both)] == 4
    assert got[("taskqueue_task_runtime_seconds_sum", both)] == pytest.approx(1.015)


def test_metrics_need_a_read_token():
    assert Api().get("metrics").status_code == 401


def test_a_configured_network_may_scrape_without_a_token(settings):
    settings.TASKQUEUE_API = {"METRICS_PUBLIC_NETWORKS": ["127.0.0.0/8"]}
    assert Api().get("metrics").status_code == 200
    settings.TASKQUEUE_API = {"METRICS_PUBLIC_NETWORKS": ["10.0.0.0/8"]}
    assert Api().get("metrics").status_code == 401


def test_metrics_say_503_when_redis_does_not_answer(reader, unreachable_redis):
    assert reader.get("metrics").status_code == 503
