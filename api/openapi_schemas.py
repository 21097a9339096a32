"""The component schemas of the OpenAPI document (see openapi.py)."""

from taskqueue.limits import MAX_BACKLOG, MAX_BURST, MAX_CONCURRENCY
from taskqueue.options import MAX_DELAY_SECONDS, MAX_RETRIES_LIMIT
from taskqueue.priority import MAX_PRIORITY, MIN_PRIORITY
from taskqueue.workflows.graph import MAX_KEY
from taskqueue.workflows.submit import MAX_NAME as MAX_WORKFLOW_NAME

from .enqueue import MAX_DEPENDS_ON, MAX_NAME, MAX_TASK_ID, OPTION_FIELDS
from .openapi_helpers import ANY, NULLABLE_TIME, STATUSES, nullable, obj, ref
from .serializers import COUNTED
from .views.limits import MAX_RATE_TEXT, MAX_TASK_NAME

INT = {"type": "integer"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
STRINGS = {"type": "array", "items": STR}
DAMAGED_RECORDS = {**STRINGS, "description": "Keys of records skipped: not hashes."}


def error() -> dict:
    detail = obj({"code": STR, "message": STR,
                  "fields": {"type": "object", "additionalProperties": STR}})  # fmt: skip
    return obj({"error": detail})


def task() -> dict:
    attempt = obj({
        "number": INT, "worker": STR, "started_at": NULLABLE_TIME, "finished_at": NULLABLE_TIME,
        "outcome": nullable("string"), "error": nullable("object"),
    })  # fmt: skip
    return obj({
        "id": STR, "name": STR, "queue": STR, "status": {"type": "string", "enum": STATUSES},
        "priority": nullable("integer"), "args": ANY, "kwargs": ANY,
        "attempts": INT, "failures": INT, "lost": INT,
        "max_retries": nullable("integer"), "timeout": nullable("number"),
        "created_at": NULLABLE_TIME, "run_at": NULLABLE_TIME, "started_at": NULLABLE_TIME,
        "finished_at": NULLABLE_TIME, "heartbeat_at": NULLABLE_TIME, "lease_until": NULLABLE_TIME,
        "worker": STR, "result": ANY, "error_type": STR, "error_message": STR, "traceback": STR,
        "dead_reason": STR, "idempotency_key": STR, "cancel_requested": {"type": "boolean"},
        "progress": ANY, "meta": ANY, "tenant": STR,
        "history": {"type": "array", "items": attempt},
        "unreadable": {"type": "object", "additionalProperties": STR, "description": (
            "Fields not shown as stored, and why (not valid JSON, nested over 100 deep, "
            "too large, text cut). An unreadable JSON field is null.")},
        "workflow_id": {"type": "string", "description": (
            "Only in the answer of POST /tasks with depends_on: the workflow made of the "
            "task and the tasks it waits for.")},
    }, optional=("workflow_id",))  # fmt: skip


def options() -> dict:
    """The enqueue options, as POST /tasks and each node of POST /workflows take them."""
    return {
        "queue": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,62}$",
                  "description": "Defaults to the task's queue."},
        "priority": {"type": "integer", "minimum": MIN_PRIORITY, "maximum": MAX_PRIORITY,
                     "description": "10 runs first; defaults to the task's."},
        "delay_seconds": {"type": "number", "minimum": 0, "maximum": MAX_DELAY_SECONDS},
        "eta": {"type": "string", "format": "date-time",
                "description": "ISO 8601 with a UTC offset; not with delay_seconds."},
        "max_retries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES_LIMIT},
        "tenant": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$",
                   "description": "Whose task: fair share within its queue "
                   "(docs/flow-control.md#tenants)."},
    }  # fmt: skip


def call() -> dict:
    """A task and its arguments (POST /tasks, a node of POST /workflows)."""
    return {
        "task": {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
                 "description": "A registered task name, e.g. demo.tasks.fast."},
        "args": {"type": "array", "description": "Positional arguments (JSON)."},
        "kwargs": {"type": "object", "description": "Keyword arguments (JSON)."},
    }  # fmt: skip


