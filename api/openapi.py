"""The OpenAPI 3.1 document served at /api/v1/openapi.json, written by hand.

It must match the views exactly: tests/api/test_openapi.py runs schemathesis against
it (every status code, content type and response body must be the documented one).
Edit it together with the views.
"""

from functools import cache

from taskqueue.inspect import MAX_PAGE
from taskqueue.status import WorkflowStatus

from .enqueue import MAX_IDEMPOTENCY_KEY
from .openapi_helpers import STATUSES, ref
from .openapi_payloads import payload_schemas
from .openapi_schemas import schemas
from .views.limits import MAX_TASK_NAME
from .views.workflows import MAX_OFFSET

JSON = "application/json"

ERRORS = {
    400: "The body is not acceptable JSON (malformed, NaN, too deep, too large a number).",
    401: "No credentials, or a bad token (see WWW-Authenticate).",
    403: "The token lacks the scope, or its user the permission (or a failed CSRF check).",
    404: "No such task, workflow, queue or path.",
    409: "The action is not allowed in the task's (or workflow's) current status.",
    413: "The body is over the size limit (1 MiB by default).",
    415: "The body is not application/json.",
    422: "A field is invalid; `fields` names each one.",
    429: "The queue's or the tenant's backlog quota is reached (code quota_exceeded; "
    "Retry-After); nothing was written.",
    503: "Redis is unreachable, or holds a key of the wrong type that is in the way.",
}
READ = (401, 403, 422, 503)
WRITE_BODY = (400, 401, 403, 413, 415, 422, 503)
ACTION = (401, 403, 404, 409, 415, 422, 503)

# What a caller limited to queues (a token's --queues, a console user's QUEUE_ACCESS
# groups) meets at each kind of endpoint; every authenticated operation names one, in
# its description and as `x-queue-restrictions` (with `x-required-scope`).
ONE = (
    "Queue restrictions apply: for a caller limited to queues, anything in another "
    "queue answers 404, exactly as a missing one."
)
LIST = (
    "Queue restrictions apply: a caller limited to queues sees only those (limited to "
    "several, it names one with `queue`, else 422; another queue lists nothing)."
)
ENQUEUE = (
    "Queue restrictions apply: a caller limited to queues gets 404 for any other queue "
    "(the body's `queue`, else the task's own)."
)
DLQ = (
    "Queue restrictions apply: only dead letters of the caller's queues are counted and "
    "touched (other ids count as missing); `to_queue` outside them is a 404."
)
WORKFLOWS = "Queue restrictions apply: a caller limited to queues gets 404 here."
WORKERS = (
    "Queue restrictions apply: a caller limited to queues sees the workers serving one "
    "of them, with only those queues listed."
)
METRICS = (
    "Queue restrictions apply: a caller limited to queues gets only its queues' series "
    "(and no worker, workflow or global-key series)."
)

# What a token limited to tenants (createapitoken --tenant) meets: named, where it
# applies, in the description and as `x-tenant-restrictions`.
T_ONE = (
    "Tenant restrictions apply: for a token limited to tenants, a task of another "
    "tenant (or of none) answers 404, exactly as a missing one."
)
T_LIST = (
    "Tenant restrictions apply: a token limited to tenants lists only their tasks "
    "(limited to several, it names one with `tenant`, else 422; another tenant lists "
    "nothing)."
)
T_ENQUEUE = (
    "Tenant restrictions apply: a token limited to tenants enqueues for its tenant "
    "(a body without `tenant` gets it; limited to several, the body names one); any "
    "other `tenant` is a 422 on `tenant`."
)
T_DEAD_LIST = T_LIST[:-1] + "; `groups` is then {})."
T_DLQ = (
    "Tenant restrictions apply: only a token's tenants' dead letters are counted and "
    "touched (other ids count as missing)."
)
T_WORKFLOWS = "Tenant restrictions apply: a token limited to tenants gets 404 here."
T_QUEUE_ACTION = (
    "Tenant restrictions apply: a token limited to tenants gets 404 (as for a queue "
    "not in use): the action reaches every tenant's tasks."
)
T_TENANT_BACKLOGS = (
    "Tenant restrictions apply: a token limited to tenants finds only its own tenants "
    "in `top` (the count covers every tenant)."
)
T_AGGREGATE = (
    "Tenant restrictions: none beyond the queues' (these are queue-level aggregates "
    "over every tenant)."
)


