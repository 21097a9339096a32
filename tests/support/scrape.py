"""A scrape of /api/v1/metrics on a live-ish setup, for the tests of what reads the
metrics (the Grafana dashboard, the alerting rules): tasks ran on an in-process worker
(completed, failed, dead-lettered), a tenant's task waits, a live worker is registered."""

from prometheus_client.parser import text_string_to_metric_families

from taskqueue import task
from tests.support import tasks
from tests.support.promql import exported
from tests.support.records import register_worker
from tests.support.web import Api, make_token, make_user
from tests.support.workers import run_burst


def samples(response) -> dict[tuple, float]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


@task(name="tests.scrape.broken", max_retries=0)
def broken():
    raise ValueError("broken on purpose")


def scrape_after_tasks(broker) -> dict[str, list[dict[str, str]]]:
    """Sample name -> label sets (promql.exported) of /metrics after tasks ran."""
    for n in range(3):
        tasks.echo.enqueue(n)
    broken.enqueue()
    run_burst()
    tasks.echo.using(tenant="acme").enqueue("later")
    register_worker(broker, "w-1")
    reader = Api(make_token(make_user("scraper", "view_console"), ("read",)))
    response = reader.get("metrics")
    assert response.status_code == 200
    return exported(response.content.decode())