def enqueue_request() -> dict:
    depends_on = {
        "type": "array", "maxItems": MAX_DEPENDS_ON,
        "items": {"type": "string", "minLength": 1, "maxLength": MAX_TASK_ID},
        "description": "Ids of existing tasks to wait for: the task is created `waiting`, "
                       "with a workflow (its id is the answer's workflow_id). Not with an "
                       "Idempotency-Key.",
    }  # fmt: skip
    return obj(
        call() | options() | {"depends_on": depends_on},
        optional=("args", "kwargs", *OPTION_FIELDS, "depends_on"),
        extra=False,
    )


CONFIRMATION = {
    "type": "string",
    "pattern": "^[0-9a-f]{32}$",
    "description": "The token a dry run answered: act on exactly what it counted.",
}


def dead_selection(*, requeue: bool) -> dict:
    flt = obj({"queue": STR, "name": STR, "exception": STR},
              optional=("queue", "name", "exception"), extra=False)  # fmt: skip
    properties = {
        "ids": {"type": "array", "items": STR, "maxItems": 1000},
        "filter": flt,
        "dry_run": {
            "type": "boolean",
            "description": "Count only (and note what was counted); change nothing.",
        },
        "confirmation": CONFIRMATION,
    }
    if requeue:
        properties["to_queue"] = {"type": "string", "description": "Requeue into this queue."}
    optional = tuple(properties)
    return {
        **obj(properties, optional=optional, extra=False),
        "oneOf": [{"required": ["ids"]}, {"required": ["filter"]}, {"required": ["confirmation"]}],
    }


def queue() -> dict:
    counts = obj(dict.fromkeys(COUNTED, INT))
    throughput = obj(dict.fromkeys(
        ("completed_last_minute", "failed_last_minute", "completed_last_hour", "failed_last_hour"),
        INT,
    ))  # fmt: skip
    per_minute = {"type": "array", "items": {"type": "object", "additionalProperties": INT}}
    damaged = {"type": "array", "items": obj({"key": STR, "type": STR, "expected": STR}),
               "description": "Keys of the queue of the wrong type (read as empty)."}  # fmt: skip
    return obj(
        {
            "name": STR, "paused": {"type": "boolean"}, "counts": counts,
            "stats": {"type": "object", "additionalProperties": INT},
            "throughput": throughput, "oldest_pending_age_s": nullable("number"),
            "per_minute": per_minute, "damaged": damaged,
            "limits": obj({"limited": BOOL, "held": INT, "throttled": BOOL}) | {"description": (
                "Flow control: any limit in force, the tasks held back, whether one of "
                "the limits lets nothing start now (GET /queues/{name}/limits has them)."
            )},
        },
        optional=("per_minute",),
    )  # fmt: skip


RATE = {"type": ["string", "null"], "description": 'e.g. "100/s", "3/m", "10/30s"; null: none.'}
BURST = {"type": ["integer", "null"], "description": "Tasks at once after a quiet spell."}
CONCURRENCY = {"type": ["integer", "null"], "description": "Tasks running at once; null: none."}
QUOTA = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_BACKLOG}


def limit_scope() -> dict:
    kinds = {"rate": RATE, "burst": BURST, "concurrency": CONCURRENCY}
    override = obj(kinds, optional=tuple(kinds), extra=False) | {
        "type": ["object", "null"],
        "description": (
            "The operator's limits: null when none is set; else a kind present is the "
            "operator's (null: no limit) and a kind absent follows the declared one."
        ),
    }
    return obj(
        kinds | {
            "declared": obj(kinds) | {"description": "What the code and settings declare."},
            "override": override, "held": INT, "running": INT, "throttled": BOOL,
        }
    )  # fmt: skip


