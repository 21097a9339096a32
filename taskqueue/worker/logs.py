"""Worker logging: text or one JSON object per line, every record carrying the id of
the task it was logged from (`task_id`, empty outside a task) and, when tracing is on
and a span is current (a task's attempt, docs/observability.md), its `trace_id` and
`span_id`; without a span a line is what it would be without tracing."""

import json
import logging
import time

from .. import tracing
from ..context import current_task

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(task_id)s %(trace)s%(message)s"


class TaskIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current_task()
        record.task_id = ctx.id if ctx is not None else ""
        return True


class TraceFilter(tracing.TraceContextFilter):
    """trace_id and span_id (tracing.py), and `trace`: "trace_id=... span_id=... "
    for the text format, '' outside a span."""

    decides = False  # a log line never decides whether tracing is on (tracing.py)

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        record.trace = (
            f"trace_id={record.trace_id} span_id={record.span_id} " if record.trace_id else ""
        )
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "task_id": getattr(record, "task_id", ""),
            "message": record.getMessage(),
        }
        trace_id = getattr(record, "trace_id", "")
        if trace_id:  # only inside a span: no empty fields when tracing is off
            out["trace_id"] = trace_id
            out["span_id"] = getattr(record, "span_id", "")
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(log_format: str, level: str) -> None:
    """Replace the root handlers with one stderr handler in the chosen format."""
    root = logging.getLogger()
    root.handlers[:] = [make_handler(log_format)]
    root.setLevel(level)


def make_handler(log_format: str, stream=None) -> logging.Handler:
    """A handler writing the worker's lines ('text' or 'json') to stream (stderr)."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(TaskIdFilter())
    handler.addFilter(TraceFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    return handler


class Throttled:
    """Warnings about one thing (a queue that keeps failing) at most once per `quiet`
    seconds, so a persistent problem is reported without flooding the log."""

    def __init__(self, logger: logging.Logger, quiet: float = 30.0):
        self.logger = logger
        self.quiet = quiet
        self.until: dict[str, float] = {}

    def warning(self, about: str, message: str, *args) -> None:
        now = time.monotonic()
        if now >= self.until.get(about, 0.0):
            self.until[about] = now + self.quiet
            self.logger.warning(message, *args)
