"""`tq limits show|set|clear` (flow control): a queue's limits read and changed from the
shell through taskqueue.flow, each change audited with the CLI's actor.

A limit's scope is the queue, one task name (--task) or one tenant (--tenant NAME, or
--tenant '*' for the limit each tenant has on its own); --task and --tenant together
are refused, as the API refuses them. `set` names each kind explicitly, as the API's
PUT does: a kind given is the operator's (--no-rate, --no-concurrency: no limit), a
kind not given goes back to the declared value. The queue's quotas (--max-backlog,
--tenant-backlog; not with --task or --tenant) are a second group, changed only when
one of them is given; given quotas only, the rate and concurrency are left as they
are. `clear` puts both kinds back (and, for the queue, its quotas).

`tq tenants QUEUE`: the tenants with the largest backlogs in a queue, and its quota."""

from django.core.management.base import CommandError

from .. import flow
from ..flow import QueueLimits
from ..limits import check_backlog, parse_rate
from ..options import tenant as check_tenant
from ..text import as_text
from .cli import add_user_option, cli_actor

HEADER = ("SCOPE", "RATE", "CONCURRENCY", "DECLARED", "HELD", "RUNNING", "THROTTLED")
OPERATOR_MARK = "*"
MAX_RATE_TEXT = 32  # longer is no rate (and would make a huge error message)
QUOTAS = ("max_backlog", "tenant_backlog")  # option dests, as flow.set_quota names them
TENANTS_HEADER = ("TENANT", "BACKLOG")
TOP_TENANTS = 20
EVERY_TENANT = "*"  # --tenant '*': the limit each tenant has on its own
TENANT_HELP = "a tenant's limits ('*': the limit each tenant has on its own)"


