"""Writes deploy/grafana/taskqueue.json, the Grafana dashboard over taskqueue's
Prometheus metrics (GET /api/v1/metrics; docs/observability.md#the-grafana-dashboard).

Edit the panels here, then run `.venv/bin/python deploy/grafana/build_dashboard.py`;
tests/test_grafana_dashboard.py checks that the JSON is what this script writes and
that every metric it queries is exported. Plain Python, no dependencies: the JSON is
the Grafana dashboard model (schemaVersion 39, Grafana 10 and later), with a
datasource variable so it imports into any Grafana with a Prometheus datasource.
"""

import json
from pathlib import Path

OUT = Path(__file__).with_name("taskqueue.json")
DS = {"type": "prometheus", "uid": "${datasource}"}
Q = 'queue=~"$queue"'  # every panel follows the queue selector
RATE = "$__rate_interval"
WIDTH = 24  # Grafana's grid


def target(expr: str, legend: str = "", ref: str = "A") -> dict:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}


def targets(*pairs: tuple[str, str]) -> list[dict]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def panel(kind: str, title: str, description: str, exprs, unit: str = "short", **extra):
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": exprs,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    } | extra


def stat(title, description, expr, unit="short", thresholds=None):
    p = panel("stat", title, description, [target(expr)], unit)
    if thresholds:
        steps = [{"color": "green", "value": None}]
        steps += [{"color": c, "value": v} for v, c in thresholds]
        p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": steps}
    return p


def series(title, description, pairs, unit="short", stacked=False):
    p = panel("timeseries", title, description, targets(*pairs), unit)
    custom = {"fillOpacity": 20 if stacked else 0, "showPoints": "never"}
    if stacked:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    p["fieldConfig"]["defaults"]["custom"] = custom
    return p


def rate(metric: str, by: str = "queue") -> str:
    return f"sum by ({by}) (rate({metric}{{{Q}}}[{RATE}]))"


def runtime_quantile(q: float) -> str:
    bucket = f'taskqueue_task_runtime_seconds_bucket{{{Q}, task=~"$task"}}'
    return f"histogram_quantile({q}, sum by (le, queue, task) (rate({bucket}[{RATE}])))"


OVERVIEW = [
    stat("Workers alive", "Workers whose heartbeat is recent.",
         'taskqueue_workers{state="live"}', thresholds=None),
    stat("Workers lost", "Registered workers silent for over a minute (crashed, or cut "
         "off from Redis): their tasks come back when the leases expire.",
         'taskqueue_workers{state="lost"}', thresholds=[(1, "red")]),
    stat("Pending", "Tasks ready to run, waiting for a worker.",
         f'sum(taskqueue_queue_tasks{{{Q}, status="pending"}})'),
    stat("Oldest pending", "Age of the longest-waiting pending task of the selected queues.",
         f"max(taskqueue_queue_oldest_pending_age_seconds{{{Q}}})", "s",
         thresholds=[(60, "orange"), (600, "red")]),
    stat("Dead letters", "Tasks in the dead-letter queues.",
         f'sum(taskqueue_queue_tasks{{{Q}, status="dead"}})', thresholds=[(1, "orange")]),
    stat("Paused queues", "Queues an operator paused.",
         f"sum(taskqueue_queue_paused{{{Q}}})", thresholds=[(1, "orange")]),
]  # fmt: skip

THROUGHPUT = [
    series("Completed per second", "Tasks completed, by queue.",
           [(rate("taskqueue_tasks_completed_total"), "{{queue}}")], "ops"),
    series("Enqueued per second", "Tasks created, by queue.",
           [(rate("taskqueue_tasks_enqueued_total"), "{{queue}}")], "ops"),
    series("Failures per second", "Failed attempts, those retried, and tasks dead-lettered, "
           "by queue.",
           [(rate("taskqueue_tasks_failed_total"), "failed {{queue}}"),
            (rate("taskqueue_tasks_retried_total"), "retried {{queue}}"),
            (rate("taskqueue_tasks_dead_total"), "dead {{queue}}")], "ops"),
    series("Failure ratio", "Failed attempts over finished attempts (completed + failed).",
           [(f'{rate("taskqueue_tasks_failed_total")} / clamp_min('
             f'{rate("taskqueue_tasks_failed_total")} + '
             f'{rate("taskqueue_tasks_completed_total")}, 1e-9)', "{{queue}}")],
           "percentunit"),
]  # fmt: skip

DEPTH = [
    series("Queue depth", "Unfinished tasks by status and queue (waiting: workflow tasks "
           "waiting for their parents).",
           [(f'sum by (queue, status) (taskqueue_queue_tasks{{{Q}, '
             f'status=~"pending|scheduled|processing|waiting"}})', "{{queue}} {{status}}")],
           stacked=True),
    series("Oldest pending task", "How long the longest-waiting pending task has waited.",
           [(f"taskqueue_queue_oldest_pending_age_seconds{{{Q}}}", "{{queue}}")], "s"),
    series("Dead-letter queue", "Tasks in each queue's dead-letter queue.",
           [(f'taskqueue_queue_tasks{{{Q}, status="dead"}}', "{{queue}}")]),
    series("Cancelled per second", "Tasks cancelled (by an operator or the code), by queue.",
           [(rate("taskqueue_tasks_cancelled_total"), "{{queue}}")], "ops"),
]  # fmt: skip

