"""deploy/grafana/taskqueue.json: the Grafana dashboard over /api/v1/metrics. Every
metric it queries is exported, and every selector finds a series once tasks have run
(no dead panels); the JSON is what deploy/grafana/build_dashboard.py writes."""

import importlib.util
import json
import os
import shutil
import subprocess
from html import escape
from pathlib import Path

import pytest

from tests.console.browsers import launched_chromium
from tests.support.promql import exported, label_values_metric, selectors
from tests.support.scrape import scrape_after_tasks

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy/grafana/taskqueue.json"


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def expressions() -> list[str]:
    return [t["expr"] for p in panels() for t in p["targets"]]


def variable_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"]


@pytest.fixture
def scraped(broker) -> dict[str, list[dict[str, str]]]:
    return scrape_after_tasks(broker)


def test_the_dashboard_is_what_the_builder_writes():
    spec = importlib.util.spec_from_file_location(
        "build", ROOT / "deploy/grafana/build_dashboard.py"
    )
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert DASHBOARD.read_text(encoding="utf-8") == builder.render()


def test_every_panel_has_a_unique_id_a_query_and_a_place_on_the_grid():
    board = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels():
        assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24, p["title"]


def test_the_dashboard_draws_what_the_issue_asks_for():
    titles = {p["title"] for p in panels()}
    wanted = {"Completed per second", "Failures per second", "Queue depth",
              "Wait time (ready to start)", "Runtime p95 by task", "Workers alive",
              "Leases lost per second", "Dead-letter queue", "Tasks held by limits",
              "Throttled limits", "Largest tenant backlogs", "Workers by state"}  # fmt: skip
    assert wanted <= titles


def test_every_metric_the_dashboard_queries_is_exported(scraped):
    queried = {s.metric for expr in expressions() for s in selectors(expr)}
    queried |= {s.metric for q in variable_queries() for s in selectors(label_values_metric(q))}
    assert queried, "no selector found: the scanner is broken"
    assert all(name.startswith("taskqueue_") for name in queried), queried
    assert queried - set(scraped) == set()


def test_every_selector_of_the_dashboard_finds_a_series(scraped):
    """No dead panels: each selector matches a sample of the scrape. A panel that may
    rightly be empty (damaged keys: none in a healthy Redis) says `or vector(0)`."""
    dead = []
    for expr in expressions():
        if "or vector(0)" in expr:
            continue
        for s in selectors(expr):
            if not any(s.matches(labels) for labels in scraped.get(s.metric, [])):
                dead.append((s, expr))
    assert dead == []


def test_the_template_variables_find_the_queue_and_the_tasks(scraped):
    queues = {labels["queue"] for labels in scraped["taskqueue_queue_tasks"]}
    assert "default" in queues
    runtimes = scraped["taskqueue_task_runtime_seconds_count"]
    assert {"tests.api.echo", "tests.scrape.broken"} <= {labels["task"] for labels in runtimes}


def test_the_wait_percentiles_come_from_the_tasks_that_started(scraped):
    started = scraped["taskqueue_queue_started_recent"]
    assert started == [{"queue": "default"}]
    quantiles = {labels["quantile"] for labels in scraped["taskqueue_queue_wait_seconds"]}
    assert quantiles == {"0.5", "0.95", "0.99"}


def test_the_check_finds_a_misspelt_metric_and_a_label_value_with_no_series():
    scrape = exported(
        "# TYPE taskqueue_tasks_completed counter\n"
        'taskqueue_tasks_completed_total{queue="default"} 3.0\n'
    )
    (misspelt,) = selectors('rate(taskqueue_tasks_complete_total{queue=~"$queue"}[5m])')
    assert misspelt.metric not in scrape
    (other_queue,) = selectors('sum by (queue) (taskqueue_tasks_completed_total{queue="emails"})')
    assert not any(other_queue.matches(labels) for labels in scrape[other_queue.metric])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_every_dashboard_expression_is_valid_promql(tmp_path):
    """promtool parses each expression (Grafana's variables replaced) as a recording rule."""
    from tests.support.promql import expand

    rules = [
        {"record": f"taskqueue:dashboard_{i}", "expr": expand(e)}
        for i, e in enumerate(expressions())
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    check = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


STYLE = """body{font:13px system-ui,sans-serif;margin:16px;background:#111217;color:#ccccdc}
h1{font-size:18px;margin:0 0 4px}p{margin:0 0 12px;color:#8e8e9e}
.grid{position:relative}.row{position:absolute;font-weight:600;font-size:14px;color:#fff}
.panel{position:absolute;box-sizing:border-box;border:1px solid #2c2e36;border-radius:3px;
background:#181b1f;padding:6px 8px;overflow:hidden}
.panel b{display:block;color:#fff;margin-bottom:2px}.panel i{color:#6e9fff;font-style:normal;
font-size:11px}.panel code{display:block;font-size:10.5px;color:#9fa7b3;margin-top:3px;
white-space:pre-wrap;word-break:break-all}"""
COLUMN_PX, ROW_PX = 52, 22  # a grid column's width, a grid unit's height


def panel_list(board: dict) -> str:
    """The dashboard's panels on Grafana's grid, as HTML: title, kind and queries."""
    boxes, bottom = [], 0
    for p in board["panels"]:
        g = p["gridPos"]
        left, top = g["x"] * COLUMN_PX, g["y"] * ROW_PX
        width, height = g["w"] * COLUMN_PX - 6, g["h"] * ROW_PX - 6
        bottom = max(bottom, top + height)
        if p["type"] == "row":
            boxes.append(
                f'<div class="row" style="left:0;top:{top + 2}px">{escape(p["title"])}</div>'
            )
            continue
        queries = "".join(f"<code>{escape(t['expr'])}</code>" for t in p["targets"])
        boxes.append(
            f'<div class="panel" style="left:{left}px;top:{top}px;width:{width}px;'
            f'height:{height}px"><b>{escape(p["title"])}</b><i>{p["type"]}</i>{queries}</div>'
        )
    count = sum(p["type"] != "row" for p in board["panels"])
    return (
        f"<!doctype html><style>{STYLE}</style><h1>Grafana dashboard “{board['title']}”</h1>"
        f"<p>{count} panels of deploy/grafana/taskqueue.json on their grid, with their "
        "queries; drawn by tests/test_grafana_dashboard.py</p>"
        f'<div class="grid" style="height:{bottom}px">{"".join(boxes)}</div>'
    )


def test_the_panel_list_renders_in_chromium_for_the_docs(tmp_path):
    """docs/observability.md's picture of the panel list; saved under docs/screenshots/
    with TASKQUEUE_SCREENSHOTS=docs."""
    board = json.loads(DASHBOARD.read_text())
    folder = (
        ROOT / "docs/screenshots" if os.environ.get("TASKQUEUE_SCREENSHOTS") == "docs" else tmp_path
    )
    browsers = launched_chromium()
    try:
        page = next(browsers).new_page(viewport={"width": 24 * COLUMN_PX + 40, "height": 600})
        page.set_content(panel_list(board))
        assert page.locator(".panel").count() == len(panels())
        page.screenshot(path=folder / "grafana-panels.png", full_page=True)
    finally:
        browsers.close()
    assert (folder / "grafana-panels.png").stat().st_size > 10_000
