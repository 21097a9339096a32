"""The console's workflow pages: the list, one workflow's summary and graph, the list of
some of its tasks, the task page's section, the overview's tile; cancel and requeue
(permissions, CSRF, audit); big and deep graphs drawn bounded; user text escaped."""

import json
import re

import pytest
from django.test import Client

from dashboard import workflow_fragments
from dashboard.fragments import render_fragment
from dashboard.live.relay import Relay, Subscriber
from dashboard.workflow_fragments import Snapshots
from dashboard.workflow_graph import Member, draw, layers
from taskqueue import inspect
from taskqueue.models import AuditEvent
from taskqueue.records import TaskError
from taskqueue.workflows import chain, chord, group, workflow
from tests.support.tasks import sample
from tests.support.web import HTMX

pytestmark = pytest.mark.django_db

NAME = "console.sample"


def finish(broker, n: int = 1, queue: str = "default") -> list[str]:
    """Claim the next `n` tasks, complete them and apply the outbox, as a worker does."""
    claimed = broker.claim(queue, "w1", n)
    broker.complete(queue, [(c.id, c.attempt, json.dumps("ok")) for c in claimed])
    broker.advance([queue])
    return [c.id for c in claimed]


def kill(broker, n: int = 1, queue: str = "default") -> list[str]:
    """Claim the next `n` tasks and fail them without a retry: dead; the outbox applied."""
    claimed = broker.claim(queue, "w1", n)
    for c in claimed:
        broker.fail(queue, c.id, c.attempt, retry_delay_ms=None,
                    error=TaskError("ValueError", "boom", ""))  # fmt: skip
    broker.advance([queue])
    return [c.id for c in claimed]


def boxes(html: str) -> list[str]:
    """The opening tags of the graph's boxes."""
    return re.findall(r'<(?:a|g) [^>]*class="box [^"]*"[^>]*>', html)


def status_of_box(html: str, key: str) -> str:
    tag = next(t for t in boxes(html) if f'data-key="{key}"' in t)
    return re.search(r'data-status="([^"]+)"', tag)[1]


# -- who may see and act -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/workflows/", "/workflows/{id}/", "/workflows/{id}/tasks/"])
def test_an_anonymous_visitor_is_sent_to_log_in(client, broker, path):
    handle = chain(sample.s(1)).enqueue()
    response = client.get(path.format(id=handle.id))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("wid", ["nope", "a b", "x" * 65, "a}b", "{wf:1}", "..", "%00"])
def test_an_unknown_or_malformed_workflow_id_is_a_404(viewer_client, broker, wid):
    for suffix in ("", "tasks/"):
        assert viewer_client.get(f"/workflows/{wid}/{suffix}").status_code == 404


def test_a_viewer_sees_no_buttons_and_cannot_cancel(viewer_client, broker):
    handle = chain(sample.s(1), sample.s()).enqueue()
    kill(broker)
    page = viewer_client.get(f"/workflows/{handle.id}/").content.decode()
    assert "hx-post" not in page and "Cancel workflow" not in page
    assert viewer_client.post(f"/workflows/{handle.id}/cancel/", **HTMX).status_code == 403
    assert inspect.get_workflow(handle.id).status == "blocked"


def test_cancel_refuses_a_post_without_a_csrf_token(operator, broker):
    handle = chain(sample.s(1)).enqueue()
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(f"/workflows/{handle.id}/cancel/")
    assert response.status_code == 403 and b"CSRF" in response.content
    assert inspect.get_workflow(handle.id).status == "running"


# -- the list -------------------------------------------------------------------------


def test_the_list_shows_each_workflow_newest_first_with_its_progress(viewer_client, broker):
    first = chain(sample.s(1), sample.s()).enqueue(name="nightly")
    second = group(sample.s(i) for i in range(3)).enqueue(name="fan")
    finish(broker)
    page = viewer_client.get("/workflows/").content.decode()
    assert page.index(f'id="workflow-{second.id}"') < page.index(f'id="workflow-{first.id}"')
    row = page[page.index(f'id="workflow-{first.id}"') :].split("</tr>")[0]
    assert ">nightly</a>" in row and f'href="/workflows/{first.id}/"' in row
    assert "1/2</span>" in row and "status running" in row


def test_the_blocked_tab_lists_only_blocked_workflows(viewer_client, broker):
    stuck = chain(sample.s(1), sample.s()).enqueue(name="stuck")
    kill(broker)
    chain(sample.s(2)).enqueue(name="fine")
    page = viewer_client.get("/workflows/?status=blocked").content.decode()
    assert stuck.id in page and ">fine</a>" not in page
    row = page[page.index(f'id="workflow-{stuck.id}"') :].split("</tr>")[0]
    assert '<td class="num bad">1</td>' in row


