"""The worker registry as readers see it: one WorkerInfo per running worker process
(or per supervisor in --processes mode). Written by the worker's heartbeat."""

from dataclasses import dataclass
from datetime import UTC, datetime

from .text import as_text

# A worker whose last heartbeat is older than this is shown as lost.
LOST_AFTER_S = 60.0
# Registry entries of workers silent for this long are removed.
FORGET_AFTER_S = 3600


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: str
    name: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    processes: int
    started_at: datetime | None
    heartbeat_at: datetime | None
    in_flight: int
    processed: int
    failed: int
    state: str  # running, stopping
    lost: bool

    @classmethod
    def from_hash(cls, h: dict[str, str], now_ms: int) -> "WorkerInfo":
        """From a registry entry; anyone can write one, so every field is read defensively
        (text that is not UTF-8 with \\xNN escapes, numbers that do not parse as 0)."""
        h = {as_text(k): as_text(v) for k, v in h.items()}
        heartbeat = _int(h.get("heartbeat_at"))
        return cls(
            id=h.get("id", ""),
            name=h.get("name", ""),
            host=h.get("host", ""),
            pid=_int(h.get("pid")),
            queues=[q for q in h.get("queues", "").split(",") if q],
            concurrency=_int(h.get("concurrency")),
            processes=_int(h.get("processes")) or 1,
            started_at=_time(h.get("started_at")),
            heartbeat_at=_time(h.get("heartbeat_at")),
            in_flight=_int(h.get("in_flight")),
            processed=_int(h.get("processed")),
            failed=_int(h.get("failed")),
            state=h.get("state", ""),
            lost=now_ms - heartbeat > LOST_AFTER_S * 1000,
        )

    def to_dict(self) -> dict:
        out = {name: getattr(self, name) for name in self.__slots__}
        for name in ("started_at", "heartbeat_at"):
            out[name] = out[name].isoformat() if out[name] else None
        return out


def _int(value: str | None) -> int:
    try:
        return int(float(value)) if value else 0
    except (ValueError, OverflowError):
        return 0


def _time(value: str | None) -> datetime | None:
    ms = _int(value)
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None
    except (ValueError, OverflowError, OSError):  # a year past 9999, or before 1
        return None
