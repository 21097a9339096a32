"""`manage.py tq ACTION ...`: operator actions from the shell, through taskqueue.services,
so each is validated and audited (source "cli", actor --user or the OS user).

    tq cancel|retry|delete ID [ID ...]    one id: that action; several: the bulk action
    tq run-now ID
    tq pause|resume|purge QUEUE           purge deletes the queue's pending tasks
    tq requeue-dead (--ids ID ... | --queue Q --name N --exception E | --all)
                    [--to-queue Q] [--dry-run]
    tq purge-dead   (--ids ID ... | --queue Q --name N --exception E | --all) [--dry-run]
    tq workflow show ID | list [--status S] [--limit N] | cancel ID   (workflow_cli.py)
    tq limits show QUEUE | clear QUEUE [--task NAME | --tenant NAME|*]   (limits_cli.py)
    tq limits set QUEUE [--task NAME | --tenant NAME|*]     (--tenant '*': each tenant's)
                        [--rate R [--burst N] | --no-rate]
                        [--concurrency N | --no-concurrency]
                        [--max-backlog N | --no-max-backlog]   (not with --task, --tenant)
                        [--tenant-backlog N | --no-tenant-backlog]
    tq tenants QUEUE                          the tenants with the largest backlogs
    tq workers list | quiet ID | stop ID      quiet: claim nothing more, finish what it
                                              runs; stop: as SIGTERM (within a second)
"""

from django.core.management.base import BaseCommand, CommandError

from taskqueue import inspect, services
from taskqueue.inspect import TaskFilter
from taskqueue.management import limits_cli, workflow_cli
from taskqueue.management.cli import add_user_option, cli_actor, engine_errors

TASK_ACTIONS = ("cancel", "retry", "delete")
QUEUE_ACTIONS = ("pause", "resume", "purge")
DEAD_ACTIONS = ("requeue-dead", "purge-dead")
SUBCOMMANDS = {  # each with its own actions: (options, user) -> output
    "workflow": workflow_cli.run,
    "limits": limits_cli.run,
    "tenants": limits_cli.tenants,
}