def test_an_unknown_status_is_a_400_naming_the_allowed_ones(viewer_client, broker):
    response = viewer_client.get("/workflows/?status=lost")
    assert response.status_code == 400 and b"running, blocked, completed" in response.content


def test_the_list_pages_by_offset(viewer_client, broker):
    for i in range(51):
        chain(sample.s(i)).enqueue(name=f"wf{i}")
    first = viewer_client.get("/workflows/").content.decode()
    assert first.count('data-live="workflow-row:') == 50 and "?offset=50" in first
    second = viewer_client.get("/workflows/?offset=50").content.decode()
    assert second.count('data-live="workflow-row:') == 1 and ">wf0</a>" in second
    assert viewer_client.get("/workflows/?offset=-1").status_code == 400


# -- one workflow -----------------------------------------------------------------------


def test_the_page_shows_the_summary_and_each_task_as_a_box_linking_to_it(viewer_client, broker):
    handle = chord(group(sample.s(1), sample.s(2)), sample.s()).enqueue(name="report")
    finish(broker)
    page = viewer_client.get(f"/workflows/{handle.id}/").content.decode()
    assert "<h1>report</h1>" in page and "1 of 3 completed" in page
    assert [status_of_box(page, k) for k in "012"] == ["completed", "pending", "waiting"]
    for key, task in handle.tasks.items():
        assert f'<a href="/tasks/{task.id}/" class="box node s-' in page, key
    assert len(re.findall(r"<path d=", page)) == 2  # each parent to the callback


def test_the_page_answers_htmx_with_its_graph_alone(viewer_client, broker):
    handle = chain(sample.s(1)).enqueue()
    response = viewer_client.get(f"/workflows/{handle.id}/", **HTMX)
    assert b"<html" not in response.content
    assert f'id="workflow-graph-{handle.id}"'.encode() in response.content


def test_a_waiting_task_behind_a_dead_one_is_marked_blocked(viewer_client, broker):
    handle = workflow({"load": sample.s(1), "use": sample.s()}, [("load", "use")])
    kill(broker)
    page = viewer_client.get(f"/workflows/{handle.id}/").content.decode()
    assert status_of_box(page, "load") == "dead" and status_of_box(page, "use") == "waiting"
    assert 'class="box node s-waiting blocked"' in page
    assert "blocked by dead parent load" in page  # the box's title
    assert re.search(r"is blocked by dead parent\s*<code>load</code>", page)
    assert '<path d="M' in page and 'class="dead"' in page


def test_the_graph_fragment_follows_the_tasks(broker):
    handle = chain(sample.s(1), sample.s()).enqueue()
    html = render_fragment("workflow-graph", handle.id, can_operate=False)
    assert 'hx-swap-oob="true"' in html and status_of_box(html, "0") == "pending"
    finish(broker)
    workflow_fragments.SNAPSHOTS.forget(handle.id)
    html = render_fragment("workflow-graph", handle.id, can_operate=False)
    assert status_of_box(html, "0") == "completed" and status_of_box(html, "1") == "pending"


