"""`tq workflow show|list|cancel` (docs/workflows.md). Reads go through taskqueue.inspect;
the cancel goes through taskqueue.services, audited like every tq action."""

from collections import Counter

from django.core.management.base import CommandError

from .. import inspect, services
from ..records import WorkflowInfo
from ..status import Status, WorkflowStatus
from ..text import as_text
from .cli import add_user_option, cli_actor

SHOWN_NODES = 50  # nodes `show` lists one per line; the rest are only counted
SHOWN_PARENTS = 5  # parents listed on a node's line; the rest are counted
ORDER = {s.value: i for i, s in enumerate(Status)}  # statuses counted in lifecycle order


def add_workflow_parser(sub) -> None:
    p = sub.add_parser("workflow", help="show, list or cancel workflows")
    actions = p.add_subparsers(dest="workflow_action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="a workflow's summary and its tasks")
    show.add_argument("workflow_id", metavar="ID")
    listing = actions.add_parser("list", help="the newest workflows")
    statuses = ", ".join(s.value for s in WorkflowStatus)
    listing.add_argument("--status", help=f"only these: {statuses}")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (1-200)")
    cancel = actions.add_parser("cancel", help="cancel a workflow's unfinished tasks")
    cancel.add_argument("workflow_id", metavar="ID")
    add_user_option(cancel)


def run(options: dict, user: str | None) -> str:
    """The output of one `tq workflow` action; the engine's errors pass through."""
    action = options["workflow_action"]
    if action == "show":
        return show(options["workflow_id"])
    if action == "list":
        return listing(options["status"], options["limit"])
    return cancel(options["workflow_id"], user)


def show(workflow_id: str) -> str:
    info = inspect.get_workflow(workflow_id)
    nodes = inspect.workflow_nodes(workflow_id)
    by_status = Counter(status for _, status in nodes)
    lines = [*_summary(info), "by status  " + _counts(by_status), ""]
    rows = [("KEY", "QUEUE", "STATUS", "TASK", "PARENTS")]
    rows += [_node_row(node, status) for node, status in nodes[:SHOWN_NODES]]
    lines += _table(rows)
    if len(nodes) > SHOWN_NODES:
        lines.append(f"... and {len(nodes) - SHOWN_NODES} more task(s)")
    return "\n".join(lines)


def listing(status: str | None, limit: int) -> str:
    infos = inspect.list_workflows(status, limit=limit)
    if not infos:
        return "No workflows" + (f" {status}." if status else ".")
    rows = [("ID", "STATUS", "DONE", "DEAD", "CREATED", "NAME")]
    rows += [_listed(info) for info in infos]
    return "\n".join(_table(rows))


def cancel(workflow_id: str, user: str | None) -> str:
    info = inspect.get_workflow(workflow_id)  # checks the id before anything is written
    if info.status == WorkflowStatus.COMPLETED:
        raise CommandError(f"workflow {workflow_id} is completed: there is nothing to cancel.")
    outcome = services.cancel_workflow(workflow_id, cli_actor(user))
    if outcome.status_before == WorkflowStatus.CANCELLED:
        return f"{workflow_id}: cancelled (it already was)."
    return f"{workflow_id}: cancelled; {outcome.cancelled} task(s) cancelled now."


def _summary(info: WorkflowInfo) -> list[str]:
    return [
        f"workflow   {info.id}",
        f"name       {_shown(info.name) or '-'}",
        f"status     {_shown(info.status)} (on failure: {_shown(info.on_failure)})",
        f"tasks      {info.completed}/{info.total} completed, {info.dead} dead, "
        f"{info.cancelled} cancelled",
        f"created    {_time(info.created_at)}",
        f"finished   {_time(info.finished_at)}",
    ]


def _listed(info: WorkflowInfo) -> tuple[str, ...]:
    done = f"{info.completed}/{info.total}"
    created = _time(info.created_at)
    return (_shown(info.id), _shown(info.status), done, str(info.dead), created, _shown(info.name))


def _node_row(node, status: str) -> tuple[str, ...]:
    parents = ", ".join(_shown(p) for p in node.parents[:SHOWN_PARENTS]) or "-"
    if len(node.parents) > SHOWN_PARENTS:
        parents += f" (+{len(node.parents) - SHOWN_PARENTS} more)"
    return (_shown(node.key), _shown(node.queue), _shown(status), _shown(node.task_id), parents)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows in left-aligned columns (the last column unpadded)."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]) - 1)]
    return ["  ".join([*map(str.ljust, row[:-1], widths), row[-1]]) for row in rows]


def _counts(counter: Counter) -> str:
    ordered = sorted(counter.items(), key=lambda item: (ORDER.get(item[0], len(ORDER)), item[0]))
    return ", ".join(f"{_shown(s)} {n}" for s, n in ordered) or "no tasks"


def _time(moment) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") if moment else "-"


def _shown(value: str) -> str:
    """Text read from Redis, safe on a terminal: no control characters, no bad bytes."""
    text = as_text(value)
    return text if text.isprintable() else repr(text)[1:-1]