def add_limits_parser(sub) -> None:
    p = sub.add_parser("limits", help="show, set or clear a queue's flow-control limits")
    actions = p.add_subparsers(dest="limits_action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="a queue's limits and the tasks they hold back")
    show.add_argument("queue")
    setter = actions.add_parser(
        "set",
        help="an operator's limits for the queue, one task name or a tenant (a kind not "
        "given goes back to its declared value)",
    )
    setter.add_argument("queue")
    setter.add_argument(
        "--task", metavar="NAME", help="a task name's limits (default: the queue's)"
    )
    setter.add_argument("--tenant", metavar="NAME|*", help=TENANT_HELP)
    rate = setter.add_mutually_exclusive_group()
    rate.add_argument("--rate", help='e.g. "100/s", "3/m", "10/30s"')
    rate.add_argument("--no-rate", action="store_true", help="no rate limit")
    setter.add_argument("--burst", type=int, metavar="N", help="with --rate: N at once (1)")
    conc = setter.add_mutually_exclusive_group()
    conc.add_argument("--concurrency", type=int, metavar="N", help="N running at once")
    conc.add_argument("--no-concurrency", action="store_true", help="no concurrency limit")
    _add_quota_options(setter)
    add_user_option(setter)
    clear = actions.add_parser(
        "clear", help="both kinds (and the queue's quotas) back to the declared values"
    )
    clear.add_argument("queue")
    clear.add_argument("--task", metavar="NAME", help="a task name's limits (default: the queue's)")
    clear.add_argument("--tenant", metavar="NAME|*", help=TENANT_HELP)
    add_user_option(clear)


def _add_quota_options(setter) -> None:
    for name, what in (("max-backlog", "the queue's"), ("tenant-backlog", "each tenant's")):
        group = setter.add_mutually_exclusive_group()
        group.add_argument(
            f"--{name}", type=int, metavar="N", help=f"a quota: {what} unfinished tasks at most"
        )
        group.add_argument(f"--no-{name}", action="store_true", help=f"no {name} quota")


def add_tenants_parser(sub) -> None:
    p = sub.add_parser("tenants", help="the tenants with the largest backlogs in a queue")
    p.add_argument("queue")


def run(options: dict, user: str | None) -> str:
    """The output of one `tq limits` action; the engine's errors pass through."""
    action, queue = options["limits_action"], options["queue"]
    if action == "show":
        return show(queue)
    task, tenant = options["task"], _tenant(options)
    if action == "clear":
        released = flow.set_limit(cli_actor(user), queue, task, tenant=tenant)
        if task is None and tenant is None:
            flow.set_quota(cli_actor(user), queue)
        return _changed(queue, task, "back to the declared limits", released, tenant)
    quotas = _quotas(options)  # checked before anything is written
    wanted, released = _wanted(options, quotas is not None), 0
    if wanted is not None:
        rate, concurrency = wanted
        released = flow.set_limit(
            cli_actor(user), queue, task, rate=rate, concurrency=concurrency, tenant=tenant
        )
    if quotas is not None:
        flow.set_quota(cli_actor(user), queue, **quotas)
    return _changed(queue, task, "limits set", released, tenant)


def _tenant(options: dict) -> str | None:
    """The tenant of --tenant ('*': each tenant's), or None; not with --task."""
    tenant = options["tenant"]
    if tenant is None:
        return None
    if options["task"] is not None:
        raise CommandError(
            "A limit is a task name's or a tenant's: give --task or --tenant, not both."
        )
    return tenant if tenant == EVERY_TENANT else check_tenant(tenant, "--tenant")


def _quotas(options: dict) -> dict | None:
    """The quotas for flow.set_quota (a kind not given: DECLARED), or None when no
    quota option is given."""
    quotas = {}
    for name in QUOTAS:
        value = options[name]
        quotas[name] = None if options[f"no_{name}"] else flow.DECLARED
        if value is not None:
            quotas[name] = check_backlog(value, "--" + name.replace("_", "-"))
    if all(v == flow.DECLARED for v in quotas.values()):
        return None
    if options["task"] is not None or options["tenant"] is not None:
        raise CommandError(
            "--max-backlog and --tenant-backlog are the queue's: not with --task or --tenant."
        )
    return quotas


def _wanted(options: dict, quotas: bool = False) -> tuple | None:
    """(rate, concurrency) for flow.set_limit; each kind not given is DECLARED. None
    (leave them as they are) when only quotas are given."""
    if options["burst"] is not None and options["rate"] is None:
        raise CommandError("--burst goes with --rate.")
    given = [options["rate"], options["concurrency"]]
    if all(v is None for v in given) and not (options["no_rate"] or options["no_concurrency"]):
        if quotas:
            return None
        raise CommandError(
            "give a limit: --rate, --no-rate, --concurrency, --no-concurrency, "
            "--max-backlog, --tenant-backlog (or their --no- forms; to go back to the "
            "declared limits, use `tq limits clear`)."
        )
    rate = None if options["no_rate"] else flow.DECLARED
    if options["rate"] is not None:
        if len(options["rate"]) > MAX_RATE_TEXT:
            raise CommandError(f"--rate {options['rate'][:20]}...: not a rate (e.g. 100/s).")
        rate = parse_rate(options["rate"], options["burst"])
    concurrency = None if options["no_concurrency"] else flow.DECLARED
    if options["concurrency"] is not None:
        concurrency = options["concurrency"]
    return rate, concurrency


def _changed(
    queue: str, task: str | None, what: str, released: int, tenant: str | None = None
) -> str:
    scope = f"{queue}, task {_shown(task)}" if task else queue
    if tenant is not None:
        scope = f"{queue}, each tenant" if tenant == EVERY_TENANT else f"{queue}, tenant {tenant}"
    line = f"{scope}: {what}; {released} held task(s) released."
    return line + "\n\n" + show(queue)


def show(queue: str) -> str:
    limits = flow.queue_limits(queue)
    scopes = _shown_scopes(limits)
    lines = [f"{queue}: no limits."]
    if scopes:
        rows = [HEADER, *_rows(scopes)]
        lines = [f"{queue}: {limits.held} task(s) held back.", "", *_table(rows)]
    if any(scope.overridden for scope in scopes):
        lines += ["", f"{OPERATOR_MARK} set by an operator (`tq limits clear` goes back)"]
    if limits.max_backlog or limits.tenant_backlog:
        lines += ["", f"Quotas: {_quotas_text(limits.max_backlog, limits.tenant_backlog)}"]
    return "\n".join(lines)


def _quotas_text(max_backlog: int | None, tenant_backlog: int | None) -> str:
    return f"max backlog {_number(max_backlog)}, tenant backlog {_number(tenant_backlog)}"


def tenants(options: dict, user: str | None = None) -> str:
    """The output of `tq tenants QUEUE` (a read: no actor)."""
    queue = options["queue"]
    backlogs = flow.tenant_backlogs(queue, top=TOP_TENANTS)
    quota = flow.queue_limits(queue).tenant_backlog
    head = f"{queue}: {backlogs.tenants} tenant(s) with unfinished tasks; tenant backlog quota "
    lines = [head + (f"{quota:,}." if quota else "none.")]
    if backlogs.top:
        rows = [TENANTS_HEADER, *((_shown(t), f"{n:,}") for t, n in backlogs.top)]
        lines += ["", *_table(rows)]
    if backlogs.tenants > len(backlogs.top):
        lines.append(f"(and {backlogs.tenants - len(backlogs.top)} more)")
    return "\n".join(lines)


def _shown_scopes(limits: QueueLimits) -> list:
    """The scopes with a limit, an operator's value, or tasks held or running (a worker
    writes an empty limit for each task it knows; a tenant quota names no tenant's)."""
    return [
        s for s in limits.all() if s.rate or s.concurrency or s.overridden or s.held or s.running
    ]


def _scope_name(scope) -> str:
    if scope.tenant == EVERY_TENANT:
        return "(each tenant)"
    if scope.tenant is not None:
        return f"tenant {_shown(scope.tenant)}"
    return "(queue)" if scope.task is None else _shown(scope.task)


def _rows(scopes: list) -> list[tuple[str, ...]]:
    return [
        (
            _scope_name(scope),
            _rate(scope.rate) + _mark(scope.override_rate),
            _number(scope.concurrency) + _mark(scope.override_concurrency),
            _declared(scope.declared),
            str(scope.held),
            str(scope.running),
            "yes" if scope.throttled else "no",
        )
        for scope in scopes
    ]


def _declared(limit) -> str:
    if limit.rate is None and limit.concurrency is None:
        return "-"
    return f"rate {_rate(limit.rate)}, concurrency {_number(limit.concurrency)}"


def _rate(rate) -> str:
    if rate is None:
        return "-"
    return str(rate) + (f" burst {rate.burst}" if rate.burst > 1 else "")


def _number(n: int | None) -> str:
    return "-" if n is None else str(n)


def _mark(override: str | None) -> str:
    return "" if override is None else OPERATOR_MARK


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows in left-aligned columns (the last column unpadded)."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]) - 1)]
    return ["  ".join([*map(str.ljust, row[:-1], widths), row[-1]]) for row in rows]


def _shown(value: str) -> str:
    """A task name read from Redis, safe on a terminal."""
    text = as_text(value)
    return text if text.isprintable() else repr(text)[1:-1]
