"""Flow-control limits: what a rate or concurrency limit is, how it is written, and
where it comes from (docs/flow-control.md).

A limit has a scope inside one queue: the whole queue, or one task name. The claim
script enforces them in Redis for every worker at once (broker/lua/includes/limits.lua).
Declared limits come from `@task(rate_limit=..., concurrency_limit=...)` and
`TASKQUEUE["LIMITS"]`; workers write them at start. An operator's limit, set at run
time from the API, the console or `tq limits`, wins over the declared one until it is
cleared. How Redis keeps them is the broker's business (broker/limit_ops.py).
"""

import re
from dataclasses import dataclass
from typing import Any

from .errors import ValidationError
from .names import validate_queue_name

MAX_COUNT = 1_000_000  # tasks per period
MAX_PERIOD_MS = 86_400_000  # a day
MAX_BURST = 10_000
MAX_CONCURRENCY = 1_000  # the claim reads every holder of a slot: keep it small
MAX_BACKLOG = 1_000_000_000
_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_RATE = re.compile(r"^\s*(\d{1,9})\s*/\s*(\d{0,9})\s*([smhd])\s*$")
_HINT = 'e.g. "100/s", "3/m", "1000/h", "10/30s" (count / [n] unit: s, m, h or d)'


@dataclass(frozen=True, slots=True)
class Rate:
    """`count` tasks per `period_ms`, with up to `burst` at once after a quiet spell."""

    count: int
    period_ms: int
    burst: int = 1

    @property
    def per_second(self) -> float:
        return self.count * 1000 / self.period_ms

    def __str__(self) -> str:
        """'100/s', '3/m', '10/30s' (without the burst)."""
        for unit, ms in sorted(_UNITS.items(), key=lambda u: -u[1]):
            if self.period_ms % ms == 0:
                n = self.period_ms // ms
                return f"{self.count}/{'' if n == 1 else n}{unit}"
        return f"{self.count}/{self.period_ms}ms"  # pragma: no cover - periods are whole s


def parse_rate(text: Any, burst: Any = None) -> Rate:
    """'100/s', '3/m', '1000/h', '10/30s' (and a burst, default 1) as a Rate; a number
    is per second (Celery's rate_limit=10). ValidationError naming what is wrong
    otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = f"{text}/s"
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(f"rate limit {text!r} is not a rate: {_HINT}.", field="rate")
    count, n, unit = int(match[1]), int(match[2] or 1), match[3]
    period_ms = n * _UNITS[unit]
    if not 1 <= count <= MAX_COUNT or not 1 <= period_ms <= MAX_PERIOD_MS:
        raise ValidationError(
            f"rate limit {text!r}: 1 to {MAX_COUNT:,} tasks per period of at most a day.",
            field="rate",
        )
    return Rate(count, period_ms, check_burst(1 if burst is None else burst))


def check_burst(burst: Any) -> int:
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= MAX_BURST:
        raise ValidationError(
            f"burst must be a whole number from 1 to {MAX_BURST:,}, not {burst!r}.", field="burst"
        )
    return burst


def check_concurrency(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CONCURRENCY:
        raise ValidationError(
            f"concurrency limit must be a whole number from 1 to {MAX_CONCURRENCY:,}, not {n!r}.",
            field="concurrency",
        )
    return n


@dataclass(frozen=True, slots=True)
class Limit:
    """The limits of one scope (None: none of that kind)."""

    rate: Rate | None = None
    concurrency: int | None = None
    # a queue's only (docs/flow-control.md#quotas): its unfinished tasks at most, and
    # each tenant's; an enqueue past either is refused (QuotaExceeded, API 429)
    max_backlog: int | None = None
    tenant_backlog: int | None = None
    # a queue's only: the rate and concurrency each tenant has in it on its own
    per_tenant: "Limit | None" = None


def limit_from(spec: Any, where: str) -> Limit:
    """A limit from {"rate": "100/s", "burst": 10, "concurrency": 5} (any part may be
    missing or None)."""
    if not isinstance(spec, dict):
        raise ValidationError(f"{where} must be a dict like {{'rate': '100/s'}}, not {spec!r}.")
    known = {"rate", "burst", "concurrency", "max_backlog", "tenant_backlog", "per_tenant"}
    unknown = set(spec) - known
    if unknown:
        raise ValidationError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}.")
    rate, burst, conc = spec.get("rate"), spec.get("burst"), spec.get("concurrency")
    if burst is not None and rate is None:
        raise ValidationError(f"{where}: a burst needs a rate.", field="burst")
    quotas = {k: check_backlog(spec.get(k), k) for k in ("max_backlog", "tenant_backlog")}
    per_tenant = spec.get("per_tenant")
    if per_tenant is not None:
        per_tenant = limit_from(per_tenant, f"{where}['per_tenant']")
        if per_tenant.per_tenant or per_tenant.max_backlog or per_tenant.tenant_backlog:
            raise ValidationError(f"{where}['per_tenant'] takes rate, burst and concurrency.")
    return Limit(
        rate=None if rate is None else parse_rate(rate, burst),
        concurrency=None if conc is None else check_concurrency(conc),
        per_tenant=per_tenant,
        **quotas,
    )


def check_backlog(n: Any, field: str) -> int | None:
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_BACKLOG:
        raise ValidationError(
            f"{field} must be a whole number from 1 to {MAX_BACKLOG:,}, not {n!r}.", field=field
        )
    return n


def task_limit(task) -> Limit:
    declared = task.options
    rate = declared.rate_limit and parse_rate(declared.rate_limit, declared.rate_burst)
    return Limit(rate=rate or None, concurrency=declared.concurrency_limit)


def settings_limits(raw: Any) -> dict[str, Limit]:
    """TASKQUEUE["LIMITS"] = {"emails": {"rate": "100/m", "concurrency": 5}} as
    {queue: Limit}; ValidationError when malformed."""
    if not isinstance(raw, dict):
        raise ValidationError('TASKQUEUE["LIMITS"] must be a dict of queue name -> limits.')
    return {
        validate_queue_name(queue): limit_from(spec, f'TASKQUEUE["LIMITS"][{queue!r}]')
        for queue, spec in raw.items()
    }