LATENCY = [
    series("Wait time (ready to start)", "Percentiles of the wait of the tasks each queue "
           "started in the last 5 minutes (computed by taskqueue from its wait histograms).",
           [(f"taskqueue_queue_wait_seconds{{{Q}}}", "{{queue}} p{{quantile}}")], "s"),
    series("Tasks started (last 5 minutes)", "Attempts each queue started in the last 5 "
           "minutes: how many waits the percentiles are made of.",
           [(f"taskqueue_queue_started_recent{{{Q}}}", "{{queue}}")]),
    series("Runtime p50 by task", "Median run time of finished attempts.",
           [(runtime_quantile(0.5), "{{queue}} {{task}}")], "s"),
    series("Runtime p95 by task", "95th percentile of the run time of finished attempts.",
           [(runtime_quantile(0.95), "{{queue}} {{task}}")], "s"),
    series("Runtime p99 by task", "99th percentile of the run time of finished attempts.",
           [(runtime_quantile(0.99), "{{queue}} {{task}}")], "s"),
    series("Mean runtime by task", "Mean run time of finished attempts.",
           [(f'sum by (queue, task) (rate(taskqueue_task_runtime_seconds_sum{{{Q}, '
             f'task=~"$task"}}[{RATE}])) / sum by (queue, task) (rate('
             f'taskqueue_task_runtime_seconds_count{{{Q}, task=~"$task"}}[{RATE}]))',
             "{{queue}} {{task}}")], "s"),
]  # fmt: skip

WORKERS = [
    series("Workers", "Registered workers: live, or lost (silent).",
           [("taskqueue_workers", "{{state}}")]),
    series("Workers by state", "Live workers: running, quiet (claim nothing, finish what "
           "they hold) or stopping.", [("taskqueue_worker_states", "{{state}}")],
           stacked=True),
    series("Worker slots", "Task slots of the live workers, busy or idle.",
           [("taskqueue_worker_slots", "{{state}}")], stacked=True),
    series("Leases lost per second", "Attempts whose worker stopped heartbeating: the task "
           "is handed out again (or dead-lettered).",
           [(rate("taskqueue_tasks_lost_total"), "{{queue}}")], "ops"),
]  # fmt: skip

FLOW = [
    series("Tasks held by limits", "Tasks that flow-control limits hold back, by the kind of "
           "limit (queue, task, tenant).",
           [(f"taskqueue_limit_held_tasks{{{Q}}}", "{{queue}} {{scope}}")], stacked=True),
    series("Throttled limits", "Limits that let no task start now (rate used up, or every "
           "concurrency slot taken).",
           [(f"taskqueue_limit_throttled{{{Q}}}", "{{queue}} {{scope}}")]),
    series("Tenants with a backlog", "Tenants with unfinished tasks, by queue.",
           [(f"taskqueue_tenants{{{Q}}}", "{{queue}}")]),
    panel("bargauge", "Largest tenant backlogs", "Unfinished tasks of the largest tenants "
          "(taskqueue exports the 20 largest per queue).",
          [target(f"topk(10, taskqueue_tenant_backlog{{{Q}}})", "{{queue}} {{tenant}}")],
          options={"orientation": "horizontal", "displayMode": "gradient",
                   "reduceOptions": {"calcs": ["lastNotNull"], "values": False}}),
]  # fmt: skip

HEALTH = [
    series("Workflows", "Workflows submitted and completed per second; blocked by a dead "
           "task now.",
           [("rate(taskqueue_workflows_created_total[$__rate_interval])", "created"),
            ("rate(taskqueue_workflows_completed_total[$__rate_interval])", "completed"),
            ("taskqueue_workflows_blocked", "blocked")]),
    series("Damaged keys", "Redis keys of the wrong type in place now, and moved aside.",
           [("sum(taskqueue_damaged_keys) or vector(0)", "in place"),
            ("sum(increase(taskqueue_keys_quarantined_total[1h]))", "moved aside (1 h)")]),
]  # fmt: skip

# (title, panels, panel height, panels per line)
ROWS = [
    ("Overview", OVERVIEW, 4, 6),
    ("Throughput and failures", THROUGHPUT, 8, 2),
    ("Queue depth", DEPTH, 8, 2),
    ("Wait and run time", LATENCY, 8, 3),
    ("Workers", WORKERS, 8, 2),
    ("Flow control and tenants", FLOW, 8, 2),
    ("Workflows and Redis", HEALTH, 8, 2),
]


def variable(name: str, label: str, query: str) -> dict:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,  # on time range change
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def layout() -> list[dict]:
    """Rows of panels on Grafana's 24-column grid, ids in order."""
    panels, y, next_id = [], 0, 1
    for title, row, height, per_line in ROWS:
        panels.append({"type": "row", "title": title, "id": next_id, "collapsed": False,
                       "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y}, "panels": []})  # fmt: skip
        next_id, y = next_id + 1, y + 1
        width = WIDTH // per_line
        for i, p in enumerate(row):
            x = (i * width) % WIDTH
            if i and x == 0:
                y += height
            panels.append(p | {"id": next_id, "gridPos": {"h": height, "w": width, "x": x, "y": y}})
            next_id += 1
        y += height
    return panels


def dashboard() -> dict:
    return {
        "uid": "taskqueue",
        "title": "taskqueue",
        "description": "Queues, tasks and workers of taskqueue (GET /api/v1/metrics).",
        "tags": ["taskqueue"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "type": "datasource",
                    "name": "datasource",
                    "label": "Prometheus",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                variable("queue", "Queue", "label_values(taskqueue_queue_tasks, queue)"),
                variable(
                    "task",
                    "Task",
                    'label_values(taskqueue_task_runtime_seconds_count{queue=~"$queue"}, task)',
                ),
            ]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": layout(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
