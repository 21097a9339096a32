"""Worker logging: text or one JSON object per line, every record carrying the id of
the task it was logged from (`task_id`, empty outside a task)."""

import json
import logging
import time

from ..context import current_task

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(task_id)s %(message)s"


class TaskIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current_task()
        record.task_id = ctx.id if ctx is not None else ""
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
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(log_format: str, level: str) -> None:
    """Replace the root handlers with one stderr handler in the chosen format."""
    handler = logging.StreamHandler()
    handler.addFilter(TaskIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


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
