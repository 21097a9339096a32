from django.urls import path

from . import actions, catalogue, dead_actions, limit_actions, views, worker_actions, workflows

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("queues/<str:name>/", views.queue, name="queue"),
    path("queues/<str:name>/pause/", actions.queue_pause, name="queue-pause"),
    path("queues/<str:name>/resume/", actions.queue_resume, name="queue-resume"),
    path("queues/<str:name>/purge/", actions.queue_purge, name="queue-purge"),
    path("queues/<str:name>/limits/", limit_actions.set_limit, name="queue-limits"),
    path("tasks/", views.tasks, name="tasks"),
    path("catalogue/", catalogue.catalogue, name="catalogue"),
    path("catalogue/<path:name>/", catalogue.catalogue_task, name="catalogue-task"),
    path("tasks/<str:task_id>/", views.task_detail, name="task"),
    path("tasks/<str:task_id>/cancel/", actions.task_cancel, name="task-cancel"),
    path("tasks/<str:task_id>/retry/", actions.task_retry, name="task-retry"),
    path("tasks/<str:task_id>/run-now/", actions.task_run_now, name="task-run-now"),
    path("tasks/<str:task_id>/delete/", actions.task_delete, name="task-delete"),
    path("bulk/", actions.bulk, name="bulk"),
    path("workflows/", workflows.workflow_list, name="workflows"),
    path("workflows/<str:workflow_id>/", workflows.workflow_detail, name="workflow"),
    path("workflows/<str:workflow_id>/tasks/", workflows.workflow_nodes, name="workflow-nodes"),
    path("workflows/<str:workflow_id>/cancel/", workflows.workflow_cancel, name="workflow-cancel"),
    path(
        "workflows/<str:workflow_id>/requeue/",
        workflows.workflow_requeue,
        name="workflow-requeue",
    ),
    path("scheduled/", views.scheduled, name="scheduled"),
    path("dead/", views.dead, name="dead"),
    path("dead/requeue/", dead_actions.requeue, name="dead-requeue"),
    path("dead/purge/", dead_actions.purge, name="dead-purge"),
    path("periodic/", views.periodic, name="periodic"),
    path("workers/", views.workers, name="workers"),
    path("charts/", views.charts, name="charts"),
    path("workers/quiet/", worker_actions.worker_quiet, name="worker-quiet"),
    path("workers/stop/", worker_actions.worker_stop, name="worker-stop"),
]