def operation(
    summary: str,
    ok: dict,
    errors: tuple,
    *,
    scope: str | None,
    queues: str = ONE,
    tenants: str | None = None,
    **extra,
) -> dict:
    """An operation: the 2xx responses in `ok` ({status: (description, schema)});
    `queues`, what queue restrictions do to it; `tenants`, what tenant ones do."""
    responses = {
        str(status): {"description": description, "content": {JSON: {"schema": schema}}}
        for status, (description, schema) in ok.items()
    }
    for status in errors:
        responses[str(status)] = {
            "description": ERRORS[status],
            "content": {JSON: {"schema": ref("Error")}},
        }
    out = {"summary": summary, "responses": responses}
    if scope is None:
        out["security"] = []
    else:
        out["security"] = [{"bearerAuth": []}, {"sessionAuth": []}]
        said = extra.pop("description", "")
        notes = [said, tenants or "", queues]  # the queue note last, as clients expect
        out["description"] = f"Needs the `{scope}` scope. " + " ".join(n for n in notes if n)
        out["x-required-scope"] = scope
        out["x-queue-restrictions"] = queues
        if tenants is not None:
            out["x-tenant-restrictions"] = tenants
    return out | extra


def query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


def path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
            "description": description}  # fmt: skip


PAGING = [
    query("cursor", {"type": "string"}, "The next_cursor of the previous page."),
    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "Page size (50)."),
]
TASK_FILTERS = [
    query("queue", {"type": "string"}, "Only this queue."),
    query("status", {"type": "string", "enum": STATUSES}, "Only this status."),
    query("name", {"type": "string"}, "Only tasks of this registered name."),
    query("exception", {"type": "string"}, "Only tasks whose last error is this type."),
    query("q", {"type": "string"}, "A task id, or part of a task name."),
    query("tenant", {"type": "string"}, "Only this tenant's tasks."),
]
DEAD_FILTERS = [*TASK_FILTERS[:1], *TASK_FILTERS[2:4], TASK_FILTERS[5]]


def body(schema: dict, example: dict | None = None) -> dict:
    content = {"schema": schema} | ({"example": example} if example else {})
    return {"required": True, "content": {JSON: content}}


def task_paths() -> dict:
    task_id = [path_param("task_id", "The task's id.")]
    idempotency = {
        "name": "Idempotency-Key", "in": "header", "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
        "description": "Repeat a request safely: the same key and body give the same task.",
    }  # fmt: skip
    example = {"task": "demo.tasks.fast", "args": [21], "priority": 8}
    action = {"200": ("Done.", ref("TaskAction"))}
    return {
        "/tasks": {
            "get": operation(
                "List tasks, newest first", {200: ("A page.", ref("TaskPage"))}, READ,
                scope="read", parameters=TASK_FILTERS + PAGING, queues=LIST, tenants=T_LIST,
            ),
            "post": operation(
                "Enqueue a registered task by name",
                {201: ("Created.", ref("Task")),
                 200: ("Already created with this Idempotency-Key and body.", ref("Task"))},
                (*WRITE_BODY, 404, 409, 429), scope="enqueue", parameters=[idempotency],
                requestBody=body({"allOf": [ref("EnqueueRequest"), ref("TaskPayloads")]},
                                 example), queues=ENQUEUE,
                tenants=T_ENQUEUE,
            ),
        },
        "/tasks/{task_id}": {
            "get": operation("A task's full record", {200: ("The task.", ref("Task"))},
                             (401, 403, 404, 503), scope="read", parameters=task_id,
                             tenants=T_ONE),
            "delete": operation(
                "Delete a finished task's record", {200: ("Deleted.", ref("Deleted"))},
                ACTION, scope="operate", parameters=task_id, tenants=T_ONE,
            ),
        },
        "/tasks/{task_id}/cancel": {
            "post": operation(
                "Cancel a pending, scheduled or running task", dict(action.items()), ACTION,
                scope="operate", parameters=task_id, tenants=T_ONE,
                description="A running task is asked to stop (outcome `requested`).",
            )
        },
        "/tasks/{task_id}/retry": {
            "post": operation("Send a dead or cancelled task back to pending",
                              dict(action.items()), ACTION, scope="operate", parameters=task_id,
                              tenants=T_ONE)
        },
    }  # fmt: skip


