"""The flow-control operations (docs/flow-control.md): declare a queue's limits, set an
operator's limit, read them. The claim enforces them (lua/includes/limits.lua), where
a limit's scope is 'queue' or 'task:<name>' and its fields 'rate:<scope>' =
'<count>/<period ms>/<burst>' and 'conc:<scope>' = '<n>'."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..limits import Limit, Rate
from ..priority import BAND_WIDTH
from .requests import Commands, Plan, ScriptCall, operation, script

RELEASE_BATCH = 1000  # held tasks put back in line per set_limit call
QUEUE_SCOPE = "queue"
TASK_SCOPE = "task:"
TENANT_SCOPE = "tenant"  # each tenant alone; "tenant:<name>" one tenant
EVERY_TENANT = "*"  # set_limit(tenant=EVERY_TENANT): the limit each tenant has
DECLARED = "declared"  # set_limit: drop the operator's value, the declared one applies


def scope_of(task: str | None = None, tenant: str | None = None) -> str:
    """The scope of a task name's limits, of a tenant's (EVERY_TENANT: each tenant's),
    or the queue's (neither)."""
    if tenant is not None:
        return TENANT_SCOPE if tenant == EVERY_TENANT else f"{TENANT_SCOPE}:{tenant}"
    return QUEUE_SCOPE if task is None else TASK_SCOPE + task


def encode_rate(rate: Rate | None) -> str:
    return f"{rate.count}/{rate.period_ms}/{rate.burst}" if rate else ""


def decode_rate(value: str | None) -> Rate | None:
    """A rate as Redis keeps it, or None (missing, '' or malformed)."""
    parts = (value or "").split("/")
    if len(parts) == 3 and all(p.isdigit() and int(p) > 0 for p in parts):
        return Rate(*map(int, parts))
    return None


def decode_concurrency(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) > 0 else None


def limit_fields(scope: str, limit: Limit) -> dict[str, str]:
    """A scope's limits as Redis keeps them; '' for a kind that has none. A queue's
    quotas are 'quota:queue' and 'quota:tenant' (enqueue_tasks.lua reads them)."""
    fields = {
        f"rate:{scope}": encode_rate(limit.rate),
        f"conc:{scope}": str(limit.concurrency) if limit.concurrency else "",
    }
    if scope == QUEUE_SCOPE:
        fields["quota:queue"] = str(limit.max_backlog or "")
        fields["quota:tenant"] = str(limit.tenant_backlog or "")
    return fields


@dataclass(frozen=True, slots=True)
class TenantBacklogs:
    """A queue's tenants with the largest backlogs (unfinished tasks), largest first."""

    tenants: int  # how many tenants have unfinished tasks in the queue
    top: list[tuple[str, int]]


def _tenant_backlogs(reply: list) -> TenantBacklogs:
    total, *flat = reply
    pairs = zip(flat[::2], flat[1::2], strict=True)
    return TenantBacklogs(int(total), [(tenant, int(n)) for tenant, n in pairs])


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """The limits of the queue (task None) or of one task name in it: declared, the
    operator's (None: not set; a Limit part None: set to "no limit"), and what they
    hold back now."""

    task: str | None
    declared: Limit
    override_rate: str | None  # as Redis keeps it: None not set, '' no limit
    override_concurrency: str | None
    tenant: str | None = None  # a tenant's limits: its name, or EVERY_TENANT
    held: int = 0  # tasks held back, waiting for their slot or their time
    running: int = 0  # live holders of a concurrency slot
    ahead_ms: int = 0  # how far the rate's schedule runs ahead of now

    @property
    def rate(self) -> Rate | None:
        if self.override_rate is not None:
            return decode_rate(self.override_rate)
        return self.declared.rate

    @property
    def concurrency(self) -> int | None:
        if self.override_concurrency is not None:
            return decode_concurrency(self.override_concurrency)
        return self.declared.concurrency

    @property
    def overridden(self) -> bool:
        return self.override_rate is not None or self.override_concurrency is not None

    @property
    def throttled(self) -> bool:
        """The rate lets no task start now, or every concurrency slot is taken."""
        rate = self.rate
        if rate is not None and self.ahead_ms > (rate.burst - 1) * rate.period_ms / rate.count:
            return True
        return self.concurrency is not None and self.running >= self.concurrency


@dataclass(frozen=True, slots=True)
class QueueLimits:
    queue: str
    own: ScopeLimits | None = None  # the queue's own limits
    tasks: dict[str, ScopeLimits] = field(default_factory=dict)  # by task name
    # each tenant's own ('*': the limit every tenant has; docs/flow-control.md)
    tenants: dict[str, ScopeLimits] = field(default_factory=dict)
    max_backlog: int | None = None  # the quotas in force (the operator's, else declared)
    tenant_backlog: int | None = None
    # by kind ("max_backlog", "tenant_backlog"): the operator's as Redis keeps them (''
    # no quota; a kind absent: none set), and the declared ones
    quotas_set: dict[str, str] = field(default_factory=dict)
    quotas_declared: dict[str, int | None] = field(default_factory=dict)

    def all(self) -> list[ScopeLimits]:
        own = [self.own] if self.own else []
        return own + list(self.tasks.values()) + list(self.tenants.values())

    @property
    def held(self) -> int:
        return sum(s.held for s in self.all())

    @property
    def limited(self) -> bool:
        """Any limit in force."""
        return any(s.rate or s.concurrency for s in self.all())


def _pairs(flat: list) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def queue_limits(queue: str, reply: list) -> QueueLimits:
    declared, overrides, *rest = reply
    declared, overrides = _pairs(declared), _pairs(overrides)
    own, tasks, tenants = None, {}, {}
    for i in range(0, len(rest), 4):
        scope, held, running, ahead = rest[i : i + 4]
        kind, _, name = scope.partition(":")
        if not (scope == QUEUE_SCOPE or kind == TENANT_SCOPE or scope.startswith(TASK_SCOPE)):
            continue  # a field nobody wrote through these operations
        rate, conc = f"rate:{scope}", f"conc:{scope}"
        limits = ScopeLimits(
            task=name if kind == "task" else None,
            declared=Limit(decode_rate(declared.get(rate)), decode_concurrency(declared.get(conc))),
            override_rate=overrides.get(rate),
            override_concurrency=overrides.get(conc),
            tenant=(name or EVERY_TENANT) if kind == TENANT_SCOPE else None,
            held=int(held),
            running=int(running),
            ahead_ms=int(ahead),
        )
        if kind == TENANT_SCOPE:
            tenants[name or EVERY_TENANT] = limits
        elif limits.task is None:
            own = limits
        else:
            tasks[limits.task] = limits
    quota_fields = {"max_backlog": "quota:queue", "tenant_backlog": "quota:tenant"}
    quotas = [decode_concurrency(overrides.get(f, declared.get(f))) for f in quota_fields.values()]
    return QueueLimits(
        queue, own, dict(sorted(tasks.items())), dict(sorted(tenants.items())), *quotas,
        quotas_set={k: overrides[f] for k, f in quota_fields.items() if f in overrides},
        quotas_declared={k: decode_concurrency(declared.get(f)) for k, f in quota_fields.items()},
    )  # fmt: skip


class LimitOperations:
    """Mixed into Operations (needs config, _call)."""

    @operation
    def declare_limits(
        self, queue: str, own: Limit, tasks: Iterable[tuple[str, Limit]]
    ) -> ScriptCall:
        """Write the limits a worker declares for one queue: the queue's own and every
        registered task's (a Limit() for one without, so a limit removed from the code
        is removed here too). Other tasks' fields are left alone."""
        fields = limit_fields(QUEUE_SCOPE, own)
        fields |= limit_fields(TENANT_SCOPE, own.per_tenant or Limit())
        for name, limit in tasks:
            fields |= limit_fields(scope_of(name), limit)
        argv = [self.config.EVENTS_MAXLEN, BAND_WIDTH, RELEASE_BATCH]
        argv += [v for pair in sorted(fields.items()) for v in pair]
        kinds = ("limits", "pending", "scheduled", "events", "gcra")
        return self._call("declare_limits", queue, kinds, argv, int)

    @operation
    def set_limit(
        self,
        queue: str,
        task: str | None = None,
        *,
        rate: Rate | str | None = DECLARED,
        concurrency: int | str | None = DECLARED,
        tenant: str | None = None,
    ) -> Plan[int]:
        """An operator's limit for the queue (task and tenant None), one task name in it,
        or a tenant (EVERY_TENANT: the limit each tenant has): a value, None for "no
        limit", or DECLARED to go back to the declared one. Takes effect at once;
        returns the held tasks put back in line."""
        rate_value = "-" if rate == DECLARED else encode_rate(rate)
        conc_value = "-" if concurrency == DECLARED else str(concurrency or "")
        cfg, moved = self.config, 0
        argv = [scope_of(task, tenant), rate_value, conc_value, cfg.EVENTS_MAXLEN, cfg.WAKE_MAX]
        argv += [BAND_WIDTH, RELEASE_BATCH]
        kinds = ("limitset", "pending", "scheduled", "events", "wake", "gcra")
        while True:
            n = yield from script(self._call("set_limit", queue, kinds, argv, int))
            moved += n
            if n < RELEASE_BATCH:
                return moved

    @operation
    def set_quota(
        self,
        queue: str,
        *,
        max_backlog: int | str | None = DECLARED,
        tenant_backlog: int | str | None = DECLARED,
    ) -> Commands:
        """An operator's quotas for a queue: a number, None for "no quota", DECLARED
        for the declared one. Read by the next enqueue."""
        key = self.keys.queue(queue).limitset
        values = {"quota:queue": max_backlog, "quota:tenant": tenant_backlog}

        def queue_commands(pipe):
            for name, value in values.items():
                if value == DECLARED:
                    pipe.hdel(key, name)
                else:
                    pipe.hset(key, name, str(value or ""))

        return Commands(queue_commands)

    @operation
    def tenant_backlogs(self, queue: str, *, top: int = 20) -> ScriptCall:
        """The tenants with the largest backlogs in a queue: TenantBacklogs."""
        return self._call(
            "read_tenants", queue, ("tenants",), [top, 10_000], _tenant_backlogs, heals=False
        )

    @operation
    def limits(self, queue: str, *, now: int | None = None) -> ScriptCall:
        """A queue's limits and what they hold back now: QueueLimits."""
        argv = ["" if now is None else now]
        kinds = ("limits", "limitset", "gcra", "active")
        return self._call(
            "read_limits", queue, kinds, argv, lambda r: queue_limits(queue, r), heals=False
        )
