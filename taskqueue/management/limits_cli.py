"""`tq limits show|set|clear` (flow control): a queue's limits read and changed from the
shell through taskqueue.flow, each change audited with the CLI's actor.

`set` names each kind explicitly, as the API's PUT does: a kind given is the operator's
(--no-rate, --no-concurrency: no limit), a kind not given goes back to the declared
value. `clear` puts both back."""

from django.core.management.base import CommandError

from .. import flow
from ..flow import QueueLimits
from ..limits import parse_rate
from ..text import as_text
from .cli import add_user_option, cli_actor

HEADER = ("SCOPE", "RATE", "CONCURRENCY", "DECLARED", "HELD", "RUNNING", "THROTTLED")
OPERATOR_MARK = "*"
MAX_RATE_TEXT = 32  # longer is no rate (and would make a huge error message)


def add_limits_parser(sub) -> None:
    p = sub.add_parser("limits", help="show, set or clear a queue's flow-control limits")
    actions = p.add_subparsers(dest="limits_action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="a queue's limits and the tasks they hold back")
    show.add_argument("queue")
    setter = actions.add_parser(
        "set",
        help="an operator's limits for the queue or one task name (a kind not given "
        "goes back to its declared value)",
    )
    setter.add_argument("queue")
    setter.add_argument(
        "--task", metavar="NAME", help="a task name's limits (default: the queue's)"
    )
    rate = setter.add_mutually_exclusive_group()
    rate.add_argument("--rate", help='e.g. "100/s", "3/m", "10/30s"')
    rate.add_argument("--no-rate", action="store_true", help="no rate limit")
    setter.add_argument("--burst", type=int, metavar="N", help="with --rate: N at once (1)")
    conc = setter.add_mutually_exclusive_group()
    conc.add_argument("--concurrency", type=int, metavar="N", help="N running at once")
    conc.add_argument("--no-concurrency", action="store_true", help="no concurrency limit")
    add_user_option(setter)
    clear = actions.add_parser("clear", help="both kinds back to the declared values")
    clear.add_argument("queue")
    clear.add_argument("--task", metavar="NAME", help="a task name's limits (default: the queue's)")
    add_user_option(clear)


def run(options: dict, user: str | None) -> str:
    """The output of one `tq limits` action; the engine's errors pass through."""
    action, queue = options["limits_action"], options["queue"]
    if action == "show":
        return show(queue)
    task = options["task"]
    if action == "clear":
        released = flow.set_limit(cli_actor(user), queue, task)
        return _changed(queue, task, "back to the declared limits", released)
    rate, concurrency = _wanted(options)
    released = flow.set_limit(cli_actor(user), queue, task, rate=rate, concurrency=concurrency)
    return _changed(queue, task, "limits set", released)


def _wanted(options: dict) -> tuple:
    """(rate, concurrency) for flow.set_limit; each kind not given is DECLARED."""
    if options["burst"] is not None and options["rate"] is None:
        raise CommandError("--burst goes with --rate.")
    given = [options["rate"], options["concurrency"]]
    if all(v is None for v in given) and not (options["no_rate"] or options["no_concurrency"]):
        raise CommandError(
            "give a limit: --rate, --no-rate, --concurrency or --no-concurrency "
            "(to go back to the declared limits, use `tq limits clear`)."
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


def _changed(queue: str, task: str | None, what: str, released: int) -> str:
    scope = f"{queue}, task {_shown(task)}" if task else queue
    line = f"{scope}: {what}; {released} held task(s) released."
    return line + "\n\n" + show(queue)


def show(queue: str) -> str:
    limits = flow.queue_limits(queue)
    if not limits.all():
        return f"{queue}: no limits."
    rows = [HEADER, *_rows(limits)]
    lines = [f"{queue}: {limits.held} task(s) held back.", "", *_table(rows)]
    if any(scope.overridden for scope in limits.all()):
        lines += ["", f"{OPERATOR_MARK} set by an operator (`tq limits clear` goes back)"]
    return "\n".join(lines)


def _rows(limits: QueueLimits) -> list[tuple[str, ...]]:
    return [
        (
            "(queue)" if scope.task is None else _shown(scope.task),
            _rate(scope.rate) + _mark(scope.override_rate),
            _number(scope.concurrency) + _mark(scope.override_concurrency),
            _declared(scope.declared),
            str(scope.held),
            str(scope.running),
            "yes" if scope.throttled else "no",
        )
        for scope in limits.all()
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
