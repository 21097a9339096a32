from django.urls import path, re_path

from .routing import not_found, route
from .views import dlq, docs, health, limits, metrics, queues, tasks, tenants, workers, workflows

app_name = "api"
urlpatterns = [
    path("tasks", route(GET=tasks.list_tasks, POST=tasks.enqueue), name="tasks"),
    path(
        "tasks/<str:task_id>", route(GET=tasks.task_detail, DELETE=tasks.delete_task), name="task"
    ),
    path("tasks/<str:task_id>/cancel", route(POST=tasks.cancel_task), name="task-cancel"),
    path("tasks/<str:task_id>/retry", route(POST=tasks.retry_task), name="task-retry"),
    path(
        "workflows",
        route(GET=workflows.list_workflows, POST=workflows.submit),
        name="workflows",
    ),
    path("workflows/<str:workflow_id>", route(GET=workflows.workflow_detail), name="workflow"),
    path(
        "workflows/<str:workflow_id>/cancel",
        route(POST=workflows.cancel),
        name="workflow-cancel",
    ),
    path("queues", route(GET=queues.list_queues), name="queues"),
    path("queues/<str:name>", route(GET=queues.queue_detail), name="queue"),
    path("queues/<str:name>/pause", route(POST=queues.pause), name="queue-pause"),
    path("queues/<str:name>/resume", route(POST=queues.resume), name="queue-resume"),
    path("queues/<str:name>/purge", route(POST=queues.purge), name="queue-purge"),
    path(
        "queues/<str:name>/limits",
        route(GET=limits.limits, PUT=limits.set_limits, DELETE=limits.clear_limits),
        name="queue-limits",
    ),
    path("queues/<str:name>/tenants", route(GET=tenants.tenants), name="queue-tenants"),
    path("dlq", route(GET=dlq.list_dead), name="dlq"),
    path("dlq/requeue", route(POST=dlq.requeue), name="dlq-requeue"),
    path("dlq/purge", route(POST=dlq.purge), name="dlq-purge"),
    path("workers", route(GET=workers.list_workers), name="workers"),
    path("health", route(GET=health.health), name="health"),
    path("openapi.json", route(GET=docs.openapi), name="openapi"),
    path("metrics", route(GET=metrics.metrics), name="metrics"),
    re_path(r"^(?P<path>.*)$", not_found),
]