def test_the_relay_pushes_the_graph_as_tasks_complete_and_leaves_the_button(broker, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(workflow_fragments, "SNAPSHOTS", Snapshots(clock=lambda: now[0]))
    handle = chain(sample.s(1), sample.s()).enqueue()
    relay, messages = Relay(clock=lambda: now[0]), []
    sub = Subscriber(deliver=messages.append, can_operate=True)
    relay._subscribers.append(sub)  # registered without starting the thread
    relay.watch(sub, {("workflow-graph", handle.id), ("workflow-actions", handle.id)})
    relay.step()
    assert "Cancel workflow" in messages[-1] and status_of_box(messages[-1], "0") == "pending"
    finish(broker)
    now[0] += 1
    relay.step()
    assert status_of_box(messages[-1], "0") == "completed"
    assert "Cancel workflow" not in messages[-1]  # unchanged: not sent again


def test_a_fragment_of_a_workflow_that_is_gone_says_so(broker):
    for key in ("no-such-workflow", "not an id"):
        html = render_fragment("workflow-summary", key, can_operate=True)
        assert "no longer exists" in html
        assert "Cancel" not in render_fragment("workflow-actions", key, can_operate=True)


def test_a_500_member_group_is_drawn_as_a_summary_with_its_dead_apart(viewer_client, broker):
    handle = chord(group(sample.s(i) for i in range(500)), sample.si("done")).enqueue()
    kill(broker, 3)
    finish(broker, 300)
    page = viewer_client.get(f"/workflows/{handle.id}/").content.decode()
    drawn = boxes(page)
    assert len(drawn) == 1 + 3 + 1  # the summary, the 3 dead, the callback
    assert f"500 \u00d7 {NAME}" in page
    assert "197 pending · 300 completed · 3 dead" in page
    assert sum('data-status="dead"' in tag for tag in drawn) == 3
    summary = next(t for t in drawn if "box group" in t)
    assert f"/workflows/{handle.id}/tasks/?layer=0&amp;name={NAME}" in summary


def test_the_summary_links_to_the_list_of_those_tasks(viewer_client, broker):
    handle = group(sample.s(i) for i in range(20)).enqueue()
    kill(broker, 2)
    url = f"/workflows/{handle.id}/tasks/?layer=0&name={NAME}"
    page = viewer_client.get(url).content.decode()
    assert page.count('<tr class="status-') == 20 and "20 tasks" in page
    dead = viewer_client.get(url + "&status=dead").content.decode()
    assert dead.count('<tr class="status-dead">') == 2
    assert viewer_client.get(url + "&layer=x").status_code == 400


def test_a_1000_step_chain_is_drawn_folded(viewer_client, broker):
    handle = chain(*[sample.s(i) for i in range(1000)]).enqueue()
    page = viewer_client.get(f"/workflows/{handle.id}/").content.decode()
    assert len(boxes(page)) == 20 + 1 + 20
    assert "… 960 more steps …" in page
    assert f"/workflows/{handle.id}/tasks/?layer=20-979" in page


def test_the_layout_is_a_loop_however_deep_the_graph():
    chain_of = [Member(str(i), f"t{i}", "q", "n", "pending", (str(i - 1),) if i else (), ())
                for i in range(20_000)]  # fmt: skip
    drawing = draw("wf", chain_of)
    assert len(drawing.boxes) == 41 and drawing.folded_layers == 19_960


def test_a_node_is_placed_at_its_longest_path_from_a_root():
    def member(key, *parents):
        return Member(key, key, "q", "n", "pending", parents, ())

    rows = layers([member("a"), member("b", "a"), member("c", "b"), member("d", "a", "c")])
    assert [[m.key for m in row] for row in rows] == [["a"], ["b"], ["c"], ["d"]]


def test_a_cycle_written_into_redis_is_drawn_last_instead_of_hanging():
    def member(key, *parents):
        return Member(key, key, "q", "n", "waiting", parents, ())

    rows = layers([member("a"), member("b", "a", "c"), member("c", "b")])
    assert [[m.key for m in row] for row in rows] == [["a"], ["b", "c"]]


def test_a_snapshot_of_the_nodes_is_reused_briefly(monkeypatch):
    reads = []
    monkeypatch.setattr(inspect, "workflow_tasks", lambda wid: reads.append(wid) or [])
    now = [100.0]
    snapshots = Snapshots(clock=lambda: now[0])
    snapshots.get("w")
    now[0] += 0.1
    snapshots.get("w")
    assert len(reads) == 1
    now[0] += 0.2
    snapshots.get("w")
    snapshots.get("w", fresh=True)
    assert len(reads) == 3


# -- actions ----------------------------------------------------------------------------


def test_an_operator_cancels_a_workflow_and_it_is_audited(operator_client, broker):
    handle = chain(sample.s(1), sample.s(), sample.s()).enqueue(name="etl")
    finish(broker)
    response = operator_client.post(f"/workflows/{handle.id}/cancel/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Cancelled workflow etl: 2 tasks cancelled." in html
    assert f'id="workflow-graph-{handle.id}"' in html and "status cancelled" in html
    assert "Cancel workflow" not in html  # the button is gone with the running status
    assert inspect.get_workflow(handle.id).status == "cancelled"
    event = AuditEvent.objects.get()
    assert (event.actor, event.source, event.action) == ("otto", "console", "cancel_workflow")


def test_cancelling_a_completed_workflow_is_a_409_with_the_reason(operator_client, broker):
    handle = chain(sample.s(1)).enqueue()
    finish(broker)
    response = operator_client.post(f"/workflows/{handle.id}/cancel/", **HTMX)
    assert response.status_code == 409 and b"has completed" in response.content
    assert not AuditEvent.objects.exists()


def test_cancelling_an_unknown_workflow_is_a_404_message(operator_client, broker):
    response = operator_client.post("/workflows/no-such-one/cancel/", **HTMX)
    assert response.status_code == 404 and b"There is no workflow" in response.content


def test_a_plain_form_post_is_sent_back_to_the_page(operator_client, broker):
    handle = chain(sample.s(1)).enqueue()
    page = f"/workflows/{handle.id}/"
    response = operator_client.post(f"{page}cancel/", HTTP_REFERER=f"http://testserver{page}")
    assert response.status_code == 302 and response["Location"].endswith(page)


def test_an_operator_requeues_a_dead_task_and_the_workflow_runs_again(operator_client, broker):
    handle = chain(sample.s(1), sample.s()).enqueue()
    (dead,) = kill(broker)
    page = operator_client.get(f"/workflows/{handle.id}/").content.decode()
    assert f'<input type="hidden" name="task" value="{dead}">' in page
    response = operator_client.post(f"/workflows/{handle.id}/requeue/", {"task": dead}, **HTMX)
    assert response.status_code == 200 and b"it is pending again" in response.content
    assert inspect.get_task(dead).status == "pending"
    assert inspect.get_workflow(handle.id).status == "running"
    event = AuditEvent.objects.get()
    assert (event.action, event.task_id) == ("retry", dead)


def test_requeue_refuses_a_task_of_another_workflow_or_one_that_is_not_dead(
    operator_client, broker
):
    mine = chain(sample.s(1)).enqueue()
    other = chain(sample.s(2)).enqueue()
    url = f"/workflows/{mine.id}/requeue/"
    response = operator_client.post(url, {"task": other["0"].id}, **HTMX)
    assert response.status_code == 400 and b"not a task of this workflow" in response.content
    response = operator_client.post(url, {"task": mine["0"].id}, **HTMX)
    assert response.status_code == 409
    assert operator_client.post(url, {"task": "nope"}, **HTMX).status_code == 404
    assert not AuditEvent.objects.exists()


# -- the task page and the overview -----------------------------------------------------


def test_a_task_page_shows_its_workflow_and_what_it_waits_for(viewer_client, broker):
    handle = workflow({"a": sample.s(1), "b": sample.s(2), "c": sample.s()},
                      [("a", "c"), ("b", "c")], name="join")  # fmt: skip
    finish(broker)
    page = viewer_client.get(f"/tasks/{handle['c'].id}/").content.decode()
    assert "In a workflow" in page and f'<a href="/workflows/{handle.id}/">join</a>' in page
    waits = page[page.index('class="wf-waits"') :].split("</p>")[0]
    assert "<code>b</code>" in waits and "<code>a</code>" not in waits
    assert f'<a href="/tasks/{handle["a"].id}/"><code>a</code></a>' in page
    parent = viewer_client.get(f"/tasks/{handle['a'].id}/").content.decode()
    assert "None: it starts first." in parent and "<code>c</code>" in parent


def test_a_task_outside_any_workflow_has_no_section(viewer_client, broker):
    handle = sample.enqueue(1)
    assert "In a workflow" not in viewer_client.get(f"/tasks/{handle.id}/").content.decode()


def test_the_overview_counts_blocked_workflows(viewer_client, broker):
    page = viewer_client.get("/").content.decode()
    assert 'class="tile" href="/workflows/?status=blocked"' in page
    chain(sample.s(1), sample.s()).enqueue()
    kill(broker)
    page = viewer_client.get("/").content.decode()
    assert 'class="tile bad" href="/workflows/?status=blocked"' in page
    assert 'Workflows blocked: <span class="num">1</span>' in page


# -- escaping -----------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
QUOTED = 'say "hi" it\'s <b>'


def test_names_and_keys_are_escaped_everywhere(viewer_client, broker):
    handle = workflow({QUOTED: sample.s(1), "next": sample.s()}, [(QUOTED, "next")], name=SCRIPT)
    kill(broker)
    pages = [
        viewer_client.get(url).content.decode()
        for url in ("/workflows/", f"/workflows/{handle.id}/", f"/tasks/{handle['next'].id}/")
    ]
    pages += [render_fragment(kind, handle.id, can_operate=True)
              for kind in ("workflow-graph", "workflow-dead", "workflow-row")]  # fmt: skip
    for html in pages:
        assert SCRIPT not in html and QUOTED not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]
    assert 'data-key="say &quot;hi&quot; it&#x27;s &lt;b&gt;"' in pages[1]


def test_a_queue_page_lists_its_waiting_tasks_under_their_own_tab(viewer_client, broker):
    handle = chain(sample.s(1), sample.s()).enqueue()
    page = viewer_client.get("/queues/default/").content.decode()
    assert 'class="tab tab-waiting"' in page
    listing = viewer_client.get("/queues/default/?status=waiting").content.decode()
    assert handle["1"].id in listing and handle["0"].id not in listing
    overview = viewer_client.get("/").content.decode()
    assert "<dt>Waiting</dt>" in overview
