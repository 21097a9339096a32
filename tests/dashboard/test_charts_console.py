"""The Charts page (docs/console.md#charts): throughput and failures per bucket, wait
p50/p95 per bucket and per queue, runtime p50/p95 per task, over 1 h / 24 h / 7 d, of
one queue or of every queue the user may see; its live element ("history-<range>" of a
queue, "history-all-<range>" of every queue) renders what the page does."""

import re

import pytest
from django.contrib.auth.models import Group

from dashboard import access, fragments
from dashboard.access import QueueScope
from dashboard.live.consumers import parse_item, visible_items
from taskqueue.broker import BucketCounts
from taskqueue.records import TaskError
from taskqueue.runtime import bucket_of
from tests.factories import LEASE, enqueue, fail, make_task
from tests.support.web import HTMX, logged_in, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(db):
    return logged_in(make_user("vera", "view_console"))


def run(broker, queue="default", *, n=1, waited_ms=200, failed=0, name="app.report"):
    """`n` tasks of `queue` that waited `waited_ms`, claimed and completed now (on
    Redis's clock), then `failed` that failed; and their runtimes flushed as a worker
    does."""
    now = broker.time_ms()
    enqueue(broker, *(make_task(queue, name=name) for _ in range(n + failed)), now=now - waited_ms)
    claimed = broker.claim(queue, "w1", n + failed, lease_ms=LEASE, now=now)
    done = [(c.id, c.attempt, "null") for c in claimed[:n]]
    if done:
        broker.complete(queue, done, now=now)
    for c in claimed[n:]:
        broker.fail(queue, c.id, c.attempt, retry_delay_ms=None, error=_error(), now=now)
    broker.record_runtimes(queue, {name: ran(0.2, n)}, now=now)


def _error():
    return TaskError("ValueError", "bad", "Traceback...")


def ran(seconds: float, times: int) -> BucketCounts:
    """What `times` attempts of `seconds` add to their task's runtime histogram."""
    one = BucketCounts.observation(bucket_of(seconds), int(seconds * 1000))
    return sum([one] * times, BucketCounts())


def section(html: str) -> str:
    start = html.index('<section id="history"')
    return html[start : html.index("</section>", start)]


def totals(html: str) -> tuple[int, int]:
    found = dict(re.findall(r'data-total="(\w+)">(\d+)<', html))
    return int(found["completed"]), int(found["failed"])


# -- the page -------------------------------------------------------------------------


@pytest.mark.parametrize(("span", "buckets"), [("1h", 60), ("24h", 24), ("7d", 168)])
def test_each_range_shows_throughput_failures_waits_and_runtimes(broker, viewer, span, buckets):
    run(broker, n=3, failed=1, waited_ms=200)
    response = viewer.get("/charts/", {"range": span})
    assert response.status_code == 200
    html = response.content.decode()
    part = section(html)
    assert f'data-range="{span}"' in part
    assert totals(part) == (3, 1)
    # one bar with data (the bucket under way), of `buckets` slots
    assert part.count("completed, 1 failed</title>") == 1
    width = 720 / buckets
    assert f'width="{round(max(1.0, width - 1), 2)}"' in part
    # waits: 4 tasks that waited 200 ms, in (100, 250] ms: p50 at 0.1 + 0.15 * 2/4 s
    waits = part[part.index('<table class="waits">') :]
    assert re.search(r'<a href="/queues/default/">default</a></td><td class="num">4</td>'
                     r'<td class="num">175 ms</td>', waits)  # fmt: skip
    # runtimes: 3 attempts of 0.2 s, in (0.1, 0.25]: p50 0.175, p95 0.2425 s
    runtimes = part[part.index('<table class="runtimes">') :]
    assert '<td>app.report</td><td>default</td><td class="num">3</td>' in runtimes
    assert '<td class="num">175 ms</td><td class="num">242 ms</td>' in runtimes
    # the range switch marks the range shown
    current = re.findall(r'<a class="tab active" href="\?range=(\w+)"', html)
    assert current == [span]


def test_an_empty_history_says_so(viewer):
    html = viewer.get("/charts/").content.decode()
    part = section(html)
    assert totals(part) == (0, 0)
    assert "no task started" in part
    assert "No attempt finished in the last 1 h" in part
    assert "<polyline" not in part and "<rect" not in part


@pytest.mark.parametrize("bad", ["", "1H", "30d", "<script>", "x" * 5000, "7d\x00"])
def test_a_range_that_is_not_offered_shows_the_last_hour(viewer, bad):
    response = viewer.get("/charts/", {"range": bad})
    assert response.status_code == 200
    assert 'data-range="1h"' in response.content.decode()


def test_one_queue_alone_and_every_queue_added_up(broker, viewer, settings):
    settings.TASKQUEUE = {**settings.TASKQUEUE, "QUEUES": ["default", "mail"]}
    run(broker, "default", n=2)
    run(broker, "mail", n=5)
    every = section(viewer.get("/charts/", {"range": "24h"}).content.decode())
    assert totals(every) == (7, 0)
    assert 'data-live="history-all-24h:all"' in every
    mail = section(viewer.get("/charts/", {"range": "24h", "queue": "mail"}).content.decode())
    assert totals(mail) == (5, 0)
    assert 'data-live="history-24h:mail"' in mail
    assert ">default</a>" not in mail and ">mail</a>" in mail