def limit_schemas() -> dict:
    scopes = {"type": "object", "additionalProperties": ref("LimitScope")}
    own = {"oneOf": [ref("LimitScope"), {"type": "null"}]}
    task = {"type": "string", "minLength": 1, "maxLength": MAX_TASK_NAME}
    request = {
        "task": task | {"description": "A task name's limits; absent: the queue's own."},
        "tenant": {"type": "string", "minLength": 1, "maxLength": 100, "description": (
            'A tenant\'s own limits ("*": the limit each tenant has); not with a task.')},
        "rate": {"type": ["string", "null"], "maxLength": MAX_RATE_TEXT,
                 "description": 'e.g. "100/s"; null: no rate limit; absent: the declared one.'},
        "burst": {"type": "integer", "minimum": 1, "maximum": MAX_BURST,
                  "description": "Only with a rate; default 1."},
        "concurrency": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_CONCURRENCY,
                        "description": "null: no concurrency limit; absent: the declared one."},
        "max_backlog": QUOTA | {"description": (
            "The queue's quota of unfinished tasks; null: none. Not with a task. Sent with "
            "or without tenant_backlog, the quotas absent go back to the declared ones; a "
            "body without either leaves the quotas as they are.")},
        "tenant_backlog": QUOTA | {"description": (
            "Each tenant's quota of unfinished tasks in the queue; null: none. As max_backlog.")},
    }  # fmt: skip
    quotas = obj({"max_backlog": QUOTA, "tenant_backlog": QUOTA}) | {
        "description": "The queue's quotas in force (the operator's, else declared); null: none."
    }
    top = {"type": "array", "items": obj({"tenant": STR, "backlog": INT})}
    return {
        "LimitScope": limit_scope(),
        "QueueLimits": obj({"queue": STR,
                            "limits": obj({"queue": own, "tasks": scopes, "tenants": scopes}),
                            "held": INT, "quotas": ref("Quotas")}),
        "Quotas": quotas,
        "LimitRequest": obj(request, optional=tuple(request), extra=False),
        "LimitChange": obj({"queue": STR, "task": nullable("string"), "limits": ref("LimitScope"),
                            "released": INT, "quotas": ref("Quotas"),
                            "tenant": nullable("string")}, optional=("quotas", "tenant")),
        "TenantBacklogs": obj({
            "queue": STR,
            "tenants": INT | {"description": "How many tenants have unfinished tasks."},
            "top": top | {"description": "The 20 largest backlogs, largest first."},
            "tenant_backlog": QUOTA | {"description": "The tenant quota in force; null: none."},
        }),
    }  # fmt: skip


def worker() -> dict:
    return obj({
        "id": STR, "name": STR, "host": STR, "pid": INT, "queues": STRINGS,
        "concurrency": INT, "processes": INT, "started_at": NULLABLE_TIME,
        "heartbeat_at": NULLABLE_TIME, "in_flight": INT, "processed": INT, "failed": INT,
        "state": STR, "lost": {"type": "boolean"},
    })  # fmt: skip


def workflow_request() -> dict:
    key = {"type": "string", "minLength": 1, "maxLength": MAX_KEY}
    keys = {"type": "array", "items": key}
    node = obj(
        call() | {
            "key": key | {"description": "Unique in the workflow; printable characters."},
            "options": obj(options(), optional=OPTION_FIELDS, extra=False),
            "pass_results": {"type": "boolean", "description": (
                "Receive the parents' results before args: one parent's result, or the "
                "list of them (in depends_on, then edges order) with several. Default "
                "false.")},
            "depends_on": keys | {"description": "Keys of the nodes it waits for."},
        },
        optional=("args", "kwargs", "options", "pass_results", "depends_on"),
        extra=False,
    )  # fmt: skip
    return obj(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": MAX_WORKFLOW_NAME,
                     "description": "Shown in the console; default `workflow`."},
            "on_failure": {"type": "string", "enum": ["wait", "cancel"], "description": (
                "When a task is dead: `wait` (its dependants wait; requeue it) or "
                "`cancel` (every unfinished task is cancelled). Default `wait`.")},
            "nodes": {"type": "array", "minItems": 1, "items": node, "description": (
                "At most TASKQUEUE['WORKFLOW_MAX_NODES'] (10,000).")},
            "edges": {"type": "array", "items": {**keys, "minItems": 2, "maxItems": 2},
                      "description": "[parent, child] pairs of node keys."},
        },
        optional=("name", "on_failure", "edges"),
        extra=False,
    )  # fmt: skip