def workflow_paths() -> dict:
    workflow_id = [path_param("workflow_id", "The workflow's id.")]
    idempotency = {
        "name": "Idempotency-Key", "in": "header", "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
        "description": "Repeat a request safely: the same key and body give the same workflow.",
    }  # fmt: skip
    example = {"name": "etl", "nodes": [
        {"key": "fetch", "task": "demo.tasks.fast", "args": [1]},
        {"key": "double", "task": "demo.tasks.fast", "pass_results": True,
         "depends_on": ["fetch"]},
    ]}  # fmt: skip
    filters = [
        query("status", {"type": "string", "enum": [s.value for s in WorkflowStatus]},
              "Only this status (among the newest 1,000 workflows)."),
        query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "Page size (50)."),
        query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
              "How many to skip: the next_offset of the previous page."),
    ]  # fmt: skip
    return {
        "/workflows": {
            "get": operation("List workflows, newest first",
                             {200: ("A page.", ref("WorkflowPage"))}, (*READ, 404),
                             scope="read", parameters=filters, queues=WORKFLOWS,
                             tenants=T_WORKFLOWS),
            "post": operation(
                "Submit a workflow: registered tasks and what each waits for",
                {201: ("Created, with every node.", ref("Workflow")),
                 200: ("Already created with this Idempotency-Key and body.", ref("Workflow"))},
                (*WRITE_BODY, 404, 409), scope="enqueue", parameters=[idempotency],
                requestBody=body(ref("WorkflowRequest"), example), queues=WORKFLOWS,
                tenants=T_WORKFLOWS,
                description="Every task is created, or none is (a 4xx writes nothing).",
            ),
        },
        "/workflows/{workflow_id}": {
            "get": operation("A workflow with each node's live status",
                             {200: ("The workflow.", ref("Workflow"))}, (401, 403, 404, 503),
                             scope="read", parameters=workflow_id, queues=WORKFLOWS,
                             tenants=T_WORKFLOWS)
        },
        "/workflows/{workflow_id}/cancel": {
            "post": operation(
                "Cancel a workflow's unfinished tasks", {200: ("Done.", ref("WorkflowCancel"))},
                ACTION, scope="operate", parameters=workflow_id, queues=WORKFLOWS,
                tenants=T_WORKFLOWS,
                description="A running task is asked to stop; a completed workflow is a 409.",
            )
        },
    }  # fmt: skip


def queue_paths() -> dict:
    name = [path_param("name", "The queue's name.")]
    action = {200: ("Done.", ref("QueueState"))}
    return {
        "/queues": {
            "get": operation("Every queue's summary", {200: ("The queues.", ref("QueueList"))},
                             (401, 403, 503), scope="read", queues=LIST, tenants=T_AGGREGATE)
        },
        "/queues/{name}": {
            "get": operation("One queue's summary, with counts per minute",
                             {200: ("The queue.", ref("Queue"))}, (401, 403, 404, 422, 503),
                             scope="read", parameters=name, tenants=T_AGGREGATE)
        },
        "/queues/{name}/pause": {
            "post": operation("Stop workers claiming from the queue", action, ACTION,
                              scope="operate", parameters=name, tenants=T_QUEUE_ACTION)
        },
        "/queues/{name}/resume": {
            "post": operation("Let workers claim from the queue again", action, ACTION,
                              scope="operate", parameters=name, tenants=T_QUEUE_ACTION)
        },
        "/queues/{name}/purge": {
            "post": operation("Delete the queue's pending tasks",
                              {200: ("How many were deleted.", ref("Purged"))}, ACTION,
                              scope="operate", parameters=name, tenants=T_QUEUE_ACTION)
        },
        "/queues/{name}/limits": limit_operations(name),
        "/queues/{name}/tenants": {
            "get": operation("The tenants with the largest backlogs in the queue",
                             {200: ("The tenants.", ref("TenantBacklogs"))},
                             (401, 403, 404, 422, 503), scope="read", parameters=name,
                             tenants=T_TENANT_BACKLOGS,
                             description=("How many tenants have unfinished tasks, the 20 "
                                          "largest backlogs and the tenant quota.")),
        },
    }  # fmt: skip


