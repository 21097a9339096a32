"""Health and Redis at a glance (docs/console.md#health-at-a-glance): each warning of
the overview (and of a queue's page) appears when its condition holds and not
otherwise; the Redis panel shows the server's settings and warns about those that risk
losing tasks; viewers see the warnings, operators the panel, anonymous users nothing.
The live fragments ("health", "queue-health", "redis") render what the pages do."""

import os
import re

import pytest
from django.contrib.auth.models import Group
from django.core.checks import run_checks
from django.test import Client

from dashboard import fragments
from taskqueue import client as tq_client
from taskqueue import inspect
from taskqueue.embedded_redis import RedisProcess, free_port
from tests.factories import make_task
from tests.support.records import register_worker
from tests.support.tasks import add, send
from tests.support.web import logged_in, make_user

pytestmark = pytest.mark.django_db

UNSERVED = "has pending tasks and no live worker serves it"
NO_WORKER = "No live worker:"
WAITED = "The oldest pending task of"
LATE = "is late: its last heartbeat was"
LOST = "lost (silent for more than"


@pytest.fixture
def viewer(db) -> Client:
    return logged_in(make_user("vera", "view_console"))


@pytest.fixture
def operator(db) -> Client:
    return logged_in(make_user("otto", "view_console", "operate_tasks"))


def health(html: str, queue: str | None = None) -> str:
    """The health block of a page (the overview's, or a queue page's)."""
    start = html.index(f'id="health-{queue}"' if queue else 'id="health"')
    return html[start : html.index("</section>", start)]


def overview_health(client: Client) -> str:
    return health(client.get("/").content.decode())


def enqueue_waiting(broker, queue: str = "default", *, waited_s: float) -> None:
    """A pending task that became ready `waited_s` ago (on Redis's clock)."""
    broker.enqueue([make_task(queue)], now=broker.time_ms() - int(waited_s * 1000))


# -- a queue no live worker serves --------------------------------------------------


def test_a_queue_with_pending_tasks_that_no_live_worker_serves_is_warned_about(viewer, broker):
    register_worker(broker, "w-1", queues="default")
    send.enqueue("a@example.com")
    block = overview_health(viewer)
    assert f'Queue <a href="/queues/emails/">emails</a> {UNSERVED}' in block
    assert "runworker --queues emails" in block


def test_a_served_queue_is_not_warned_about(viewer, broker):
    register_worker(broker, "w-1", queues="default,emails")
    send.enqueue("a@example.com")
    add.enqueue(1, 2)
    assert UNSERVED not in overview_health(viewer)


def test_a_queue_served_only_by_a_lost_worker_is_unserved(viewer, broker):
    register_worker(broker, "w-1", queues="default")
    register_worker(broker, "w-2", queues="emails", silent_for_s=120)
    send.enqueue("a@example.com")
    assert f"emails</a> {UNSERVED}" in overview_health(viewer)


def test_the_queue_page_warns_about_its_own_queue_only(viewer, broker):
    register_worker(broker, "w-1", queues="default")
    send.enqueue("a@example.com")
    add.enqueue(1, 2)
    assert UNSERVED in health(viewer.get("/queues/emails/").content.decode(), "emails")
    assert UNSERVED not in health(viewer.get("/queues/default/").content.decode(), "default")


# -- a backlog and no live worker at all ------------------------------------------------


def test_a_backlog_with_no_live_worker_at_all_gets_one_warning(viewer, broker):
    add.enqueue(1, 2)
    send.enqueue("a@example.com")
    block = overview_health(viewer)
    assert NO_WORKER in block
    assert "2 pending tasks in " in block
    assert 'href="/queues/default/">default</a>' in block
    assert UNSERVED not in block  # not once more per queue


def test_no_worker_is_not_a_warning_without_a_backlog(viewer, broker):
    assert NO_WORKER not in overview_health(viewer)


def test_a_backlog_with_a_live_worker_gets_no_no_worker_warning(viewer, broker):
    register_worker(broker, "w-1", queues="default")
    add.enqueue(1, 2)
    assert NO_WORKER not in overview_health(viewer)


# -- the oldest pending task ----------------------------------------------------------


def test_a_queue_whose_oldest_pending_task_waited_too_long_is_warned_about(viewer, broker):
    register_worker(broker, "w-1", queues="default")
    enqueue_waiting(broker, waited_s=600)
    block = overview_health(viewer)
    assert f'{WAITED} <a href="/queues/default/">default</a> has waited 10 min' in block
    assert "more than 5 min" in block  # the default threshold, 300 s


def test_a_pending_task_younger_than_the_threshold_is_no_warning(viewer, broker):
    register_worker(broker, "w-1", queues="default")
    enqueue_waiting(broker, waited_s=60)
    assert WAITED not in overview_health(viewer)