def workflow_summary() -> dict:
    counts = obj(dict.fromkeys(("total", "completed", "dead", "cancelled"), INT))
    return {
        "id": STR, "name": STR,
        "status": {"type": "string", "description": "running, blocked, completed or cancelled."},
        "on_failure": STR, "created_at": NULLABLE_TIME, "finished_at": NULLABLE_TIME,
        "counts": counts, "links": obj({"self": STR, "cancel": STR}),
    }  # fmt: skip


def workflow_node() -> dict:
    return obj({
        "key": STR, "task_id": STR, "queue": STR,
        "status": {"type": "string", "description": (
            "The task's live status (waiting, pending, ..., `missing` once its record is "
            "gone).")},
        "state": {"type": "string", "description": (
            "The workflow's view: waiting, released, completed, dead, cancelled.")},
        "parents": STRINGS, "children": STRINGS, "links": obj({"task": STR}),
    })  # fmt: skip


def workflow_schemas() -> dict:
    nodes = {"type": "array", "items": ref("WorkflowNode")}
    return {
        "WorkflowRequest": workflow_request(),
        "WorkflowSummary": obj(workflow_summary()),
        "Workflow": obj(workflow_summary() | {"nodes": nodes}),
        "WorkflowNode": workflow_node(),
        "WorkflowPage": obj({"items": {"type": "array", "items": ref("WorkflowSummary")},
                             "next_offset": nullable("integer")}),
        "WorkflowCancel": obj({"outcome": {"type": "string", "enum": ["cancelled"]},
                               "status_before": STR, "cancelled": INT,
                               "workflow": ref("Workflow")}),
    }  # fmt: skip


def schemas() -> dict:
    worker_counts = obj({"live": INT, "lost": INT})
    page = {"items": {"type": "array", "items": ref("Task")}, "next_cursor": nullable("string"),
            "damaged": DAMAGED_RECORDS}  # fmt: skip
    groups = {"type": "object", "additionalProperties": INT,
              "description": "Dead letters per exception type."}  # fmt: skip
    counts = {"type": "object", "additionalProperties": INT,
              "description": "Confirmed tasks not acted on, by their status now."}  # fmt: skip
    return {
        "Error": error(),
        "Task": task(),
        "TaskPage": obj(page),
        "DeadPage": obj(page | {"groups": groups}),
        "EnqueueRequest": enqueue_request(),
        "TaskAction": obj({"outcome": {"type": "string", "enum": ["cancelled", "requested",
                                                                   "pending"]},
                           "task": ref("Task")}),
        "Deleted": obj({"id": STR, "deleted": {"type": "boolean"}}),
        "Queue": queue(),
        "QueueList": obj({"items": {"type": "array", "items": ref("Queue")}}),
        "QueueState": obj({"queue": STR, "paused": {"type": "boolean"},
                           "was_paused": {"type": "boolean"}}),
        "Purged": obj({"queue": STR, "purged": INT, "confirmed": INT, "not_pending": counts},
                      optional=("confirmed", "not_pending")),
        "PurgeCount": obj({"queue": STR, "count": INT, "pending": INT,
                           "confirmation": nullable("string"), "expires_in_s": INT,
                           "dry_run": {"type": "boolean", "const": True}}),
        "PurgeRequest": obj({"dry_run": {"type": "boolean", "description": "Count and note."},
                             "confirmation": CONFIRMATION},
                            optional=("dry_run", "confirmation"), extra=False),
        "DeadRequeue": dead_selection(requeue=True),
        "DeadPurge": dead_selection(requeue=False),
        "Count": obj({"count": INT, "dry_run": {"type": "boolean"},
                      "confirmation": nullable("string"), "expires_in_s": INT,
                      "confirmed": INT, "not_dead": counts},
                     optional=("confirmation", "expires_in_s", "confirmed", "not_dead")),
        "Worker": worker(),
        "WorkerList": obj({"items": {"type": "array", "items": ref("Worker")},
                           "counts": worker_counts}),
        "Health": obj({"status": {"type": "string", "enum": ["ok", "unavailable"]},
                       "reasons": STRINGS, "workers": worker_counts,
                       "unserved_queues": STRINGS}),
    } | workflow_schemas() | limit_schemas()  # fmt: skip
