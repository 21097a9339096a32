"""deploy/prometheus/taskqueue-rules.yml: the example alerting rules. promtool checks
them and runs their unit tests (taskqueue-rules.test.yml) when it is installed
(Debian: apt-get install prometheus); without it, PyYAML checks their shape. Either
way every metric they read is exported by /metrics."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.promql import selectors
from tests.support.scrape import scrape_after_tasks

pytestmark = pytest.mark.django_db
FOLDER = Path(__file__).resolve().parents[1] / "deploy/prometheus"
RULES = FOLDER / "taskqueue-rules.yml"
UNIT_TESTS = FOLDER / "taskqueue-rules.test.yml"
ALERTS = {"TaskqueueBacklogWithNoWorker", "TaskqueueOldestPendingTooOld",
          "TaskqueueDeadLetters", "TaskqueueWorkerLost"}  # fmt: skip
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=FOLDER, capture_output=True, text=True)


@needs_promtool
def test_promtool_accepts_the_rules():
    check = promtool("check", "rules", RULES.name)
    assert check.returncode == 0, check.stdout + check.stderr


@needs_promtool
def test_each_alert_fires_in_promtool_s_unit_tests_and_only_where_it_should():
    run = promtool("test", "rules", UNIT_TESTS.name)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_issue_s_alerts_are_there_with_a_severity_and_a_summary():
    by_name = {r["alert"]: r for r in rules()}
    assert set(by_name) >= ALERTS
    for name, rule in by_name.items():
        assert rule["expr"].strip(), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["annotations"]["summary"], name


def test_every_alert_has_a_unit_test():
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    tested = {t["alertname"] for group in tests for t in group.get("alert_rule_test", [])}
    assert tested == {r["alert"] for r in rules()}


def test_every_metric_the_rules_read_is_exported(broker):
    scraped = scrape_after_tasks(broker)
    read = {s.metric for r in rules() for s in selectors(r["expr"])}
    assert read and all(name.startswith("taskqueue_") for name in read), read
    assert read - set(scraped) == set()