def test_the_threshold_is_the_console_health_setting(viewer, broker, settings):
    register_worker(broker, "w-1", queues="default")
    enqueue_waiting(broker, waited_s=60)
    settings.CONSOLE_HEALTH = {"OLDEST_PENDING_SECONDS": 30}
    assert "has waited 1 min, more than 30 s" in overview_health(viewer)
    settings.CONSOLE_HEALTH = {"OLDEST_PENDING_SECONDS": None}
    assert WAITED not in overview_health(viewer)


def test_a_paused_queue_says_so_in_its_waiting_warning(viewer, broker):
    register_worker(broker, "w-1", queues="default")
    enqueue_waiting(broker, waited_s=600)
    broker.set_paused("default", True)
    block = health(viewer.get("/queues/default/").content.decode(), "default")
    assert WAITED in block and "(the queue is paused)" in block


@pytest.mark.parametrize("value", [0, -5, "300", True, float("inf"), float("nan")], ids=repr)
def test_a_malformed_threshold_is_a_system_check_error(settings, value):
    settings.CONSOLE_HEALTH = {"OLDEST_PENDING_SECONDS": value}
    ids = [e.id for e in run_checks(tags=["dashboard"])]
    assert "dashboard.E002" in ids


def test_an_unknown_console_health_key_is_a_system_check_error(settings):
    settings.CONSOLE_HEALTH = {"OLDEST_PENDING": 60}
    assert "dashboard.E002" in [e.id for e in run_checks(tags=["dashboard"])]


def test_a_well_formed_console_health_passes_the_checks(settings):
    settings.CONSOLE_HEALTH = {"OLDEST_PENDING_SECONDS": 90.5}
    assert "dashboard.E002" not in [e.id for e in run_checks(tags=["dashboard"])]


# -- workers whose heartbeat is late --------------------------------------------------


def test_a_worker_that_missed_two_heartbeats_is_late(viewer, broker):
    register_worker(broker, "w-1", silent_for_s=30, name="slow@web-1")
    block = overview_health(viewer)
    assert f"Worker <code>slow@web-1</code> {LATE} 30 s ago" in block
    assert "workers beat every 10 s" in block  # LEASE_SECONDS 30 / 3


def test_a_worker_that_beat_recently_is_not_late(viewer, broker):
    register_worker(broker, "w-1", silent_for_s=5)
    assert LATE not in overview_health(viewer)


def test_lost_workers_are_counted_in_one_warning_not_called_late(viewer, broker):
    register_worker(broker, "w-1", silent_for_s=120)
    register_worker(broker, "w-2", silent_for_s=300)
    block = overview_health(viewer)
    assert f"2 workers {LOST} 1 min)" in block
    assert LATE not in block


def test_the_queue_page_names_the_late_workers_that_serve_it(viewer, broker):
    register_worker(broker, "w-1", silent_for_s=30, queues="default", name="a@web-1")
    register_worker(broker, "w-2", silent_for_s=30, queues="emails", name="b@web-1")
    block = health(viewer.get("/queues/default/").content.decode(), "default")
    assert "a@web-1" in block
    assert "b@web-1" not in block


# -- live, and who sees what ------------------------------------------------------------


def test_the_live_health_fragment_renders_the_overview_warnings(broker):
    register_worker(broker, "w-1", queues="default")
    send.enqueue("a@example.com")
    html = fragments.render_fragment("health", "all", can_operate=False)
    assert 'id="health"' in html and 'hx-swap-oob="true"' in html
    assert f"emails</a> {UNSERVED}" in html


def test_the_live_queue_health_fragment_renders_that_queues_warnings(broker):
    enqueue_waiting(broker, waited_s=600)
    html = fragments.render_fragment("queue-health", "default", can_operate=False)
    assert 'id="health-default"' in html and WAITED in html and NO_WORKER in html


def test_the_health_block_is_on_the_page_even_when_all_is_well(viewer, broker):
    html = viewer.get("/").content.decode()
    assert 'data-live="health:all"' in html  # a warning can appear live
    assert "health-alerts" not in health(html)


def test_a_user_limited_to_queues_is_warned_about_those_queues_only(settings, tq_settings):
    settings.TASKQUEUE = tq_settings | {"QUEUE_ACCESS": {"mail": ["emails"]}}
    broker = tq_client.get_broker()
    user = make_user("mia", "view_console")
    user.groups.add(Group.objects.create(name="mail"))
    register_worker(broker, "w-1", queues="emails")
    enqueue_waiting(broker, "default", waited_s=600)
    block = overview_health(logged_in(user))
    assert "default" not in block


def test_anonymous_users_get_the_login_page_not_the_warnings(broker):
    send.enqueue("a@example.com")
    response = Client().get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# -- Redis at a glance ------------------------------------------------------------------


@pytest.fixture(scope="module")
def safe_redis(tmp_path_factory):
    """A private Redis of this module, set as a deployment should be (AOF, noeviction);
    each test changes its settings as it needs (see `own_redis`)."""
    server = RedisProcess(tmp_path_factory.mktemp("safe-redis"), port=free_port())
    with server:
        yield server