class Command(BaseCommand):
    help = (
        "Act on tasks and queues (cancel, retry, delete, pause, purge, requeue dead letters); "
        "show, list and cancel workflows; show, set and clear flow-control limits; "
        "show the tenants with the largest backlogs in a queue."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for name in TASK_ACTIONS:
            p = sub.add_parser(name, help=f"{name} tasks by id")
            p.add_argument("ids", nargs="+", metavar="ID")
            add_user_option(p)
        p = sub.add_parser("run-now", help="make a scheduled task due now")
        p.add_argument("ids", nargs=1, metavar="ID")
        add_user_option(p)
        for name in QUEUE_ACTIONS:
            p = sub.add_parser(name, help=f"{name} a queue")
            p.add_argument("queue")
            add_user_option(p)
        for name in DEAD_ACTIONS:
            self._add_dead_action(sub, name)
        workflow_cli.add_workflow_parser(sub)
        limits_cli.add_limits_parser(sub)
        limits_cli.add_tenants_parser(sub)
        p = sub.add_parser("workers", help="list workers; quiet or stop one")
        p.add_argument("command", choices=("list", "quiet", "stop"))
        p.add_argument("worker", nargs="?", metavar="ID", help="the worker's id (from list)")
        add_user_option(p)

    def _add_dead_action(self, sub, name: str) -> None:
        p = sub.add_parser(name, help=f"{name.split('-')[0]} dead letters by ids or a filter")
        p.add_argument("--ids", nargs="+", metavar="ID")
        p.add_argument("--queue")
        p.add_argument("--name", help="task name")
        p.add_argument("--exception", help="exception type, e.g. ValueError")
        p.add_argument("--all", action="store_true", help="every dead letter of every queue")
        if name == "requeue-dead":
            p.add_argument("--to-queue", help="requeue into this queue instead")
        p.add_argument("--dry-run", action="store_true", help="count only, change nothing")
        add_user_option(p)

    def handle(self, *args, action: str, user: str | None = None, **options):
        if action in SUBCOMMANDS:  # their reads need no actor (nor the database)
            with engine_errors():
                self.stdout.write(SUBCOMMANDS[action](options, user))
            return
        if action == "workers" and options["command"] == "list":
            with engine_errors():
                self.stdout.write(_worker_list())
            return
        actor = cli_actor(user)
        with engine_errors():
            if action == "workers":
                message = _command_worker(actor, options["command"], options["worker"])
            elif action in TASK_ACTIONS or action == "run-now":
                message = self._on_tasks(actor, action, options["ids"])
            elif action in QUEUE_ACTIONS:
                message = self._on_queue(actor, action, options["queue"])
            else:
                message = self._on_dead(actor, action, options)
        self.stdout.write(message)

    def _on_tasks(self, actor, action: str, ids: list[str]) -> str:
        if action == "run-now":
            services.run_now(actor, ids[0])
            return f"{ids[0]}: due now."
        if len(ids) > 1:
            result = services.bulk(actor, action, ids)
            skipped = ", ".join(f"{i} ({status})" for i, status in result.skipped.items())
            return f"{action}: {len(result.done)} done" + (
                f"; skipped {skipped}" if skipped else ""
            )
        if action == "cancel":
            outcome = services.cancel(actor, ids[0])
            return f"{ids[0]}: " + ("cancelled." if outcome == "cancelled" else "cancel requested.")
        if action == "retry":
            return f"{ids[0]}: {services.retry(actor, ids[0]).status}."
        services.delete(actor, ids[0])
        return f"{ids[0]}: deleted."

    def _on_queue(self, actor, action: str, queue: str) -> str:
        if action == "purge":
            return f"{queue}: {services.purge_queue(actor, queue)} pending task(s) purged."
        act = services.pause if action == "pause" else services.resume
        was_paused = act(actor, queue)
        unchanged = was_paused == (action == "pause")
        return f"{queue}: {action}d" + (" (it already was)." if unchanged else ".")

    def _on_dead(self, actor, action: str, options: dict) -> str:
        selection = _dead_selection(options)
        dry_run = options["dry_run"]
        if action == "requeue-dead":
            to_queue = options["to_queue"]
            n = services.requeue_dead(actor, to_queue=to_queue, dry_run=dry_run, **selection)
            verb, where = "requeue", f" into {to_queue}" if to_queue else ""
        else:
            n = services.purge_dead(actor, dry_run=dry_run, **selection)
            verb, where = "purge", ""
        if dry_run:
            return f"Would {verb} {n} dead task(s){where} (dry run: nothing changed)."
        return f"{verb.capitalize()}d {n} dead task(s){where}."


def _dead_selection(options: dict) -> dict:
    """ids=... or flt=TaskFilter(...) for services; exactly one way of choosing."""
    filters = {k: options[k] for k in ("queue", "name", "exception") if options[k]}
    ways = sum((bool(options["ids"]), bool(filters), options["all"]))
    if ways != 1:
        raise CommandError("choose the dead letters one way: --ids, a filter, or --all.")
    if options["ids"]:
        return {"ids": options["ids"]}
    return {"flt": TaskFilter(**filters)}


def _worker_list() -> str:
    lines = [
        f"{w.id}  {w.state or 'running'}{' (lost)' if w.lost else ''}  "
        f"{w.host} pid {w.pid}  queues {','.join(w.queues)}  in flight {w.in_flight}"
        for w in inspect.workers()
    ]
    return "\n".join(lines) or "No worker is registered."


def _command_worker(actor, command: str, worker_id: str | None) -> str:
    if not worker_id:
        raise CommandError(f"tq workers {command} needs the worker's ID (tq workers list).")
    services.control_worker(actor, worker_id, command)
    if command == "quiet":
        return f"{worker_id}: quiet requested (it claims nothing more, finishes what it runs)."
    return f"{worker_id}: stop requested (it stops as on SIGTERM, within its grace)."