def limit_operations(name: list) -> dict:
    changed = {
        200: (
            "The scope's limits now, and how many held tasks went back in line.",
            ref("LimitChange"),
        )
    }
    task = query(
        "task",
        {"type": "string", "minLength": 1, "maxLength": MAX_TASK_NAME},
        "A task name's limits; absent: the queue's own.",
    )
    tenant = query(
        "tenant",
        {"type": "string", "minLength": 1, "maxLength": 100},
        'A tenant\'s limits ("*": the limit each tenant has); not with a task.',
    )
    example = {"task": "emails.send", "rate": "100/m", "burst": 10, "concurrency": None}
    return {
        "get": operation("The queue's flow-control limits and what they hold back",
                         {200: ("The limits.", ref("QueueLimits"))}, (401, 403, 404, 422, 503),
                         scope="read", parameters=name),
        "put": operation(
            "Set an operator's limits for the queue or one task name in it", changed,
            (*WRITE_BODY, 404), scope="operate", parameters=name,
            requestBody=body(ref("LimitRequest"), example),
            description=("Each kind explicitly: a key absent goes back to the declared "
                         "value, null is no limit, a value sets it. The queue's quotas "
                         "(max_backlog, tenant_backlog; not with a task) are set when the "
                         "body names one (the other absent: declared) and left as they are "
                         "when it names none; a body of quotas only leaves the rate and "
                         "concurrency as they are. Audited (set_limit)."),
        ),
        "delete": operation(
            "Put both kinds of limit back to the declared ones", changed,
            (401, 403, 404, 415, 422, 503), scope="operate", parameters=[*name, task, tenant],
            description="Without a task, the queue's quotas too. Audited (set_limit).",
        ),
    }  # fmt: skip


def other_paths() -> dict:
    count = {200: ("How many tasks were (or, with dry_run, would be) affected.", ref("Count"))}
    return {
        "/dlq": {
            "get": operation("Dead letters, newest first, with counts per exception",
                             {200: ("A page.", ref("DeadPage"))}, READ, scope="read",
                             parameters=DEAD_FILTERS + PAGING, queues=LIST,
                             tenants=T_DEAD_LIST)
        },
        "/dlq/requeue": {
            "post": operation("Requeue dead letters by ids or by filter", count,
                              (*WRITE_BODY, 404), scope="operate",
                              requestBody=body(ref("DeadRequeue")), queues=DLQ, tenants=T_DLQ)
        },
        "/dlq/purge": {
            "post": operation("Delete dead letters by ids or by filter", count, WRITE_BODY,
                              scope="operate", requestBody=body(ref("DeadPurge")), queues=DLQ,
                              tenants=T_DLQ)
        },
        "/workers": {
            "get": operation("The worker registry", {200: ("The workers.", ref("WorkerList"))},
                             (401, 403, 503), scope="read", queues=WORKERS,
                             tenants=T_AGGREGATE)
        },
        "/health": {
            "get": operation("Redis answers and a worker is alive?",
                             {200: ("Healthy.", ref("Health")),
                              503: ("Unhealthy; `reasons` says why.", ref("Health"))},
                             (), scope=None)
        },
        "/openapi.json": {
            "get": operation("This document", {200: ("OpenAPI 3.1.", {"type": "object"})},
                             (), scope=None)
        },
        "/metrics": {"get": metrics_operation()},
    }  # fmt: skip


def metrics_operation() -> dict:
    note = "No token needed from TASKQUEUE_API['METRICS_PUBLIC_NETWORKS']."
    out = operation("Prometheus metrics", {}, (401, 403, 503), scope="read", description=note,
                    queues=METRICS, tenants=T_AGGREGATE)  # fmt: skip
    text = {"schema": {"type": "string"}}
    out["responses"]["200"] = {
        "description": "The Prometheus text format.",
        "content": {"text/plain": text},
    }
    return out


@cache
def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "taskqueue API",
            "version": "1",
            "description": "Enqueue, inspect and operate tasks and workflows. See docs/api.md.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": task_paths() | workflow_paths() | queue_paths() | other_paths(),
        "components": {
            "schemas": schemas() | payload_schemas(),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "An API token: tq_<prefix>_<secret>."},
                "sessionAuth": {"type": "apiKey", "in": "cookie", "name": "sessionid",
                                "description": "A console login (CSRF token on writes)."},
            },
        },
    }  # fmt: skip