@pytest.mark.parametrize("queue", ["nope", "<b>x</b>", "a" * 500, "default\x00"])
def test_an_unknown_queue_is_not_found(viewer, queue):
    response = viewer.get("/charts/", {"queue": queue})
    assert response.status_code == 404
    assert "<b>x</b>" not in response.content.decode()


def test_task_names_are_escaped(broker, viewer):
    run(broker, name="<img src=x onerror=alert(1)>")
    html = viewer.get("/charts/").content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_an_htmx_request_gets_the_history_alone(viewer):
    html = viewer.get("/charts/", {"range": "7d"}, **HTMX).content.decode()
    assert html.lstrip().startswith('<section id="history"')
    assert "<nav" not in html


def test_the_navigation_links_the_charts(viewer):
    html = viewer.get("/").content.decode()
    assert '<a href="/charts/">Charts</a>' in html
    assert (
        '<a href="/charts/" aria-current="page">Charts</a>'
        in viewer.get("/charts/").content.decode()
    )


def test_anonymous_users_log_in_first_and_users_without_the_permission_get_403(client, db):
    response = client.get("/charts/")
    assert response.status_code == 302 and "/login" in response["Location"]
    nobody = logged_in(make_user("nobody"))
    assert nobody.get("/charts/").status_code == 403


def test_the_page_answers_get_only(viewer):
    assert viewer.post("/charts/").status_code == 405


# -- users limited to queues ----------------------------------------------------------


@pytest.fixture
def mailer(db, monkeypatch, settings):
    settings.TASKQUEUE = {**settings.TASKQUEUE, "QUEUES": ["default", "mail"]}
    monkeypatch.setattr(access, "queue_access", lambda: {"mailers": ["mail"]})
    user = make_user("mia", "view_console")
    user.groups.add(Group.objects.get_or_create(name="mailers")[0])
    return logged_in(user)


def test_a_user_limited_to_queues_sees_theirs_only(broker, mailer):
    run(broker, "default", n=2)
    run(broker, "mail", n=5)
    html = mailer.get("/charts/").content.decode()
    part = section(html)
    assert totals(part) == (5, 0)
    assert ">default</a>" not in part and "<option>default</option>" not in html
    assert mailer.get("/charts/", {"queue": "default"}).status_code == 404
    assert mailer.get("/charts/", {"queue": "mail"}).status_code == 200


def test_a_limited_user_may_watch_their_queues_chart_but_not_every_queues():
    items = {parse_item("history-1h:mail"), parse_item("history-all-1h:all")}
    assert visible_items(items, QueueScope(frozenset({"mail"}))) == {("history-1h", "mail")}


# -- the live element ----------------------------------------------------------------


@pytest.mark.parametrize("span", ["1h", "24h", "7d"])
def test_the_live_fragments_render_what_the_page_shows(broker, viewer, span):
    run(broker, n=2)
    page = section(viewer.get("/charts/", {"range": span, "queue": "default"}).content.decode())
    pushed = fragments.render_fragment(f"history-{span}", "default", can_operate=False)
    assert 'hx-swap-oob="true"' in pushed
    assert totals(pushed) == totals(page) == (2, 0)
    every = fragments.render_fragment(f"history-all-{span}", "all", can_operate=False)
    assert f'data-live="history-all-{span}:all"' in every and totals(every) == (2, 0)
    assert fragments.KINDS[f"history-{span}"].periodic


def test_a_live_fragment_follows_new_tasks(broker):
    before = fragments.render_fragment("history-1h", "default", can_operate=False)
    run(broker, n=4)
    after = fragments.render_fragment("history-1h", "default", can_operate=False)
    assert totals(before) == (0, 0) and totals(after) == (4, 0)


@pytest.mark.parametrize(
    ("entry", "item"),
    [
        ("history-24h:default", ("history-24h", "default")),
        ("history-all-7d:all", ("history-all-7d", "all")),
        ("history-all-7d:default", None),
        ("history-30d:default", None),
        ("history-1h:<b>", None),
    ],
)
def test_the_socket_accepts_the_charts_markers_only(entry, item):
    assert parse_item(entry) == item


def test_failures_count_in_the_bucket_they_happened(broker, viewer):
    now = broker.time_ms()
    enqueue(broker, make_task(), now=now)
    (c,) = broker.claim("default", "w1", 1, lease_ms=LEASE, now=now)
    fail(broker, c.id, c.attempt, delay=None, now=now)
    part = section(viewer.get("/charts/").content.decode())
    assert totals(part) == (0, 1)
    assert part.count("0 completed, 1 failed</title>") == 1


def test_the_runtime_table_lists_the_100_busiest_tasks(broker, viewer):
    counts = {f"app.t{i:03}": ran(0.01, 1 if i else 5) for i in range(103)}  # app.t000 most
    broker.record_runtimes("default", counts)
    part = section(viewer.get("/charts/").content.decode())
    rows = re.findall(r"<td>(app\.t\d+)</td>", part)
    assert len(rows) == 100 and rows[0] == "app.t000"
    assert "The 100 tasks with the most attempts are listed; 3 more ran." in part
