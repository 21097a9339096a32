"""docs/observability.md stays true to the code: its table of JSON log fields is every
field `runworker --log-format json` writes, and its table of TaskEvent fields is every
field an events hook receives."""

import json
import logging
import re
import sys
from dataclasses import fields
from pathlib import Path

from taskqueue.events_hook import TaskEvent
from taskqueue.worker.logs import JsonFormatter, TaskIdFilter

DOC = Path(__file__).resolve().parents[1] / "docs/observability.md"


def table_fields(heading: str) -> set[str]:
    """The back-quoted names in the first column of the first table after `heading`."""
    section = DOC.read_text().split(heading, 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    table = section[section.index(rows[0]) :].split("\n\n", 1)[0]
    return {
        name for line in table.splitlines() for name in re.findall(r"`(\w+)`", line.split("|")[1])
    }


def test_the_json_log_fields_are_documented_one_for_one():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "taskqueue.worker", logging.ERROR, __file__, 1, "x %s", ("y",), sys.exc_info()
        )
    TaskIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert set(line) == table_fields("## JSON logs")


def test_the_task_event_fields_are_documented_one_for_one():
    assert {f.name for f in fields(TaskEvent)} == table_fields("`TaskEvent` fields")