@pytest.fixture
def own_redis(safe_redis, settings, tq_settings):
    """The console reads `safe_redis`, its settings as started; put back afterwards."""
    raw = tq_client.connect(safe_redis.url)
    raw.config_set("maxmemory-policy", "noeviction")
    raw.config_set("maxmemory", 0)
    settings.TASKQUEUE = tq_settings | {"REDIS_URL": safe_redis.url}
    yield raw
    for name, value in (("maxmemory-policy", "noeviction"), ("maxmemory", 0),
                        ("appendonly", "yes"), ("save", "")):  # fmt: skip
        raw.config_set(name, value)
    raw.close()


def panel(client: Client) -> str:
    html = client.get("/").content.decode()
    start = html.index('id="redis"')
    return html[start : html.index("</section>", start)]


def test_operators_see_the_redis_panel_of_a_safe_redis_without_warnings(operator, own_redis):
    block = panel(operator)
    assert "<h2" in block and "Redis</h2>" in block
    assert re.search(r'class="redis-policy">noeviction<', block)
    assert "AOF on (appendfsync everysec)" in block and "RDB no save points" in block
    assert "no limit (maxmemory 0)" in block
    assert re.search(r'class="redis-clients">\d+<', block)
    assert re.search(r'class="redis-ops">\d+<', block)
    assert "redis-warnings" not in block


def test_an_eviction_policy_other_than_noeviction_is_warned_about(operator, own_redis):
    own_redis.config_set("maxmemory-policy", "allkeys-lru")
    block = panel(operator)
    assert "maxmemory-policy is allkeys-lru" in block
    assert "an evicted task record is a lost task" in block


def test_no_aof_and_no_save_points_is_warned_about(operator, own_redis):
    own_redis.config_set("appendonly", "no")
    block = panel(operator)
    assert "AOF off" in block
    assert "persistence is off (appendonly no and no save points)" in block


def test_rdb_save_points_without_aof_are_persistence_enough(operator, own_redis):
    own_redis.config_set("appendonly", "no")
    own_redis.config_set("save", "3600 1")
    block = panel(operator)
    assert "RDB save 3600 1" in block
    assert "persistence is off" not in block


def test_memory_near_maxmemory_is_warned_about(operator, own_redis):
    used = own_redis.info("memory")["used_memory"]
    own_redis.config_set("maxmemory", int(used / 0.95))
    block = panel(operator)
    assert "of maxmemory: when it is full, enqueues fail" in block
    assert "<meter" in block


def test_memory_well_under_maxmemory_is_no_warning(operator, own_redis):
    own_redis.config_set("maxmemory", 1024**3)
    block = panel(operator)
    assert "1.0\xa0GB" in block
    assert "of maxmemory: when it is full" not in block


def test_viewers_do_not_get_the_redis_panel(viewer, own_redis):
    assert 'id="redis"' not in viewer.get("/").content.decode()


def test_the_live_redis_fragment_is_empty_for_a_viewer(own_redis):
    own_redis.config_set("maxmemory-policy", "allkeys-lru")
    assert "allkeys-lru" not in fragments.render_fragment("redis", "all", can_operate=False)
    assert "allkeys-lru" in fragments.render_fragment("redis", "all", can_operate=True)


def test_a_redis_that_cannot_be_read_is_said_so(operator, settings, tq_settings):
    settings.TASKQUEUE = tq_settings | {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                                        "SOCKET_TIMEOUT": 0.5}  # fmt: skip
    html = fragments.render_fragment("redis", "all", can_operate=True)
    assert "Could not read Redis's status: Redis is unavailable" in html


def test_the_panel_reads_the_one_redis_or_every_primary_of_a_cluster(operator, broker):
    names = [node.status.name for node in inspect.redis_server()]
    if os.environ.get("TASKQUEUE_TEST_REDIS") == "cluster":
        assert len(names) == 3 and all(re.fullmatch(r"[\d.]+:\d+", n) for n in names)
        assert panel(operator).count('class="redis-node"') == 3
    else:
        assert names == [None]
        assert panel(operator).count('class="redis-node"') == 1


def test_past_ten_late_workers_the_rest_are_counted_not_named(viewer, broker):
    for n in range(12):
        register_worker(broker, f"w-{n}", silent_for_s=30 + n)
    block = overview_health(viewer)
    assert block.count(LATE) == 10
    assert "And 2 more late workers:" in block


def test_the_latest_workers_are_the_ones_named(viewer, broker):
    for n in range(12):
        register_worker(broker, f"w-{n}", silent_for_s=25 + 2 * n, name=f"n{n}@web")
    block = overview_health(viewer)
    assert "n11@web" in block and "n2@web" in block
    assert "n1@web" not in block and "n0@web" not in block


def test_an_operator_limited_to_queues_does_not_get_the_redis_panel(settings, tq_settings):
    settings.TASKQUEUE = tq_settings | {"QUEUE_ACCESS": {"mail": ["emails"]}}
    user = make_user("olga", "view_console", "operate_tasks")
    user.groups.add(Group.objects.create(name="mail"))
    html = logged_in(user).get("/").content.decode()
    assert 'id="health"' in html
    assert 'id="redis"' not in html
