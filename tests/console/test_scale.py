"""A page with 100,000 pending tasks costs Redis no more commands than one with 10:
counts are O(1) and lists read one page (no KEYS, no SCAN)."""

import pytest

from taskqueue.priority import band_of, level_of
from taskqueue.records import NewTask

pytestmark = pytest.mark.django_db


def fill(broker, count: int, start: int = 0) -> None:
    band = band_of(level_of(5))
    for first in range(start, start + count, 1000):
        batch = [
            NewTask(f"bulk-{i}", "console.sample", "default", "[]", "{}", 5, band, 3, None)
            for i in range(first, min(first + 1000, start + count))
        ]
        broker.enqueue(batch)


def commands(redis_client) -> dict[str, int]:
    stats = redis_client.info("commandstats")
    return {name: entry["calls"] for name, entry in stats.items()}


def cost(client, redis_client, url: str) -> dict[str, int]:
    """Redis commands (by name) that one GET of `url` issued (the INFO call excluded).
    A first GET warms up (loads the Lua scripts), the second is measured."""
    client.get(url)
    before = commands(redis_client)
    assert client.get(url).status_code == 200
    after = commands(redis_client)
    spent = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    spent["cmdstat_info"] -= 1
    return {k: v for k, v in spent.items() if v}


@pytest.fixture
def purged_after(broker):
    yield
    broker.purge_pending("default", batch=5000)  # faster than deleting key by key


PAGES = ["/", "/queues/default/", "/queues/default/?status=pending", "/tasks/", "/scheduled/"]


@pytest.mark.slow
@pytest.mark.usefixtures("purged_after")
def test_pages_cost_the_same_with_a_page_of_tasks_or_100000(viewer_client, broker, redis_client):
    fill(broker, 60)  # more than one page (50) of the lists
    small = {url: cost(viewer_client, redis_client, url) for url in PAGES}
    fill(broker, 99_940, start=60)
    assert broker.counts("default").pending == 100_000
    big = {url: cost(viewer_client, redis_client, url) for url in PAGES}
    for url in PAGES:
        assert big[url] == small[url], (url, big[url], small[url])
    assert not any("keys" in name or "scan" in name for c in big.values() for name in c)


def test_the_overview_costs_the_same_with_10_or_1000_pending(viewer_client, broker, redis_client):
    fill(broker, 10)
    small = cost(viewer_client, redis_client, "/")
    fill(broker, 990, start=10)
    assert cost(viewer_client, redis_client, "/") == small
